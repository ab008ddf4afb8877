"""Offline commands: generate sequences, train and test architectures, write the report.

temporal-order generate --n 3 --seed 1 --json
temporal-order train --arch all --trials 10 --workers 2
temporal-order report
temporal-order bootstrap        # migrate; train a default checkpoint where none is active
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli.common import RAY_ADDRESS_HELP, fail, opened_registry, ray_address_or_fail


class ArchChoice(StrEnum):
    rnn = "rnn"
    lstm = "lstm"
    attn_rnn = "attn_rnn"
    attn_rnn_seed = "attn_rnn_seed"
    lstm1997 = "lstm1997"
    gru = "gru"
    all = "all"


class TaskChoice(StrEnum):
    six_a = "6a"
    six_b = "6b"


class OptimizerChoice(StrEnum):
    adam = "adam"
    sgd = "sgd"


class GradientChoice(StrEnum):
    full = "full"
    truncated = "truncated"


def generate(
    n: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many sequences.")] = 5,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generator.")] = 0,
    task: Annotated[TaskChoice, typer.Option(help="Task variant.")] = TaskChoice.six_b,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Generate task sequences with their labels and relevant positions (1-based)."""
    from training.task import decode_batch, get_task, make_generator
    from training.task import generate as generate_batch

    spec = get_task(task.value)
    batch = generate_batch(spec, n, make_generator(seed))
    for text, label, positions in zip(
        decode_batch(batch), batch.labels.tolist(), batch.positions.tolist(), strict=True
    ):
        name = spec.class_names[label]
        if as_json:
            typer.echo(json.dumps({"sequence": text, "label": name, "class_index": label, "positions": positions}))
        else:
            typer.echo(f"{name}  {' '.join(map(str, positions)):>9}  {text}")


