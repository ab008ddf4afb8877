"""Lag-study benchmark: training sequences/s against T for every kernel (the cost per sequence should grow
linearly in T), trials/s on 1 vs 2 local Ray workers (scaling efficiency), and the same trials on the local
process pool vs Ray (Ray's overhead per trial).

    .venv/bin/python bench/study_bench.py                      # writes bench/results/study.json
    .venv/bin/python bench/study_bench.py --lags 100,200 --sequences 512 --scaling-trials 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import describe_machine  # noqa: E402

from training.architectures import default_config  # noqa: E402
from training.experiment import run_trials  # noqa: E402
from training.study.grid import lag_task  # noqa: E402
from training.train import default_train_config, train_trial  # noqa: E402
from training.trial import TrialSpec, plan_trials  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "study.json"
KERNELS = ("rnn", "lstm", "attn_rnn", "lstm1997")
# On-line SGD runs one sequence per update: a smaller sample keeps its row as long as the others'.
SEQUENCES_FACTOR = {"lstm1997": 0.125}
TARGET_SCALING_EFFICIENCY = 0.80


def sequences_per_second(arch: str, length: int, sequences: int) -> dict[str, float]:
    """Training throughput with the architecture's default settings and the criterion out of reach."""
    task = lag_task(length)
    config = default_train_config(arch, task, max_sequences=sequences, criterion_window=10**9)
    model_config = default_config(arch, n_classes=task.n_classes)
    # A first short trial compiles kernels and warms caches; it is not timed.
    train_trial(task, model_config=model_config, train_config=default_train_config(arch, task, max_sequences=64,
                                                                                  criterion_window=10**9))  # fmt: skip
    started = time.perf_counter()
    result = train_trial(task, model_config=model_config, train_config=config, seed=0)
    seconds = time.perf_counter() - started
    return {
        "sequences": result.sequences_seen,
        "seconds": seconds,
        "sequences_per_s": result.sequences_seen / seconds,
        # Constant in T when the cost per sequence grows linearly in T.
        "microseconds_per_sequence_step": 1e6 * seconds / (result.sequences_seen * length),
    }


def linear_fit(points: list[tuple[float, float]]) -> dict[str, float]:
    """Least squares of seconds per sequence against T: slope, intercept and R²."""
    xs, ys = zip(*points, strict=True)
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    return {"slope_s_per_step": slope, "intercept_s": intercept, "r_squared": 1 - residual / total if total else 1.0}


def scaling_specs(trials: int, sequences: int) -> list[TrialSpec]:
    """Equal trials (lstm at T=100, the criterion out of reach), so wall time measures the engine, not luck."""
    return plan_trials(
        "lstm",
        lag_task(100),
        trials=trials,
        seed=0,
        overrides={"max_sequences": sequences, "criterion_window": 10**9},
        n_test=500,
    )


def ray_wall(specs: list[TrialSpec], cpus: int) -> dict[str, float]:
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=cpus, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024 * 1024)  # fmt: skip
    ready = time.perf_counter()
    try:
        run_trials(specs, ray_address="local")
    finally:
        ray.shutdown()
    done = time.perf_counter()
    return {"cluster_start_s": ready - started, "trials_s": done - ready, "trials_per_s": len(specs) / (done - ready)}


def pool_wall(specs: list[TrialSpec], workers: int) -> dict[str, float]:
    started = time.perf_counter()
    run_trials(specs, workers=workers)
    seconds = time.perf_counter() - started
    return {"trials_s": seconds, "trials_per_s": len(specs) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lags", default="100,200,400,700,1000")
    parser.add_argument("--arch", action="append", help="kernels to time (repeatable) [default: all]")
    parser.add_argument("--sequences", type=int, default=1024, help="timed training sequences per kernel and T")
    parser.add_argument("--scaling-trials", type=int, default=8)
    parser.add_argument("--scaling-sequences", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lags = [int(item) for item in args.lags.split(",")]
    arches = args.arch or list(KERNELS)

    kernels: dict[str, Any] = {}
    for arch in arches:
        sequences = max(32, int(args.sequences * SEQUENCES_FACTOR.get(arch, 1.0)))
        rows = {str(length): sequences_per_second(arch, length, sequences) for length in lags}
        fit = linear_fit([(float(length), 1 / rows[str(length)]["sequences_per_s"]) for length in lags])
        kernels[arch] = {"by_length": rows, "seconds_per_sequence_fit": fit}
        rates = ", ".join(f"T={length}: {rows[str(length)]['sequences_per_s']:,.0f}/s" for length in lags)
        print(f"{arch:9} {rates}; R² of s/sequence against T {fit['r_squared']:.3f}", flush=True)

    specs = scaling_specs(args.scaling_trials, args.scaling_sequences)
    one = ray_wall(specs, 1)
    two = ray_wall(specs, 2)
    efficiency = two["trials_per_s"] / (2 * one["trials_per_s"])
    pool = pool_wall(specs, 2)
    overhead = (two["trials_s"] - pool["trials_s"]) / len(specs)
    print(
        f"Ray: {one['trials_per_s']:.3f} trials/s on 1 worker, {two['trials_per_s']:.3f} on 2 "
        f"(scaling efficiency {100 * efficiency:.0f}%, target {100 * TARGET_SCALING_EFFICIENCY:.0f}%); "
        f"local pool of 2: {pool['trials_per_s']:.3f} trials/s; Ray's overhead {overhead:+.2f} s per trial",
        flush=True,
    )
    document = {
        "machine": {**describe_machine(), "torch": torch.__version__, "torch_threads": 1},
        "note": "timed on a 2-core machine shared with about 8 other agents' jobs: absolute figures are noisy",
        "command": " ".join(sys.argv),
        "sequences_per_second": {"lags": lags, "kernels": kernels},
        "scaling": {
            "trials": len(specs),
            "trial": {"arch": "lstm", "length": 100, "sequences": args.scaling_sequences, "n_test": 500},
            "ray_1_worker": one,
            "ray_2_workers": two,
            "scaling_efficiency": efficiency,
            "target_scaling_efficiency": TARGET_SCALING_EFFICIENCY,
            "met": efficiency >= TARGET_SCALING_EFFICIENCY,
            "local_pool_2_workers": pool,
            "ray_overhead_s_per_trial": overhead,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
