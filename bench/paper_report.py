"""The report's section on the paper's own network: Table 9 as printed, the paper's recipe as run here
(bench/results/paper*.json), the ablation ladder (bench/results/ablation.json) and the deviations of every
architecture from the paper. It rewrites only the text between its two markers in docs/report/report.md (appending
them the first time), so the registry's part of the report stays as `temporal-order report` wrote it.

    .venv/bin/python bench/paper_report.py            # after paper_bench.py / ablation_bench.py
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT.joinpath("bench", "results")  # read only: this script writes the report, not results
REPORT = ROOT / "docs" / "report" / "report.md"
BEGIN = "<!-- paper section: written by bench/paper_report.py -->"
END = "<!-- end of the paper section -->"

# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond 30 the normal's 1.96 is within 2%).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}  # fmt: skip


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def mean_interval(values: list[float]) -> tuple[float, float, float, float] | None:
    """Mean, sample standard deviation and the 95% confidence interval of the mean (Student's t)."""
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = T_975.get(len(values) - 1, 1.96) * sd / math.sqrt(len(values))
    return mean, sd, mean - half, mean + half


def median_interval(values: list[float]) -> tuple[float, float, float, float] | None:
    """The median and a distribution-free interval for it from order statistics (ranks j and n-j+1, the widest
    pair whose coverage is at least 95%), with that coverage."""
    n = len(values)
    ordered = sorted(values)
    best = None
    for j in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * sum(math.comb(n, i) for i in range(j)) / 2.0**n
        if coverage >= 0.95:
            best = (j, coverage)
    if best is None:
        return None
    j, coverage = best
    return statistics.median(values), ordered[j - 1], ordered[n - j], coverage


def machine_line(machine: dict[str, Any]) -> str:
    flags = ", ".join(machine.get("cpu_flags", []))
    return f"{machine.get('cpu_model', '?')}, {machine.get('cpus', '?')} CPUs, flags {flags}"


def paper_as_printed() -> list[str]:
    return [
        "### The paper as printed (Table 9)",
        "",
        "| task | trials | mean sequences to criterion | wrong of 2,560 test sequences |",
        "| --- | --- | --- | --- |",
        "| 6a (2 blocks of 2 cells, 156 weights, lr 0.5) | 20 | 31,390 | 1 (mean) |",
        "| 6b (3 blocks of 2 cells, 308 weights, lr 0.1) | 10 | 571,100 | 2 (mean) |",
        "",
        "Criterion ST3(0.1) (Table 11): training stops once the average training error is below 0.1 and the 2,000 most "
        'recent sequences were classified correctly; a sequence is correct (ABS(0.3)) when "the final absolute error '
        'of all output units is below 0.3"; "never more than 3 incorrectly classified sequences". The wrong counts '
        "are by that 0.3 rule only. With softmax outputs the 0.3 rule is exactly p(true class) > 0.7; the paper's "
        "outputs are logistic units, one per class.",
        "",
    ]


def task_rows(task: str, data: dict[str, Any], label: str) -> str:
    rows = data["trials"]
    converged = [float(r["sequences_to_criterion"]) for r in rows if r["converged"]]
    wrong = [r["wrong_paper"] for r in rows]
    seeds = sorted(r["seed"] for r in rows)
    mean = mean_interval(converged)
    median = median_interval(converged)
    mean_text = _n(statistics.fmean(converged)) if converged else "—"
    if mean is not None and len(converged) == len(rows):
        mean_text = f"{mean[0]:,.0f} (sd {mean[1]:,.0f}; 95% CI {mean[2]:,.0f}-{mean[3]:,.0f})"
    median_text = _n(statistics.median(converged)) if converged else "—"
    if median is not None and len(converged) == len(rows):
        median_text = f"{median[0]:,.0f} ({100 * median[3]:.1f}% CI {median[1]:,.0f}-{median[2]:,.0f})"
    over = sum(1 for w in wrong if w > 3)
    return (
        f"| {task}, {label} | {len(rows)} of {data['summary']['trials_planned']} (seeds {seeds[0]}-{seeds[-1]}) "
        f"| {len(converged)}/{len(rows)} "
        f"| {mean_text} | {median_text} | mean {statistics.fmean(wrong):.1f}, max {max(wrong)}; "
        f"{over} of {len(rows)} trials over 3 |"
    )


def recipe_run_here(paper: dict[str, Any], extra: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### The paper's recipe run here (`lstm1997`, `bench/results/paper.json`)",
        "",
        f"Budget {paper['settings']['budget']:,} sequences per trial (a trial that misses the criterion within it is "
        "counted, never dropped); tests on 2,560 fresh sequences. Means and medians are over converged trials; "
        "confidence intervals are given where every trial converged (mean: Student's t; median: order statistics).",
        "",
        "| task, gradient | trials | converged | mean sequences to criterion | median | wrong of 2,560 (0.3 rule) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task, data in paper["tasks"].items():
        lines.append(task_rows(task, data, "truncated, development seeds"))
    for label, figures in extra.items():
        for task, data in figures["tasks"].items():
            lines.append(task_rows(task, data, label))
    six_b = paper["tasks"].get("6b")
    if six_b:
        lines += [
            "",
            "Task 6b, trial by trial (the paper: 10 trials, mean 571,100, every trial at most 3 wrong):",
            "",
            "| seed | converged | sequences | wrong of 2,560 (0.3 rule) | wrong (argmax) | seconds | run |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in six_b["trials"]:
            sequences = _n(r["sequences_to_criterion"]) if r["converged"] else f"no, {r['sequences_seen']:,} spent"
            lines.append(
                f"| {r['seed']} | {'yes' if r['converged'] else '**no**'} | {sequences} | {r['wrong_paper']} "
                f"| {r['wrong_argmax']} | {r['seconds']:,.0f} | {r.get('run', 0)} |"
            )
    runs = paper.get("runs") or [paper]
    lines += ["", "Runs behind `paper.json` (timings from a shared, loaded machine):", ""]
    for index, run in enumerate(runs):
        speed = run.get("kernel_sequences_per_second") or {}
        lines.append(
            f"- run {index}: `{run.get('command')}`"
            + (f", {run['started']} to {run.get('finished', '?')}" if run.get("started") else "")
            + f"; {machine_line(run.get('machine') or {})}; compiled on-line step "
            f"{speed.get('truncated', '?')} sequences/s (full gradient {speed.get('full', '?')})"
        )
    for label, figures in extra.items():
        lines.append(f"- {label}: `{figures.get('command')}`; {machine_line(figures.get('machine') or {})}")
    return [*lines, ""]


def ladder(ablation: dict[str, Any]) -> list[str]:
    runs = ablation["runs"]
    reduced = any(run.get("reduced") for run in runs)
    budgets = sorted({run["budget"] for run in runs})
    trials = max(run["trials"] for run in runs)
    lines = [
        "### The ablation ladder on 6b (`bench/results/ablation.json`)" + (" — a **reduced** run" if reduced else ""),
        "",
        "Each ladder rung adds one change to the one before; the attention rows stand beside the last rung. "
        + (
            f"Reduced: {trials} trials a rung (seeds 0-{trials - 1}, the development seeds) and a budget of "
            f"{' / '.join(f'{b:,}' for b in budgets)} sequences per trial instead of 10 trials and 5,000,000, so a "
            "rung whose trials need more than the budget shows as not converged. "
            if reduced
            else ""
        )
        + "Tests on 2,560 fresh sequences per trial; sequences and wrong test sequences are over the trials that met "
        "the criterion. Trials are deterministic given their seed on one machine, so a trial that met the criterion "
        "below the smallest budget gives the same row under any of them.",
        "",
        "| rung | what changed | converged | median sequences to criterion | mean "
        "| wrong of 2,560 (0.3 rule), mean / max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in ablation.get("rung_order", list(ablation["rungs"])):
        entry = ablation["rungs"].get(name)
        if entry is None:
            continue
        summary = entry.get("summary")
        source = " (trials from `paper.json`, not rerun)" if entry.get("source") else ""
        if entry.get("not_run"):
            lines.append(f"| `{name}` | {entry['changed']} | not run: {entry['not_run']} | — | — | — |")
        elif summary is None:
            lines.append(f"| `{name}` | {entry['changed']} | no trial finished | — | — | — |")
        else:
            planned = entry.get("planned") or runs[entry["run"]]["trials"]
            finished = "" if summary["trials"] >= planned else f" ({summary['trials']} of {planned} trials finished)"
            wrong = (
                "—"
                if summary["mean_wrong_paper"] is None
                else f"{summary['mean_wrong_paper']:.1f} / {summary['max_wrong_paper']}"
            )
            budget = runs[entry["run"]]["budget"]
            lines.append(
                f"| `{name}` | {entry['changed']}{source} | {summary['converged']}/{summary['trials']}"
                f"{finished} within {budget:,} | {_n(summary['median_sequences_to_criterion'])} "
                f"| {_n(summary['mean_sequences_to_criterion'])} | {wrong} |"
            )
    lines += ["", "Runs behind `ablation.json`:", ""]
    for run in runs:
        lines.append(
            f"- `{run['command']}` ({run['started']} to {run.get('finished', '?')}, {run.get('seconds', '?')} s); "
            f"{machine_line(run['machine'])}"
        )
    return [*lines, ""]


# Architecture by architecture: lstm1997, lstm, rnn, attn_rnn, attn_rnn_seed (6b sizes, the registry's defaults).
DEVIATION_ROWS = (
    ("cells / parameters", "3 blocks × 2 cells / 308 (paper: 308)", "16 cells / 1,800", "128 ReLU units / 18,696",
     "GRU 32 + attention / 4,552", "one-hot attention / 81"),
    ("forget gate", "none (as the paper)", "yes, bias 3", "—", "GRU gates", "—"),
    ("initialisation", "U[−0.1, 0.1], input-gate biases −2, −4, −6 (as the paper)", "PyTorch's, forget bias 3",
     "identity recurrence, N(0, 0.1) inputs", "PyTorch's", "PyTorch's"),
    ("output units and loss", "logistic units, squared error at the end (as the paper)",
     *["softmax, cross-entropy"] * 4),
    ("gradient", "truncated (as the paper); `--gradient full`", "full BPTT", "full BPTT", "full BPTT", "full"),
    ("optimiser and batch", "SGD 0.5 (6a) / 0.1 (6b), one sequence per update: on-line (as the paper)",
     "Adam 1e-2, mini-batches of 16", "Adam 1e-3, 32", "Adam 1e-2, 32", "Adam 3e-2, 32"),
    ("clipping", "none (as the paper)", "norm 1.0", "norm 1.0", "norm 1.0", "norm 1.0"),
    ("annealing", "none (as the paper)", "yes", "yes", "no", "no"),
)  # fmt: skip


def deviations() -> list[str]:
    lines = [
        "### Deviations from the paper, per architecture (6b sizes; defaults of `training/architectures.py`)",
        "",
        "| | `lstm1997` | `lstm` | `rnn` | `attn_rnn` | `attn_rnn_seed` |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in DEVIATION_ROWS]
    return [
        *lines,
        "",
        '"On-line" applies only where the weights change after every sequence (`lstm1997`, or any run at '
        "`--batch-size 1`).",
        "",
    ]


def render(results: Path) -> str:
    paper = json.loads((results / "paper.json").read_text())
    extra = {}
    for label, name in (
        ("full gradient", "paper_full_gradient.json"),
        ("truncated, held-out seeds", "paper_heldout_6a.json"),
    ):
        if (results / name).exists():
            extra[label] = json.loads((results / name).read_text())
    lines = [BEGIN, "", "## The paper's own network, its recipe and what each modern choice buys", ""]
    lines += paper_as_printed()
    lines += recipe_run_here(paper, extra)
    if (results / "ablation.json").exists():
        lines += ladder(json.loads((results / "ablation.json").read_text()))
    lines += [*deviations(), END]
    return "\n".join(lines) + "\n"


def splice(report: str, section: str) -> str:
    """`report` with the text between the markers replaced by `section` (appended when it has no markers)."""
    if BEGIN in report and END in report:
        head, rest = report.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + section + ("\n" + tail if tail else "")
    return report.rstrip("\n") + "\n\n" + section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args()
    args.report.write_text(splice(args.report.read_text(), render(args.results)))
    print(f"wrote the paper section of {args.report}")


if __name__ == "__main__":
    main()
