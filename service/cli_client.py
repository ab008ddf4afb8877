"""The `temporal-order` commands that talk to a running service through the SDK.

    temporal-order classify "EabXcd…B" --arch lstm --explain
    temporal-order jobs --json
    temporal-order metrics --url http://127.0.0.1:8000

Every CLI invocation imports this module, so the SDK and rich are imported inside the commands.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from training.cli.common import fail

if TYPE_CHECKING:
    from pydantic import BaseModel

    from service.client import Client
    from service.schemas import ClassifyResult, MetricsPublic, TrainJobList

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Service URL [default: $TEMPORAL_ORDER_URL or http://127.0.0.1:8000]."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer (for scripts).")]


@contextlib.contextmanager
def _client(url: str | None) -> Iterator[Client]:
    """A client for one command; an SDK error becomes one line on stderr and exit status 1."""
    from service.client import APIConnectionError, APIStatusError, APITimeoutError, Client, TemporalOrderError

    try:
        with Client(url) as client:
            yield client
    except APIStatusError as exc:
        raise fail(f"the server answered {exc}") from None
    except APITimeoutError as exc:
        raise fail(str(exc)) from None
    except APIConnectionError as exc:
        raise fail(f"{exc} (is the service running? start it with `temporal-order serve`)") from None
    except TemporalOrderError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # a malformed --url
        raise fail(str(exc)) from None


def _print_json(model: BaseModel) -> None:
    sys.stdout.write(json.dumps(model.model_dump(mode="json"), indent=2) + "\n")


def _fmt(value: float | int | None, spec: str = "") -> str:
    return "—" if value is None else format(value, spec)


# ---- classify -------------------------------------------------------------------------------------


def classify(
    sequence: Annotated[str, typer.Argument(help="Symbols E a b c d X Y B, e.g. 'EabXcd…B'.")],
    arch: Annotated[
        str | None,
        typer.Option(help="rnn, lstm, attn_rnn, attn_rnn_seed, lstm1997 or gru [default: the server's best]."),
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show which symbols decided the class.")] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Classify one sequence with the running service."""
    with _client(url) as client:
        result = client.classify(sequence, arch=arch, explain=explain)  # type: ignore[arg-type]
    if as_json:
        _print_json(result)
    else:
        _show_classify(sequence, result)


def _show_classify(sequence: str, result: ClassifyResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verdict = "" if result.rule_label is None else ("  (rule: " + result.rule_label + ")")
    console.print(
        f"[bold]{result.label}[/bold] (class {result.class_index})  by {result.arch} v{result.model_version}{verdict}"
    )
    for problem in result.problems:
        console.print(f"[yellow]note:[/yellow] {problem}", highlight=False)
    table = Table("class", "probability", "", box=None, pad_edge=False)
    for name, probability in result.probabilities.items():
        style = "bold green" if name == result.label else ""
        table.add_row(name, f"{probability:.4f}", "█" * round(probability * 30), style=style)
    console.print(table)
    if result.attribution is not None:
        symbols = [s for s in sequence if not s.isspace()]
        ranked = sorted(range(len(result.attribution)), key=lambda i: -abs(result.attribution[i]))  # type: ignore[index]
        top = Table("position", "symbol", f"attribution ({result.attribution_method})", box=None)
        for i in ranked[:6]:
            symbol = symbols[i] if i < len(symbols) else "?"
            top.add_row(str(i + 1), symbol, f"{result.attribution[i]:+.4f}")
        console.print(top)


# ---- jobs -----------------------------------------------------------------------------------------


def jobs(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the service's training jobs with their progress and results."""
    with _client(url) as client:
        listing = client.jobs()
    if as_json:
        _print_json(listing)
    else:
        _show_jobs(listing)


def _show_jobs(listing: TrainJobList) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not listing.jobs:
        console.print("no training jobs")
        return
    table = Table("id", "status", "arch", "task", "trial", "sequences", "converged", "created")
    colours = {"succeeded": "green", "failed": "red", "running": "cyan", "cancelled": "yellow"}
    for job in listing.jobs:
        progress = job.progress
        converged = sum(trial.converged for trial in job.results)
        table.add_row(
            job.id,
            f"[{colours.get(job.status, 'white')}]{job.status}[/]",
            progress.arch or job.params.arch,
            job.params.task,
            f"{progress.trial}/{progress.trials or job.params.trials}",
            f"{progress.sequences:,}/{progress.max_sequences or job.params.max_sequences:,}",
            f"{converged}/{len(job.results)}" if job.results else "—",
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)
    for job in listing.jobs:
        if job.error:
            console.print(f"[red]{job.id}:[/red] {job.error}", highlight=False)


# ---- metrics --------------------------------------------------------------------------------------


def metrics(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Test-set errors of each active model beside the paper's figures."""
    with _client(url) as client:
        figures = client.metrics()
    if as_json:
        _print_json(figures)
    else:
        _show_metrics(figures)


def _show_metrics(figures: MetricsPublic) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "arch", "task", "version", "converged", "median seqs to criterion",
        "wrong (argmax)", "wrong (paper rule)", "test seqs", "accuracy",
        title="active models on fresh test sequences",
    )  # fmt: skip
    papers = {}
    for arch in figures.architectures:
        s = arch.summary
        if s is None:
            table.add_row(
                arch.arch, arch.task or "—", _fmt(arch.active_version), "no trained model", "", "", "", "", ""
            )
            continue
        table.add_row(
            arch.arch,
            arch.task or "—",
            _fmt(arch.active_version),
            f"{s.converged}/{s.trials}",
            _fmt(s.median_sequences_to_criterion, ",.0f"),
            f"{s.mean_wrong_argmax:.1f} ± {s.std_wrong_argmax:.1f}",
            f"{s.mean_wrong_paper:.1f} ± {s.std_wrong_paper:.1f}",
            f"{s.n_test:,}",
            f"{s.mean_test_accuracy:.2%}",
        )
        if arch.paper is not None:
            papers[arch.paper.task] = arch.paper
    for paper in papers.values():
        table.add_row(
            "paper: LSTM", paper.task, "", "", f"{paper.sequences_to_criterion:,}", "",
            f"{paper.wrong_predictions:g}", f"{paper.n_test:,}", "",
            style="dim",
        )  # fmt: skip
    console = Console()
    console.print(table)
    for paper in papers.values():
        console.print(f"[dim]paper {paper.task}: {paper.note}[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("classify")(classify)
    app.command("jobs")(jobs)
    app.command("metrics")(metrics)
