"""Lag-study benchmark: training sequences/s against T for every kernel (the cost per sequence should grow
linearly in T), trials/s on 1 vs 2 local Ray workers (scaling efficiency), and the same trials on the local
process pool vs Ray (Ray's overhead per trial).

    .venv/bin/python bench/study_bench.py                      # writes bench/results/study.json
    .venv/bin/python bench/study_bench.py --lags 100,200 --sequences 512 --scaling-trials 4 --rounds 3

Scaling is measured fairly: every round times the same equal trials on a 1-CPU and on a 2-CPU local cluster
(which goes first alternates), each cluster's workers warmed by a trial per CPU before the clock starts; the
efficiency is the ratio of the medians over rounds. The CPU seconds the Ray workers spent per trial are read
from their processes, so a shortfall can be told apart: equal CPU per trial on 1 and 2 workers means the engine
added no work, and the second worker simply got less than a whole core (the load average is printed per round).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import describe_machine  # noqa: E402

from training.architectures import default_config  # noqa: E402
from training.distributed import start_local_cluster  # noqa: E402
from training.experiment import run_trials  # noqa: E402
from training.study.grid import lag_task  # noqa: E402
from training.train import default_train_config, train_trial  # noqa: E402
from training.trial import TrialSpec, plan_trials  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "study.json"
KERNELS = ("rnn", "lstm", "gru", "attn_rnn", "lstm1997")
# On-line SGD runs one sequence per update: a smaller sample keeps its row as long as the others'; the fused lstm
# kernel is so fast that a sample the others' size is over before timing noise is small.
SEQUENCES_FACTOR = {"lstm1997": 0.25, "lstm": 8.0}
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


def is_ray_worker(process: psutil.Process) -> bool:
    """A Ray worker process: started as default_worker.py, retitled `ray::IDLE` or `ray::<task>` once it runs
    (the raylet's agents are `ray::...Agent`)."""
    command = " ".join(process.cmdline())
    return "default_worker.py" in command or (command.startswith("ray::") and not command.endswith("Agent"))


def ray_workers_cpu_s() -> float:
    """CPU seconds (user + system) spent so far by this driver's Ray worker processes."""
    total = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            if is_ray_worker(process):
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:  # a worker that exited meanwhile
            continue
    return total


def ray_round(specs: list[TrialSpec], cpus: int) -> dict[str, float]:
    """A fresh local cluster of `cpus` CPUs, its workers warmed (one trial each), then `specs` timed."""
    import ray

    started = time.perf_counter()
    start_local_cluster(
        cpus,
        object_store_memory=100 * 1024 * 1024,
        on_retry=lambda error: print(f"cluster start failed ({error}); again", flush=True),
    )
    try:
        # One warm-up trial per CPU, at once: every worker imports torch and compiles its kernels off the clock.
        run_trials(specs[:1] * cpus, ray_address="local")
        ready = time.perf_counter()
        cpu_before = ray_workers_cpu_s()
        run_trials(specs, ray_address="local")
        done = time.perf_counter()
        cpu_spent = ray_workers_cpu_s() - cpu_before
    finally:
        ray.shutdown()
    return {
        "cluster_start_and_warm_up_s": ready - started,
        "trials_s": done - ready,
        "trials_per_s": len(specs) / (done - ready),
        "worker_cpu_s_per_trial": cpu_spent / len(specs),
        "load_average_1m": os.getloadavg()[0],
    }


def pool_round(specs: list[TrialSpec], workers: int) -> dict[str, float]:
    """The local pool as `run_trials` uses it: a fresh pool per call, so its start-up is on the clock."""
    started = time.perf_counter()
    run_trials(specs, workers=workers)
    seconds = time.perf_counter() - started
    return {"trials_s": seconds, "trials_per_s": len(specs) / seconds, "load_average_1m": os.getloadavg()[0]}


def median_of(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(item[key] for item in rounds)


def scaling_summary(one: list[dict[str, float]], two: list[dict[str, float]], pool: list[dict[str, float]],
                    trials: int) -> dict[str, Any]:  # fmt: skip
    """The rounds so far: medians of trials/s, the efficiency as a ratio of medians, CPU per trial."""
    efficiency = median_of(two, "trials_per_s") / (2 * median_of(one, "trials_per_s"))
    return {
        "rounds": len(pool),
        "ray_1_worker": {"median_trials_per_s": median_of(one, "trials_per_s"), "rounds": one},
        "ray_2_workers": {"median_trials_per_s": median_of(two, "trials_per_s"), "rounds": two},
        "scaling_efficiency": efficiency,
        "target_scaling_efficiency": TARGET_SCALING_EFFICIENCY,
        "met": efficiency >= TARGET_SCALING_EFFICIENCY,
        "worker_cpu_s_per_trial": {
            "ray_1_worker": median_of(one, "worker_cpu_s_per_trial"),
            "ray_2_workers": median_of(two, "worker_cpu_s_per_trial"),
        },
        "local_pool_2_workers": {"median_trials_per_s": median_of(pool, "trials_per_s"), "rounds": pool},
        "ray_overhead_s_per_trial": (median_of(two, "trials_s") - median_of(pool, "trials_s")) / trials,
    }


def measure_scaling(
    specs: list[TrialSpec], rounds: int, on_round: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Interleaved rounds of 1 and 2 Ray workers (alternating which goes first) and the local pool of 2;
    `on_round` gets the summary after every round (a long run keeps what it measured)."""
    one: list[dict[str, float]] = []
    two: list[dict[str, float]] = []
    pool: list[dict[str, float]] = []
    summary = None
    for index in range(rounds):
        order = (1, 2) if index % 2 == 0 else (2, 1)
        for cpus in order:
            (one if cpus == 1 else two).append(ray_round(specs, cpus))
        pool.append(pool_round(specs, 2))
        print(
            f"round {index + 1}: Ray 1 worker {one[-1]['trials_per_s']:.3f} trials/s "
            f"({one[-1]['worker_cpu_s_per_trial']:.2f} CPU s/trial), 2 workers {two[-1]['trials_per_s']:.3f} "
            f"({two[-1]['worker_cpu_s_per_trial']:.2f} CPU s/trial), pool of 2 {pool[-1]['trials_per_s']:.3f}; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        summary = scaling_summary(one, two, pool, len(specs))
        on_round(summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lags", default="100,200,400,700,1000")
    parser.add_argument("--arch", action="append", help="kernels to time (repeatable) [default: all]")
    parser.add_argument("--sequences", type=int, default=1024, help="timed training sequences per kernel and T")
    parser.add_argument("--scaling-trials", type=int, default=8)
    parser.add_argument("--scaling-sequences", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved scaling rounds (medians are reported)")
    parser.add_argument("--skip-kernels", action="store_true", help="only the scaling rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lags = [int(item) for item in args.lags.split(",")]
    arches = args.arch or list(KERNELS)

    kernels: dict[str, Any] = {}
    for arch in [] if args.skip_kernels else arches:
        sequences = max(32, int(args.sequences * SEQUENCES_FACTOR.get(arch, 1.0)))
        rows = {str(length): sequences_per_second(arch, length, sequences) for length in lags}
        fit = linear_fit([(float(length), 1 / rows[str(length)]["sequences_per_s"]) for length in lags])
        kernels[arch] = {"by_length": rows, "seconds_per_sequence_fit": fit}
        rates = ", ".join(f"T={length}: {rows[str(length)]['sequences_per_s']:,.0f}/s" for length in lags)
        print(f"{arch:9} {rates}; R² of s/sequence against T {fit['r_squared']:.3f}", flush=True)

    specs = scaling_specs(args.scaling_trials, args.scaling_sequences)
    document: dict[str, Any] = {
        "machine": {**describe_machine(), "torch": torch.__version__, "torch_threads": 1},
        "note": "timed on a 2-core machine shared with other agents' jobs (load averages per round below): "
        "absolute figures are noisy",
        "command": " ".join(sys.argv),
        "sequences_per_second": {"lags": lags, "kernels": kernels},
        "scaling": None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(scaling: dict[str, Any] | None) -> None:
        trial = {"arch": "lstm", "length": 100, "sequences": args.scaling_sequences, "n_test": 500}
        document["scaling"] = None if scaling is None else {"trials": len(specs), "trial": trial, **scaling}
        args.out.write_text(json.dumps(document, indent=2) + "\n")

    save(None)
    scaling = measure_scaling(specs, args.rounds, save)
    if scaling is not None:
        cpu = scaling["worker_cpu_s_per_trial"]
        print(
            f"Ray: {scaling['ray_1_worker']['median_trials_per_s']:.3f} trials/s on 1 worker, "
            f"{scaling['ray_2_workers']['median_trials_per_s']:.3f} on 2 (medians of {args.rounds} rounds; "
            f"scaling efficiency {100 * scaling['scaling_efficiency']:.0f}%, target "
            f"{100 * TARGET_SCALING_EFFICIENCY:.0f}%); worker CPU per trial {cpu['ray_1_worker']:.2f} s on 1, "
            f"{cpu['ray_2_workers']:.2f} s on 2; local pool of 2: "
            f"{scaling['local_pool_2_workers']['median_trials_per_s']:.3f} trials/s; Ray's overhead "
            f"{scaling['ray_overhead_s_per_trial']:+.2f} s per trial",
            flush=True,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
