"""The lag study in the report: a table per study (architecture x T) and a plot of sequences to criterion
against the minimal time lag, log axes, one line per architecture, each point marked with its success fraction.

    temporal-order report --out docs/report
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.architectures import REGISTRY
from training.registry import Registry
from training.registry.studies import StudyInfo
from training.study.overview import StudyOverview, overviews, study_points
from training.study.stats import PointSummary


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _interval(interval: tuple[float, float] | None) -> str:
    return "—" if interval is None else f"{interval[0]:,.0f} – {interval[1]:,.0f}"


def study_table(points: Sequence[PointSummary]) -> str:
    rows = [
        "| architecture | T | minimal lag | trials | met criterion | median sequences to criterion "
        "| mean | 95% CI of the mean | training wall time per trial | wrong of test (paper's rule), mean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in points:
        rows.append(
            f"| `{p.arch}` | {p.length} | {p.minimal_lag} | {p.trials} | {p.converged}/{p.trials} "
            f"({100 * p.success_fraction:.0f}%) | {_count(p.median_sequences)} | {_count(p.mean_sequences)} "
            f"| {_interval(p.ci95_sequences)} | {p.mean_wall_seconds:,.1f} s | {p.mean_wrong_paper:.1f} of {p.n_test} |"
        )
    return "\n".join(rows)


def progress_line(planned: int, recorded: int) -> str:
    """How much of its grid a study has recorded; an unfinished one says that its missing points were not run."""
    line = f"Recorded: {recorded} of {planned} planned trials."
    if recorded < planned:
        line += " Unfinished: points not in the table were not run; rerunning the study's command resumes it."
    return line


def study_markdown(study: StudyInfo, points: Sequence[PointSummary], plot_name: str | None, progress: str) -> str:
    grid = study.grid
    budget = grid.get("budget")
    lines = [
        f"## Lag study `{study.name}`",
        "",
        "Task 6b scaled to sequence length T (length T..1.1T; t1, t2, t3 in [0.10T, 0.20T], [0.33T, 0.43T], "
        "[0.66T, 0.76T]; T = 100 is 6b). Minimal lag: steps from the last possible t1 to the shortest sequence's "
        f"trigger. Grid: T in {grid.get('lags')}, {grid.get('trials')} trials per point (seeds from "
        f"{grid.get('seed')}), budget {'per architecture' if budget is None else f'{budget:,} sequences'} per "
        f"trial, {grid.get('n_test')} test sequences. Sequence figures are over the trials that met the "
        "criterion; a trial that spent its budget counts only in the success fraction.",
        "",
        progress,
        "",
        study_table(points),
        "",
    ]
    if plot_name:
        lines += [f"![sequences to criterion against the minimal lag]({plot_name})", ""]
    return "\n".join(lines)


def plot_study(points: Sequence[PointSummary], path: Path, *, title: str) -> Path:
    """Median sequences to criterion against the minimal lag (log-log); a hollow marker where some trials missed
    the criterion, a cross at the top where none met it, and each point labelled with its success fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    arches = sorted({p.arch for p in points})
    reached = [p.median_sequences for p in points if p.median_sequences is not None]
    ceiling = max(reached) * 2 if reached else 1.0
    for arch in arches:
        mine = [p for p in points if p.arch == arch]
        met = [(p.minimal_lag, p.median_sequences) for p in mine if p.median_sequences is not None]
        colour = REGISTRY[arch].colour if arch in REGISTRY else None
        line = axes.plot([x for x, _ in met], [y for _, y in met], "-", color=colour, label=arch)[0]
        colour = str(line.get_color())
        for p in mine:
            if p.median_sequences is None:
                axes.plot([p.minimal_lag], [ceiling], "x", color=colour, markersize=9)
                y = ceiling
            else:
                y = p.median_sequences
                full = p.converged == p.trials
                axes.plot([p.minimal_lag], [y], "o", color=colour, markerfacecolor=colour if full else "white")
            axes.annotate(
                f"{p.converged}/{p.trials}",
                (p.minimal_lag, y),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=colour,
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("minimal time lag (steps)")
    axes.set_ylabel("median training sequences to criterion")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, title="filled: all trials met it; x: none did", title_fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_study_report(
    overview: StudyOverview, points: Sequence[PointSummary], out_dir: Path
) -> tuple[str, Path | None]:
    """The study's markdown section and its plot (lag_study_NAME.png in `out_dir`)."""
    study = overview.study
    plot = None
    if points:
        plot = plot_study(points, out_dir / f"lag_study_{study.name}.png", title=f"Lag study {study.name!r}")
    progress = progress_line(overview.planned, overview.recorded)
    return study_markdown(study, points, plot.name if plot else None, progress), plot


def write_studies_report(registry: Registry, out_dir: Path) -> Path | None:
    """lag_study.md (every study's table) and one plot per study in `out_dir`; None when no study is recorded."""
    sections = []
    for overview in overviews(registry):
        markdown, _ = write_study_report(overview, study_points(registry, overview.study), out_dir)
        sections.append(markdown)
    if not sections:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "lag_study.md"
    path.write_text("# Lag studies\n\n" + "\n".join(sections))
    return path
