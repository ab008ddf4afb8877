"""Trials of the paper's protocol: each trial trains with its own seed, then tests on fresh sequences.
Trials are independent, so they run in a pool of worker processes (one torch thread each), or on a Ray cluster
when given its address (training/distributed.py); `run_trials` is the one place that picks the engine.

    temporal-order train --arch all --trials 10 --workers 2
    temporal-order train --arch lstm --trials 10 --ray-address HEAD:6379
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import torch

from training.evaluate import N_TEST
from training.lifetime import exit_with_parent
from training.protocol import TrialProgress, TrialRecord
from training.task import TaskSpec
from training.trial import OnTrial, TrialPayload, TrialSpec, execute_trial, plan_trials

# ---- worker processes -----------------------------------------------------------------------------

_progress_queue: Any = None
_stop_event: Any = None


def _init_worker(progress_queue: Any, stop_event: Any) -> None:
    global _progress_queue, _stop_event
    # A worker whose parent was killed would otherwise block forever writing its result to a pipe nobody reads.
    exit_with_parent()
    _progress_queue, _stop_event = progress_queue, stop_event
    torch.set_num_threads(1)


def _worker(spec: TrialSpec) -> TrialPayload:
    def put(progress: TrialProgress) -> None:
        _progress_queue.put(progress)

    return TrialPayload.of(spec, execute_trial(spec, put, _stop_event.is_set))


def run_specs(
    specs: Sequence[TrialSpec],
    *,
    workers: int = 1,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_trial: OnTrial | None = None,
) -> list[TrialRecord]:
    """Run trials in order (workers=1, in this process) or in a pool; results keep the order of `specs`."""
    if workers <= 1 or len(specs) <= 1:
        records = []
        for spec in specs:
            record = execute_trial(spec, on_progress, should_stop)
            if on_trial is not None:
                on_trial(spec, record)
            records.append(record)
        return records
    context = mp.get_context("spawn")
    progress_queue = context.Queue()
    stop_event = context.Event()
    results: dict[int, TrialRecord] = {}
    with ProcessPoolExecutor(
        max_workers=min(workers, len(specs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(progress_queue, stop_event),
    ) as pool:
        futures: dict[Future[TrialPayload], int] = {pool.submit(_worker, s): i for i, s in enumerate(specs)}
        pending = set(futures)
        delivered = 0
        try:
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                _drain(progress_queue, on_progress)
                if should_stop is not None and should_stop():
                    stop_event.set()
                for future in done:
                    results[futures[future]] = future.result().record()
                while delivered in results:
                    if on_trial is not None:
                        on_trial(specs[delivered], results[delivered])
                    delivered += 1
        except BaseException:
            stop_event.set()
            for future in pending:
                future.cancel()
            raise
        _drain(progress_queue, on_progress)
    return [results[i] for i in range(len(specs))]


def _drain(progress_queue: Any, on_progress: Callable[[TrialProgress], None] | None) -> None:
    while True:
        try:
            progress = progress_queue.get_nowait()
        except queue.Empty:
            return
        if on_progress is not None:
            on_progress(progress)


def run_trials(
    specs: Sequence[TrialSpec],
    *,
    workers: int = 1,
    ray_address: str | None = None,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_trial: OnTrial | None = None,
) -> list[TrialRecord]:
    """Run `specs` on the local pool of `workers` processes, or on the Ray cluster at `ray_address` when given
    (`training.ray_extra.RayUnavailable` without the ray extra); results keep the order of `specs`."""
    if ray_address is None:
        return run_specs(specs, workers=workers, on_progress=on_progress, should_stop=should_stop, on_trial=on_trial)
    from training.distributed import run_on_ray

    return run_on_ray(specs, address=ray_address, on_progress=on_progress, should_stop=should_stop, on_trial=on_trial)


def run_architectures(
    arches: Sequence[str],
    task: TaskSpec,
    *,
    trials: int,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    n_test: int = N_TEST,
    workers: int = 1,
    ray_address: str | None = None,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_trial: OnTrial | None = None,
) -> dict[str, list[TrialRecord]]:
    """Every trial of every architecture in one pool (or on one Ray cluster), so a slow architecture never leaves
    a core idle."""
    specs = [
        spec
        for arch in arches
        for spec in plan_trials(arch, task, trials=trials, seed=seed, overrides=overrides, n_test=n_test)
    ]
    records = run_trials(
        specs,
        workers=workers,
        ray_address=ray_address,
        on_progress=on_progress,
        should_stop=should_stop,
        on_trial=on_trial,
    )
    by_arch: dict[str, list[TrialRecord]] = {arch: [] for arch in arches}
    for spec, record in zip(specs, records, strict=True):
        by_arch[spec.arch].append(record)
    return by_arch
