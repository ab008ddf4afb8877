"""The markdown report that answers the seed notebook's three questions, and its learning-curve plot.

temporal-order report --out var/report
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.architectures import REGISTRY
from training.evaluate import PAPER_FIGURES
from training.protocol import Summary, TrialOutcome, summarize


@dataclass(frozen=True)
class ArchResults:
    """What the report needs of one architecture: its trials and their learning curves."""

    arch: str
    task: str
    outcomes: Sequence[TrialOutcome]
    # One curve per trial: (sequences seen, training error) points.
    curves: Sequence[Sequence[tuple[int, float]]] = field(default_factory=list)
    settings: str = ""

    @property
    def summary(self) -> Summary:
        return summarize(self.outcomes)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def summary_table(results: Sequence[ArchResults]) -> str:
    rows = [
        "| architecture | trials | converged | median sequences to criterion | mean sequences to criterion "
        "| wrong of test (argmax), mean ± std | wrong of test (paper's 0.3 rule), mean ± std | test accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        s = result.summary
        rows.append(
            f"| `{result.arch}` | {s.trials} | {s.converged}/{s.trials} | {_number(s.median_sequences_to_criterion)} "
            f"| {_number(s.mean_sequences_to_criterion)} "
            f"| {s.mean_wrong_argmax:.2f} ± {s.std_wrong_argmax:.2f} of {s.n_test} "
            f"| {s.mean_wrong_paper:.2f} ± {s.std_wrong_paper:.2f} of {s.n_test} | {100 * s.mean_test_accuracy:.2f}% |"
        )
    tasks = {r.task for r in results}
    for task in sorted(tasks):
        paper = PAPER_FIGURES.get(task)
        if paper is not None:
            rows.append(
                f"| paper, task {task} ({paper.note}) | {paper.trials} | — | — | {paper.sequences_to_criterion:,} "
                f"| — (not reported) | {paper.wrong_predictions:g} of {paper.n_test} (mean) | — |"
            )
    return "\n".join(rows)


def render_markdown(results: Sequence[ArchResults], plot_name: str | None = "learning_curves.png") -> str:
    if not results:
        return (
            "# Temporal order report\n\n"
            "The registry holds no training runs yet: run `temporal-order train --arch all`.\n"
        )
    lines = ["# Temporal order report", ""]
    lines += [
        "Protocol (Hochreiter & Schmidhuber 1997, experiment 6): online training on fresh sequences until the 2000 "
        "most recent training sequences were all classified correctly (every output within 0.3 of its target) "
        "with mean training error below 0.1; then a test on fresh sequences per trial. Each trial has its own seed.",
        "",
        summary_table(results),
        "",
        "## The notebook's three questions",
        "",
        "**1. How many training sequences does each model need to meet the stopping criterion?**",
        "",
    ]
    for result in results:
        s = result.summary
        if s.converged:
            lines.append(
                f"- `{result.arch}`: {s.converged} of {s.trials} trials met it; median "
                f"{_number(s.median_sequences_to_criterion)} sequences, mean {_number(s.mean_sequences_to_criterion)}."
            )
        else:
            lines.append(f"- `{result.arch}`: none of {s.trials} trials met it within the budget.")
    lines += [
        "",
        "**2. Training sequences seen versus training error:** "
        + (f"see `{plot_name}` (one colour per architecture, every trial drawn)." if plot_name else "no plot written."),
        "",
        "**3. Average wrong predictions on the test sequences over the trials:**",
        "",
    ]
    for result in results:
        s = result.summary
        lines.append(
            f"- `{result.arch}`: {s.mean_wrong_argmax:.2f} ± {s.std_wrong_argmax:.2f} wrong of {s.n_test} by argmax, "
            f"{s.mean_wrong_paper:.2f} ± {s.std_wrong_paper:.2f} by the paper's rule."
        )
    if any(r.arch == "attn_rnn_seed" for r in results):
        lines += [
            "",
            "## Why the seed's attention is capped at 50%",
            "",
            "The seed attends over the one-hot inputs: keys and values are the symbols themselves, so the context "
            "Σ w_i V_i is a weighted bag of symbols and carries no order. XXY, XYX and YXX contain the same bag "
            "(two X, one Y), as do XYY, YXY and YYX; only XXX and YYY are unique. The best any classifier of the "
            "bag can do is one class per bag — 4 of the 8 equally likely classes — so its test accuracy cannot "
            "exceed 50% in expectation. (A query computed from the sequence would only re-weight whole symbols, so "
            "the model uses a learned query and its output is exactly a function of the bag.) `attn_rnn` attends "
            "over the encoder's per-step states instead, which do carry order.",
        ]
    settings = [r for r in results if r.settings]
    if settings:
        lines += ["", "## Settings", ""]
        lines += [f"- `{r.arch}`: {r.settings}" for r in settings]
    return "\n".join(lines) + "\n"


def plot_learning_curves(results: Sequence[ArchResults], path: Path) -> Path:
    """Sequences seen (log scale) against training error, every trial visible, one colour per architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=120)
    for result in results:
        registered = REGISTRY.get(result.arch)
        colour = registered.colour if registered else "black"
        for index, curve in enumerate(result.curves):
            if not curve:
                continue
            xs, ys = zip(*curve, strict=True)
            axes.plot(
                xs,
                ys,
                color=colour,
                alpha=0.55,
                linewidth=1.0,
                label=(registered.title if registered else result.arch) if index == 0 else None,
            )
    axes.set_xscale("log")
    axes.set_xlabel("training sequences seen")
    axes.set_ylabel("training error (mean over the last 2000 sequences)")
    axes.axhline(0.1, color="black", linestyle="--", linewidth=0.8, label="criterion: mean error < 0.1")
    axes.set_title("Temporal order problem: learning curves, every trial")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_report(results: Sequence[ArchResults], out_dir: Path) -> tuple[Path, Path | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_learning_curves(results, out_dir / "learning_curves.png") if results else None
    markdown = out_dir / "report.md"
    markdown.write_text(render_markdown(results, plot.name if plot else None))
    return markdown, plot


def describe_settings(model_config: Mapping[str, object], train_config: Mapping[str, object]) -> str:
    model = ", ".join(f"{k}={v}" for k, v in model_config.items() if k not in ("arch", "n_inputs"))
    shown = ("optimizer", "learning_rate", "batch_size", "grad_clip", "anneal", "gradient")
    train = ", ".join(f"{k}={v}" for k, v in train_config.items() if k in shown)
    return f"{model}; {train}"
