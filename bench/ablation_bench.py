"""The ablation ladder on task 6b: from the paper's own network (`lstm1997`, on-line SGD, truncated gradient) to
today's `lstm`, each rung adding one change to the one before, and the attention rows beside it (a GRU alone,
`attn_rnn`, attention over an IRNN encoder). Per rung: trials that met the criterion, median and mean sequences
to criterion, wrong of 2,560 by the paper's 0.3 rule. A benchmark, never a test.

    .venv/bin/python bench/ablation_bench.py --reuse-paper                     # the whole ladder, each rung its budget
    .venv/bin/python bench/ablation_bench.py --trials 3 --budget 300000        # a reduced ladder (the JSON says so)
    .venv/bin/python bench/ablation_bench.py --rungs adam batch16 --merge      # some rungs, merged into the JSON
    .venv/bin/python bench/ablation_bench.py --rungs adam --seed 3 --trials 7 --budget 100000 --merge  # seeds 3-9 added

Every rung reuses the project's trainer (`train_trial`), its models and its test protocol; a rung is a model
config plus a training config. A trial that misses the criterion within the budget stays in the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import NOTE_HELP, describe_machine, finish_run, start_run  # noqa: E402
from trial_rows import trained_and_tested  # noqa: E402

from training.architectures import REGISTRY, default_config  # noqa: E402
from training.models import AttnRNNConfig, LSTMConfig, ModelConfig, PaperLSTMConfig  # noqa: E402
from training.task import get_task  # noqa: E402
from training.train import default_train_config  # noqa: E402
from training.train_config import TrainConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ablation.json"
TASK = "6b"
N_TEST = 2560
TRIALS = 10
BUDGET = 5_000_000
FORGET_BIAS = LSTMConfig().forget_bias  # "bias as ours"
PAPER_RESULTS = ROOT / "bench" / "results" / "paper.json"


@dataclass(frozen=True)
class Rung:
    name: str
    changed: str  # what this rung adds to the one before (or what the row is)
    group: str  # "ladder" or "attention"
    # Sequences a trial by default. The paper network's rungs get the Table 9 run's 5,000,000 (its compiled step
    # runs ~15,000 sequences/s); the rest 100,000, which keeps one run of the whole ladder within the 60
    # minutes on 2 cores: the two on-line SGD rungs after the forget gate (64 gate and cell units; torch's
    # nn.LSTM, one sequence a call) run ~2,000 sequences/s, so one unconverged trial at 5,000,000 would take ~40
    # minutes alone. A trial that misses its budget stays in the table as not converged.
    budget: int = 100_000


LADDER = (
    Rung(
        "lstm1997",
        "the paper's network and recipe (3 blocks of 2 cells, truncated gradient, on-line SGD 0.1)",
        "ladder",
        BUDGET,
    ),
    Rung(
        "full_gradient",
        "the full gradient (backpropagation through time) instead of the truncated one",
        "ladder",
        BUDGET,
    ),
    Rung("forget_gate", "a forget gate per block, bias 3 (as ours); full gradient, on-line SGD 0.1", "ladder", BUDGET),
    Rung(
        "own_gates",
        "16 cells, each with its own input, forget and output gate, fed back from the cells only (nn.LSTM's "
        "wiring), input-gate biases random; the paper's g, h and logistic outputs kept",
        "ladder",
    ),
    Rung(
        "softmax_ce",
        "nn.LSTM(16), softmax outputs and cross-entropy (on-line SGD 0.1)",
        "ladder",
    ),
    Rung("adam", "Adam (lr 0.01) instead of SGD, still one sequence per update", "ladder"),
    Rung("batch16", "mini-batches of 16", "ladder"),
    Rung("clip_anneal", "gradient clipping (norm 1) and annealing: today's `lstm`", "ladder"),
    Rung("gru", "a GRU(32) alone, linear head on its last output, attn_rnn's settings", "attention"),
    Rung("attn_rnn", "`attn_rnn`: the GRU(32) with attention over its states", "attention"),
    Rung("attn_irnn", "attention over an IRNN(32) encoder, attn_rnn's settings", "attention"),
)
RUNGS = {rung.name: rung for rung in LADDER}


class RungUnavailable(Exception):
    """The rung needs a model this checkout does not have."""


def rung_configs(name: str, budget: int) -> tuple[ModelConfig, TrainConfig]:
    """The model and training settings of a rung (on 6b): each ladder rung is the one before plus its change."""
    task = get_task(TASK)
    paper = default_train_config("lstm1997", task, max_sequences=budget)
    online_sgd = TrainConfig(
        optimizer="sgd",
        learning_rate=0.1,
        batch_size=1,
        grad_clip=None,
        anneal=False,
        gradient="full",
        max_sequences=budget,
    )
    adam_online = replace(online_sgd, optimizer="adam", learning_rate=1e-2)
    lstm = LSTMConfig(n_classes=task.n_classes)
    attention = default_train_config("attn_rnn", task, max_sequences=budget)
    if name == "lstm1997":
        return PaperLSTMConfig(n_classes=task.n_classes), paper
    if name == "full_gradient":
        return PaperLSTMConfig(n_classes=task.n_classes), replace(paper, gradient="full")
    if name == "forget_gate":
        return PaperLSTMConfig(n_classes=task.n_classes, forget_bias=FORGET_BIAS), replace(paper, gradient="full")
    if name == "own_gates":
        cells = LSTMConfig().hidden_size
        own_gates = PaperLSTMConfig(
            n_classes=task.n_classes,
            blocks=cells,
            cells_per_block=1,
            forget_bias=FORGET_BIAS,
            recurrent="cells",
            input_gate_bias_step=0.0,
        )
        return own_gates, replace(paper, gradient="full")
    if name == "softmax_ce":
        return lstm, online_sgd
    if name == "adam":
        return lstm, adam_online
    if name == "batch16":
        return lstm, replace(adam_online, batch_size=16)
    if name == "clip_anneal":
        return lstm, default_train_config("lstm", task, max_sequences=budget)
    if name == "gru":
        if "gru" not in REGISTRY:
            raise RungUnavailable("needs the gru architecture (issue 15), not on this checkout")
        return default_config("gru", n_classes=task.n_classes), attention
    if name == "attn_rnn":
        return AttnRNNConfig(n_classes=task.n_classes), attention
    if name == "attn_irnn":
        return AttnRNNConfig(n_classes=task.n_classes, cell="irnn"), attention
    raise ValueError(f"unknown rung {name!r}; known: {', '.join(RUNGS)}")


def run_trial(name: str, seed: int, budget: int) -> dict[str, Any]:
    """One trial of one rung: train until the criterion or the budget, then the test on 2,560 fresh sequences."""
    model_config, train_config = rung_configs(name, budget)
    return trained_and_tested(TASK, model_config, train_config, seed, N_TEST)


def paper_rows(seeds: list[int], budget: int) -> list[dict[str, Any]]:
    """The lstm1997 rung's trials from bench/results/paper.json: the paper bench ran the very same trials (same
    model, settings, seeds and test sets), so rerunning them would repeat them exactly. A trial that met the
    criterion beyond the ladder's budget counts as not converged; its test (of the model after the paper bench's
    budget) is not this budget's, so it is left out."""
    trials = {row["seed"]: row for row in json.loads(PAPER_RESULTS.read_text())["tasks"][TASK]["trials"]}
    missing = [seed for seed in seeds if seed not in trials]
    if missing:
        raise SystemExit(f"--reuse-paper: {PAPER_RESULTS} has no 6b trial for seeds {missing}")
    rows = []
    for seed in seeds:
        row = dict(trials[seed], source="paper.json")
        if not (row["converged"] and row["sequences_to_criterion"] <= budget):
            row.update(converged=False, sequences_to_criterion=None, sequences_seen=budget)
            row.update(wrong_paper=None, wrong_argmax=None, seconds=None)
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sequences to criterion and wrong test sequences over the trials that met the criterion."""
    met = [r for r in rows if r["converged"]]
    converged = [r["sequences_to_criterion"] for r in met]
    return {
        "trials": len(rows),
        "converged": len(converged),
        "median_sequences_to_criterion": statistics.median(converged) if converged else None,
        "mean_sequences_to_criterion": statistics.fmean(converged) if converged else None,
        "mean_wrong_paper": statistics.fmean(r["wrong_paper"] for r in met) if met else None,
        "max_wrong_paper": max((r["wrong_paper"] for r in met), default=None),
    }


def kept_trials(figures: dict[str, Any], name: str, seeds: list[int], budget: int) -> list[dict[str, Any]]:
    """A rung's earlier trials that this run keeps under --merge: those of other seeds, when they ran under the same
    budget (a trial is deterministic given its seed, so more seeds extend the rung); under another budget, none."""
    entry = figures["rungs"].get(name)
    if not entry or entry.get("source") or entry.get("not_run"):
        return []
    runs = figures["runs"]
    earlier_budget = entry.get("budget", runs[entry["run"]]["budget"])
    if earlier_budget != budget:
        return []
    return [
        {**row, "run": row.get("run", entry["run"]), "budget": budget}
        for row in entry["trials"]
        if row["seed"] not in seeds
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rungs", nargs="+", default=list(RUNGS), choices=list(RUNGS))
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials a rung (seeds seed..seed+trials-1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--budget", type=int, default=None, help="sequences per trial for every rung run (default: each rung's own)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only the rungs run now in --out; a rung run before under the same budget keeps its other seeds",
    )
    parser.add_argument(
        "--reuse-paper", action="store_true", help="take the lstm1997 rung's trials from paper.json (same trials)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", help=NOTE_HELP)
    args = parser.parse_args()

    figures: dict[str, Any] = json.loads(args.out.read_text()) if args.merge and args.out.exists() else {"rungs": {}}
    budgets = {name: args.budget or RUNGS[name].budget for name in args.rungs}
    run = {
        **start_run(describe_machine(), args.note),
        "trials": args.trials,
        "budget": args.budget or budgets,
        "task": TASK,
        "n_test": N_TEST,
    }
    figures.setdefault("runs", []).append(run)
    figures["machine"] = run["machine"]  # the newest run's; each run keeps its own
    run_index = len(figures["runs"]) - 1
    figures["rung_order"] = list(RUNGS)
    runnable = []
    seeds = [args.seed + i for i in range(args.trials)]
    for name in args.rungs:
        rung = RUNGS[name]
        budget = budgets[name]
        kept = kept_trials(figures, name, seeds, budget) if args.merge else []
        entry: dict[str, Any] = {
            "changed": rung.changed,
            "group": rung.group,
            "run": run_index,
            "runs": sorted({*(row["run"] for row in kept), run_index}),
            "budget": budget,
            "planned": len(kept) + len(seeds),
            "trials": kept,
            "summary": summarize(kept) if kept else None,
        }
        try:
            rung_configs(name, budget)
        except RungUnavailable as missing:
            entry["not_run"] = str(missing)
            print(f"{name}: not run ({missing})", flush=True)
        else:
            if name == "lstm1997" and args.reuse_paper:
                entry["trials"] = [dict(row, run=run_index) for row in paper_rows(seeds, budget)]
                entry["planned"] = len(seeds)
                entry["summary"] = summarize(entry["trials"])
                entry["source"] = "bench/results/paper.json (the same trials, not rerun)"
            else:
                runnable.append(name)
        # Reduced against the 10 trials and the Table 9 run's budget, whatever the rung's default.
        entry["reduced"] = entry["planned"] < TRIALS or budget < BUDGET
        figures["rungs"][name] = entry
    run["reduced"] = any(figures["rungs"][name]["reduced"] for name in args.rungs)
    started = time.perf_counter()

    def write() -> None:
        run["seconds"] = round(time.perf_counter() - started, 1)
        finish_run(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))

    write()
    # Seed by seed across the rungs, so a run stopped early still has every rung's first trials.
    jobs = [(name, seed) for seed in seeds for name in runnable]
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_trial, name, seed, budgets[name]): name for name, seed in jobs}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                name = futures[future]
                entry = figures["rungs"][name]
                row = {**future.result(), "run": run_index, "budget": budgets[name]}
                print(f"{name} {json.dumps(row)}", flush=True)
                entry["trials"] = sorted([*entry["trials"], row], key=lambda r: r["seed"])
                entry["summary"] = summarize(entry["trials"])
                write()
    for name in args.rungs:
        summary = figures["rungs"][name]["summary"]
        if summary:
            print(
                f"{name}: {summary['converged']}/{summary['trials']} converged; median "
                f"{summary['median_sequences_to_criterion']}, mean {summary['mean_sequences_to_criterion']}; "
                f"wrong of {N_TEST} mean {summary['mean_wrong_paper']}, max {summary['max_wrong_paper']}"
            )
    print(f"{run['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