def train(
    arch: Annotated[ArchChoice, typer.Option(help="Architecture, or all of them.")] = ArchChoice.all,
    trials: Annotated[int, typer.Option(min=1, max=1000, help="Independent trials (own seed each).")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Trial i uses seed + i.")] = 0,
    task: Annotated[TaskChoice, typer.Option(help="Task variant.")] = TaskChoice.six_b,
    max_sequences: Annotated[
        int | None,
        typer.Option(min=1, help="Budget of training sequences per trial (default per architecture)."),
    ] = None,
    optimizer: Annotated[
        OptimizerChoice | None, typer.Option(help="adam or sgd [default: per architecture; sgd for lstm1997].")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(min=0.0, help="Learning rate [default: per architecture and task].")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Sequences per update (1: on-line).")] = None,
    grad_clip: Annotated[float | None, typer.Option(min=0.0, help="Gradient norm clip; 0 turns clipping off.")] = None,
    momentum: Annotated[float | None, typer.Option(min=0.0, help="SGD momentum.")] = None,
    anneal: Annotated[
        bool | None,
        typer.Option("--anneal/--no-anneal", help="Scale the learning rate down near the criterion."),
    ] = None,
    anneal_floor: Annotated[float | None, typer.Option(min=0.0, help="Smallest annealing factor.")] = None,
    gradient: Annotated[
        GradientChoice | None,
        typer.Option(help="full (backprop through time) or truncated (the 1997 paper's; lstm1997 only)."),
    ] = None,
    criterion_window: Annotated[
        int | None, typer.Option(min=1, help="Stopping criterion: recent sequences all correct [2000].")
    ] = None,
    criterion_error: Annotated[
        float | None, typer.Option(min=0.0, help="Stopping criterion: their mean error below this [0.1].")
    ] = None,
    n_test: Annotated[int, typer.Option(min=1, help="Fresh test sequences per trial.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Trials run in this many processes.")] = 2,
    ray_address: Annotated[str | None, typer.Option(help=RAY_ADDRESS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Results as one JSON document on stdout.")] = False,
    record: Annotated[bool, typer.Option(help="Record every trial in the registry.")] = True,
    activate: Annotated[bool, typer.Option(help="Activate the best trial per architecture.")] = True,
    migrate: Annotated[
        bool,
        typer.Option("--migrate", help="Migrate a configured registry first (the default one under var/ always is)."),
    ] = False,
) -> None:
    """Train and test architectures with the paper's protocol; record every trial in the registry."""
    from training.architectures import ARCHITECTURES
    from training.cli.progress import TrialProgressBars
    from training.protocol import summarize
    from training.recording import train_and_record
    from training.task import get_task

    address = ray_address_or_fail(ray_address)
    spec = get_task(task.value)
    arches = list(ARCHITECTURES) if arch is ArchChoice.all else [arch.value]
    overrides: dict[str, Any] = {
        "max_sequences": max_sequences,
        "optimizer": optimizer.value if optimizer else None,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "grad_clip": grad_clip,
        "momentum": momentum,
        "anneal": anneal,
        "anneal_floor": anneal_floor,
        "gradient": gradient.value if gradient else None,
        "criterion_window": criterion_window,
        "criterion_error": criterion_error,
    }
    with opened_registry(migrate=migrate) if record else nullcontext() as registry:
        try:
            with TrialProgressBars() as bars:
                trained = train_and_record(
                    registry,
                    arches,
                    spec,
                    trials=trials,
                    seed=seed,
                    overrides=overrides,
                    n_test=n_test,
                    workers=workers,
                    ray_address=address,
                    activate=activate,
                    on_progress=bars.update,
                )
        except ValueError as error:
            raise fail(str(error)) from None
    documents = []
    for result in trained:
        document: dict[str, Any] = {
            "arch": result.arch,
            "task": spec.name,
            "trials": [o.to_dict() for o in result.outcomes],
            "summary": summarize(result.outcomes).to_dict(),
        }
        if result.run is not None:
            document["run_id"] = result.run.id
            document["versions"] = result.run.version_numbers
        documents.append(document)
    if as_json:
        typer.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        _print_summaries(documents)


# What `make run` trains before it serves: the architectures that learn 6b in seconds to a minute here. The
# paper's own network (lstm1997) learns on-line, one sequence per update, for 10^5-10^6 sequences (minutes to
# tens of minutes here, and seed 0 never meets the criterion on 6b): a first start should not wait on it.
QUICK_ARCHITECTURES = ("rnn", "lstm", "attn_rnn", "attn_rnn_seed", "gru")


def bootstrap(
    task: Annotated[TaskChoice, typer.Option(help="Task to train the default checkpoints on.")] = TaskChoice.six_b,
    seed: Annotated[int, typer.Option(help="Seed of the single trial per architecture.")] = 0,
    max_sequences: Annotated[
        int | None, typer.Option(help="Training budget per trial (default: each architecture's own).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Trials trained in parallel processes.")] = 1,
    arch: Annotated[
        list[str] | None,
        typer.Option(help="Architectures to train (repeatable; 'all' for every one). Default: all but lstm1997."),
    ] = None,
) -> None:
    """Migrate the registry, then train and record one default checkpoint for every architecture without one."""
    from training.architectures import ARCHITECTURES
    from training.cli.progress import TrialProgressBars
    from training.recording import train_and_record
    from training.task import get_task

    chosen = ARCHITECTURES if arch == ["all"] else tuple(arch or QUICK_ARCHITECTURES)
    unknown = [name for name in chosen if name not in ARCHITECTURES]
    if unknown:
        raise fail(f"unknown architecture {unknown[0]!r}; known: {', '.join(ARCHITECTURES)}", code=2)
    if not arch and (skipped := [name for name in ARCHITECTURES if name not in chosen]):
        typer.echo(f"not trained by default: {', '.join(skipped)} (`bootstrap --arch all`, or `train`)", err=True)
    with opened_registry(migrate=True) as registry:
        missing = [name for name in chosen if registry.active_version(name) is None]
        if not missing:
            typer.echo("every architecture has an active version; nothing to train", err=True)
            return
        typer.echo(f"training a default checkpoint for: {', '.join(missing)}", err=True)
        overrides = {"max_sequences": max_sequences}
        with TrialProgressBars() as bars:
            trained = train_and_record(
                registry,
                missing,
                get_task(task.value),
                trials=1,
                seed=seed,
                overrides=overrides,
                workers=workers,
                on_progress=bars.update,
            )
        for result in trained:
            (outcome,), version = result.outcomes, result.run.version_numbers[0] if result.run else None
            typer.echo(
                f"{result.arch}: version {version} active "
                f"(converged={outcome.converged}, wrong {outcome.wrong_argmax}/{outcome.n_test})",
                err=True,
            )


def _print_summaries(documents: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Temporal order: trials and test results")
    for column in (
        "arch",
        "converged",
        "median seq. to criterion",
        "wrong (argmax)",
        "wrong (paper)",
        "versions",
    ):
        table.add_column(column)
    for document in documents:
        s = document["summary"]
        median = s["median_sequences_to_criterion"]
        table.add_row(
            document["arch"],
            f"{s['converged']}/{s['trials']}",
            "—" if median is None else f"{median:,.0f}",
            f"{s['mean_wrong_argmax']:.2f} ± {s['std_wrong_argmax']:.2f} / {s['n_test']}",
            f"{s['mean_wrong_paper']:.2f} ± {s['std_wrong_paper']:.2f} / {s['n_test']}",
            ", ".join(map(str, document.get("versions", []))) or "not recorded",
        )
    Console().print(table)


def report(
    out: Annotated[Path, typer.Option(help="Folder for report.md and learning_curves.png.")] = Path("var/report"),
) -> None:
    """Answer the notebook's three questions from the registry's active runs; write report.md and a plot."""
    from training.report import write_report
    from training.report_data import results_from_registry
    from training.study.report import write_studies_report

    with opened_registry() as registry:
        results = results_from_registry(registry)
        markdown, plot = write_report(results, out)
        studies = write_studies_report(registry, out)
    sys.stdout.write(markdown.read_text())
    typer.secho(f"wrote {markdown}" + (f" and {plot}" if plot else ""), err=True)
    if studies is not None:
        sys.stdout.write("\n" + studies.read_text())
        typer.secho(f"wrote {studies} and its plots", err=True)


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(train)
    app.command()(report)
    app.command()(bootstrap)
