"""Why a converged `lstm1997` trial can test above the paper's "never more than 3 wrong": the net frozen at the
stopping criterion is one snapshot of an on-line learner. Each trial trains with the paper's recipe (`train_trial`,
as `temporal-order train` and `bench/paper_bench.py` do) to the criterion, is tested on its 2,560 test sequences
(the paper bench's figure), then keeps learning on-line, the paper's way, for `--snapshots` chunks of 2,000 fresh
sequences. After each chunk the frozen net is tested again on the same 2,560 sequences; within each chunk the
streaming judgement (each sequence judged by the weights before its own update, as the criterion judges) is
counted too. A benchmark, never a test.

    .venv/bin/python bench/snapshot_bench.py                       # 6b, seeds 0-9, 10 snapshots after the criterion
    .venv/bin/python bench/snapshot_bench.py --seeds 1 3 --snapshots 5 --out /tmp/snapshots.json

If the wrong counts of later snapshots of one trial swing (some 0, some ~20) while the streaming judgement stays
at a few per 2,000, the test figure of a single snapshot says more about when the trial stopped than about what
it learned.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import NOTE_HELP, describe_machine, finish_run, start_run  # noqa: E402

from training import lstm1997  # noqa: E402
from training.criterion import judge_batch  # noqa: E402
from training.evaluate import evaluate  # noqa: E402
from training.models import PaperLSTM, PaperLSTMConfig  # noqa: E402
from training.task import generate, get_task, make_generator  # noqa: E402
from training.train import default_train_config, train_trial  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "snapshots.json"
N_TEST = 2560
CHUNK = 2000  # the criterion's window: one snapshot per window's worth of further on-line learning
# The sequences after the criterion come from a stream of their own, apart from training's and the test's.
AFTER_SEED_OFFSET = 2_000_003


def snapshot_trial(task_name: str, seed: int, budget: int, snapshots: int) -> dict[str, Any]:
    """One trial to the criterion, then `snapshots` chunks of further on-line learning, each followed by a test."""
    torch.set_num_threads(1)
    task = get_task(task_name)
    train_config = default_train_config("lstm1997", task, max_sequences=budget)
    started = time.perf_counter()
    result = train_trial(
        task, model_config=PaperLSTMConfig(n_classes=task.n_classes), train_config=train_config, seed=seed
    )
    row: dict[str, Any] = {
        "seed": seed,
        "converged": result.converged,
        "sequences_to_criterion": result.sequences_to_criterion,
        "sequences_seen": result.sequences_seen,
    }
    if not result.converged:
        row["seconds"] = round(time.perf_counter() - started, 2)
        return row
    model = result.model
    assert isinstance(model, PaperLSTM)
    weights = lstm1997.as_arrays(list(model.weights))  # views: the kernel's in-place updates are the model's
    layout = lstm1997.Layout.of(model.config)
    stream = make_generator(seed + AFTER_SEED_OFFSET)
    test_wrong = [evaluate(model, task, seed=seed, n_test=N_TEST).wrong_paper]
    streaming_wrong = []
    for _ in range(snapshots):
        batch = generate(task, CHUNK, stream)
        outputs = lstm1997.train_online(
            weights,
            batch.tokens.numpy(),
            batch.lengths.numpy(),
            batch.labels.numpy(),
            learning_rate=train_config.learning_rate,
            truncated=train_config.gradient == "truncated",
            layout=layout,
        )
        correct, _ = judge_batch(outputs, batch.labels.numpy())
        streaming_wrong.append(int((~correct).sum()))
        test_wrong.append(evaluate(model, task, seed=seed, n_test=N_TEST).wrong_paper)
    row.update(
        wrong_paper_at_criterion=test_wrong[0],
        wrong_paper_of_later_snapshots=test_wrong[1:],
        streaming_wrong_per_chunk=streaming_wrong,
        seconds=round(time.perf_counter() - started, 2),
    )
    return row


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the converged trials: the wrong counts at the criterion and of every later snapshot, and the streaming
    error rate of the chunks after the criterion."""
    met = [row for row in rows if row["converged"]]
    later = [wrong for row in met for wrong in row["wrong_paper_of_later_snapshots"]]
    streaming = [wrong for row in met for wrong in row["streaming_wrong_per_chunk"]]
    if not met:
        return {"trials": len(rows), "converged": 0}
    return {
        "trials": len(rows),
        "converged": len(met),
        "at_criterion_over_3_wrong": sum(row["wrong_paper_at_criterion"] > 3 for row in met),
        "at_criterion_median_wrong": statistics.median(row["wrong_paper_at_criterion"] for row in met),
        "later_snapshots": len(later),
        "later_snapshots_over_3_wrong": sum(wrong > 3 for wrong in later),
        "later_snapshots_median_wrong": statistics.median(later),
        "later_snapshots_max_wrong": max(later),
        "trials_with_a_later_snapshot_within_3": sum(
            any(wrong <= 3 for wrong in row["wrong_paper_of_later_snapshots"]) for row in met
        ),
        "streaming_wrong_rate": sum(streaming) / (CHUNK * len(streaming)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="6b", choices=["6a", "6b"])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="development seeds 0-9")
    parser.add_argument(
        "--budget", type=int, default=1_000_000, help="sequences per trial (every converged dev trial needs < 1M)"
    )
    parser.add_argument("--snapshots", type=int, default=10, help="chunks of 2,000 sequences after the criterion")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", help=NOTE_HELP)
    args = parser.parse_args()
    run: dict[str, Any] = {
        **start_run(describe_machine(), args.note),
        "task": args.task,
        "budget": args.budget,
        "snapshots": args.snapshots,
        "chunk": CHUNK,
        "n_test": N_TEST,
    }
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(snapshot_trial, args.task, seed, args.budget, args.snapshots) for seed in args.seeds]
        rows = []
        for future in futures:
            rows.append(future.result())
            print(json.dumps(rows[-1]), flush=True)
    run["seconds"] = round(time.perf_counter() - started, 1)
    finish_run(run)
    figures = {**run, "trials": rows, "summary": summarize(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures["summary"], indent=2))
    print(f"{run['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
