"""Study commands: grids of trials recorded together, resumable, on the local pool or a Ray cluster.

temporal-order study lags --lags 100,200,400 --arch lstm --arch rnn --trials 10 --budget 300000
temporal-order study lags --ray-address HEAD:6379
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer

from training.cli.common import RAY_ADDRESS_HELP, fail, opened_registry, ray_address_or_fail

study_app = typer.Typer(help="Studies: grids of trials, recorded together and resumable.", no_args_is_help=True)

# Every architecture that can learn the task (attn_rnn_seed is capped at 50% by construction).
_NOT_LEARNING = ("attn_rnn_seed",)


def learning_arches() -> tuple[str, ...]:
    from training.architectures import ARCHITECTURES

    return tuple(arch for arch in ARCHITECTURES if arch not in _NOT_LEARNING)


@study_app.command("lags")
def lags(
    lags: Annotated[str, typer.Option(help="Sequence lengths T, comma-separated (T=100 is task 6b).")] = (
        "100,200,400,700,1000"
    ),
    arch: Annotated[
        list[str] | None, typer.Option(help="Architecture (repeatable) [default: every learning one].")
    ] = None,
    trials: Annotated[int, typer.Option(min=1, max=1000, help="Trials per architecture and T.")] = 10,
    budget: Annotated[
        int | None, typer.Option(min=1, help="Most training sequences per trial [default: per architecture].")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Trial i of a point uses seed + i.")] = 0,
    n_test: Annotated[int, typer.Option(min=1, help="Fresh test sequences per trial.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Local pool: trials run in this many processes.")] = 2,
    ray_address: Annotated[str | None, typer.Option(help=RAY_ADDRESS_HELP)] = None,
    name: Annotated[str, typer.Option(help="The study's name: rerunning it resumes it.")] = "lags",
    as_json: Annotated[bool, typer.Option("--json", help="The summaries as one JSON document on stdout.")] = False,
    migrate: Annotated[bool, typer.Option("--migrate", help="Migrate a configured registry first.")] = False,
) -> None:
    """Sequences to criterion against the time lag: task 6b scaled to each T, every architecture, N trials."""
    from training.study.grid import StudyGrid, parse_lags
    from training.study.overview import STUDY_NAME_PATTERN

    if not re.match(STUDY_NAME_PATTERN, name):
        raise fail(f"--name {name!r}: use 1-64 letters, digits, '-' or '_'")
    known = learning_arches()
    chosen = tuple(arch) if arch else known
    for item in chosen:
        if item not in known:
            raise fail(f"--arch {item!r} is not a learning architecture; choose from {', '.join(known)}")
    try:
        grid = StudyGrid(parse_lags(lags), chosen, trials, budget=budget, seed=seed, n_test=n_test)
    except ValueError as error:
        raise fail(str(error)) from None
    address = ray_address_or_fail(ray_address)
    with opened_registry(migrate=migrate) as registry:
        summary = _run(registry, grid, name=name, workers=workers, address=address)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_points(summary)


def _run(registry: Any, grid: Any, *, name: str, workers: int, address: str | None) -> dict[str, Any]:
    from dataclasses import asdict

    from training.study.overview import study_points
    from training.study.runner import run_study

    def announce(trial: Any, result: Any, version: int | None) -> None:
        outcome = result.trial
        reached = f"{outcome.sequences_to_criterion:,} sequences" if outcome.converged else "budget spent"
        where = f"version {version}" if version is not None else "already recorded"
        typer.echo(
            f"{trial.spec.arch} T={trial.length} seed {trial.spec.seed}: {reached}, "
            f"{outcome.wall_seconds:.1f} s ({where})",
            err=True,
        )

    run = run_study(registry, grid, name=name, workers=workers, ray_address=address, on_recorded=announce)
    typer.echo(
        f"study {name!r}: {run.planned} trials planned, {run.skipped} already recorded, {run.recorded} recorded now",
        err=True,
    )
    points = study_points(registry, run.study)
    return {"study": name, "grid": run.study.grid, "points": [asdict(p) for p in points]}


def _print_points(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Lag study {summary['study']!r}: sequences to criterion (trials that met it)")
    for column in ("arch", "T", "min lag", "met", "median", "mean", "95% CI", "wall/trial"):
        table.add_column(column)
    for p in summary["points"]:
        interval = p["ci95_sequences"]
        table.add_row(
            p["arch"],
            str(p["length"]),
            str(p["minimal_lag"]),
            f"{p['converged']}/{p['trials']}",
            "—" if p["median_sequences"] is None else f"{p['median_sequences']:,.0f}",
            "—" if p["mean_sequences"] is None else f"{p['mean_sequences']:,.0f}",
            "—" if interval is None else f"{interval[0]:,.0f}–{interval[1]:,.0f}",
            f"{p['mean_wall_seconds']:.1f} s",
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
