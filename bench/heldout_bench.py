"""Headline figures on held-out seeds: each architecture with its default (registry) settings on task 6b, trials on
seeds never used to choose a setting (1000 onwards; seeds 0-9 are the development seeds), tests on 2,560 fresh
sequences (the paper's test set), and per architecture the sample standard deviation and 95% confidence intervals
for the mean (Student's t) and the median (order statistics) of the sequences to criterion. A trial that misses
the criterion within its budget stays in the table. A benchmark, never a test.

    .venv/bin/python bench/heldout_bench.py                                   # lstm gru attn_rnn rnn, 30 trials each
    .venv/bin/python bench/heldout_bench.py --arches rnn --trials 12 --merge  # add an architecture to the JSON
    .venv/bin/python bench/heldout_bench.py --arches lstm1997_table10 --out bench/results/heldout_gh.json
    .venv/bin/python bench/heldout_bench.py --combine /tmp/rnn.json --merge   # another run's architectures into --out
    .venv/bin/python bench/heldout_bench.py --arches gru --resume             # only the planned seeds --out lacks

`lstm1997_table10` is a diagnosis, not an architecture: `lstm1997` with the squashing ranges as Table 10's legend
reads them (g in [-1, 1], h in [-2, 2]; `PaperLSTMConfig(g_range=1.0, h_range=2.0)`), the paper's recipe otherwise.
Each trial trains and tests exactly as `temporal-order train` does (`train_trial`, then `evaluate`), so a row is
reproducible from its seed on the same machine; the JSON carries the machine and the command of every run (a row
with a `run` index came from that run, one without it from its architecture's `run`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from heldout_stats import intervals  # noqa: E402
from machine import NOTE_HELP, describe_machine, finish_run, start_run  # noqa: E402
from trial_rows import trained_and_tested  # noqa: E402

from training.architectures import REGISTRY, default_config  # noqa: E402
from training.models import ModelConfig, PaperLSTMConfig, config_to_dict  # noqa: E402
from training.task import get_task  # noqa: E402
from training.train import default_train_config  # noqa: E402
from training.train_config import TrainConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "heldout.json"
ARCHES = ("lstm", "gru", "attn_rnn", "rnn")
# Diagnoses beside the architectures: a name, the architecture it varies and its model config.
VARIANTS = {"lstm1997_table10": "lstm1997"}
TRIALS = 30
FIRST_SEED = 1000
N_TEST = 2560
TASK = "6b"


def trial_configs(name: str, task_name: str, budget: int | None) -> tuple[ModelConfig, TrainConfig]:
    """The model and training settings of a row: the architecture's defaults for the task (`temporal-order train`'s),
    or a diagnosis's model with its architecture's training defaults; `budget` replaces the default budget."""
    task = get_task(task_name)
    arch = VARIANTS.get(name, name)
    train_config = default_train_config(arch, task, max_sequences=budget)
    model_config = default_config(arch, n_classes=task.n_classes)
    if name == "lstm1997_table10":
        assert isinstance(model_config, PaperLSTMConfig)
        model_config = replace(model_config, g_range=1.0, h_range=2.0)
    return model_config, train_config


def run_trial(name: str, task_name: str, seed: int, budget: int | None) -> dict[str, Any]:
    """One trial: train until the criterion or the budget, then the test on N_TEST fresh sequences."""
    model_config, train_config = trial_configs(name, task_name, budget)
    row = trained_and_tested(task_name, model_config, train_config, seed, N_TEST)
    return {**row, "budget": train_config.max_sequences}


def summarize(rows: list[dict[str, Any]], planned: int) -> dict[str, Any]:
    """Sequences to criterion over the converged trials (with both intervals when every trial converged: over the
    converged ones alone they would describe a selected sample); wrong test sequences over every trial."""
    converged = [float(r["sequences_to_criterion"]) for r in rows if r["converged"]]
    wrong = [r["wrong_paper"] for r in rows]
    every = bool(rows) and len(converged) == len(rows)
    return {
        "trials": len(rows),
        "planned": planned,
        "converged": len(converged),
        "seeds": [min(r["seed"] for r in rows), max(r["seed"] for r in rows)] if rows else None,
        "mean_sequences_to_criterion": statistics.fmean(converged) if converged else None,
        "median_sequences_to_criterion": statistics.median(converged) if converged else None,
        "min_sequences_to_criterion": min(converged) if converged else None,
        "max_sequences_to_criterion": max(converged) if converged else None,
        "intervals": intervals(converged) if every else None,
        "mean_wrong_paper": statistics.fmean(wrong) if wrong else None,
        "max_wrong_paper": max(wrong, default=None),
        "trials_over_3_wrong": sum(1 for w in wrong if w > 3),
        "mean_wrong_argmax": statistics.fmean(r["wrong_argmax"] for r in rows) if rows else None,
        "mean_seconds": statistics.fmean(r["seconds"] for r in rows) if rows else None,
    }


def combine(figures: dict[str, Any], others: list[Path]) -> None:
    """Add the architectures of other runs' JSONs (runs at the same time into separate files) to `figures`, with
    their runs, so each row still names the command and machine it came from; an architecture in both is replaced."""
    for path in others:
        other = json.loads(path.read_text())
        if other["task"] != figures["task"]:
            raise SystemExit(f"--combine: {path} is for task {other['task']}, {figures['task']} expected")
        offset = len(figures.setdefault("runs", []))
        figures["runs"] += other["runs"]
        for name, entry in other["arches"].items():
            figures["arches"][name] = {**entry, "run": entry["run"] + offset}


def resumed_entry(name: str, earlier: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """The earlier entry, to be extended: refused when its settings differ from this run's (the rows would
    describe two different experiments under one name)."""
    for key in ("model_config", "train_config"):
        if earlier[key] != fresh[key]:
            raise SystemExit(f"--resume: {name}'s {key} in the JSON differs from this run's; rerun it without --resume")
    return {**earlier, "trials": list(earlier["trials"])}


def missing_seeds(entry: dict[str, Any], planned: list[int]) -> list[int]:
    """The planned seeds an architecture's entry has no row for (all of them for an entry not yet in the file)."""
    done = {row["seed"] for row in entry.get("trials", [])}
    return [seed for seed in planned if seed not in done]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*ARCHES, *(a for a in REGISTRY if a not in ARCHES), *VARIANTS]
    parser.add_argument("--arches", nargs="+", default=list(ARCHES), choices=names)
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials per architecture (seeds seed..)")
    parser.add_argument("--seed", type=int, default=FIRST_SEED)
    parser.add_argument("--budget", type=int, default=None, help="sequences per trial [each architecture's default]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--merge", action="store_true", help="keep the other architectures' rows in --out")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep every row in --out and run only the planned seeds an architecture lacks (same settings required)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--combine", type=Path, nargs="+", help="only merge these JSONs' architectures into --out")
    parser.add_argument("--note", help=NOTE_HELP)
    args = parser.parse_args()
    if args.combine:
        merged = (
            json.loads(args.out.read_text()) if args.merge and args.out.exists() else {"task": args.task, "arches": {}}
        )
        combine(merged, args.combine)
        args.out.write_text(json.dumps(merged, indent=2))
        print(f"wrote {args.out}: {', '.join(merged['arches'])}")
        return
    if args.seed < 10:
        parser.error("--seed: seeds 0-9 are the development seeds; held-out figures start at 10 or later")

    keep = args.merge or args.resume
    figures: dict[str, Any] = (
        json.loads(args.out.read_text()) if keep and args.out.exists() else {"task": args.task, "arches": {}}
    )
    if figures["task"] != args.task:
        raise SystemExit(f"--merge: {args.out} is for task {figures['task']}, this run for {args.task}")
    planned = [args.seed + i for i in range(args.trials)]
    if args.resume and not any(missing_seeds(figures["arches"].get(name, {}), planned) for name in args.arches):
        # Nothing to run: the file is left as it is, with no run record for a run that trained nothing.
        print(f"--resume: {args.out} already has every planned seed of {', '.join(args.arches)}; nothing to run")
        return
    run: dict[str, Any] = {
        **start_run(describe_machine(), args.note),
        "arches": args.arches,
        "trials": args.trials,
        "seed": args.seed,
        "budget": args.budget,
        "n_test": N_TEST,
        "workers": args.workers,
    }
    figures.setdefault("runs", []).append(run)
    figures["machine"] = run["machine"]  # the newest run's; each run keeps its own
    run_index = len(figures["runs"]) - 1
    started = time.perf_counter()

    def write() -> None:
        run["seconds"] = round(time.perf_counter() - started, 1)
        finish_run(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))

    for name in args.arches:
        model_config, train_config = trial_configs(name, args.task, args.budget)
        entry: dict[str, Any] = {
            "run": run_index,
            "model_config": config_to_dict(model_config),
            "train_config": train_config.to_dict(),
            "trials": [],
        }
        earlier = figures["arches"].get(name)
        if args.resume and earlier is not None:
            entry = resumed_entry(name, earlier, entry)
        entry["summary"] = summarize(entry["trials"], args.trials)
        figures["arches"][name] = entry
        write()
        seeds = missing_seeds(entry, planned)
        print(f"{name}: {len(entry['trials'])} rows kept, {len(seeds)} trials to run", flush=True)
        # One architecture at a time, so its table is complete (and can land) before the next one starts.
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
            pending = {pool.submit(run_trial, name, args.task, seed, args.budget) for seed in seeds}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    row = {**future.result(), "run": run_index}
                    print(f"{name} {json.dumps(row)}", flush=True)
                    entry["trials"] = sorted([*entry["trials"], row], key=lambda r: r["seed"])
                    entry["summary"] = summarize(entry["trials"], args.trials)
                    write()
        s = entry["summary"]
        print(
            f"{name}: {s['converged']}/{s['trials']} converged; mean {s['mean_sequences_to_criterion']}, median "
            f"{s['median_sequences_to_criterion']}; wrong of {N_TEST} mean {s['mean_wrong_paper']}, max "
            f"{s['max_wrong_paper']}",
            flush=True,
        )
    write()
    print(f"{run['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
