"""Trials of the paper's protocol: each trial trains with its own seed, then tests on fresh sequences.
Trials are independent, so they run in a pool of worker processes (one torch thread each).

    temporal-order train --arch all --trials 10 --workers 2
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from training.architectures import build_model, config_from_dict, default_config
from training.evaluate import N_TEST, evaluate
from training.lifetime import exit_with_parent
from training.models import config_to_dict
from training.protocol import CurvePoint, TestResult, TrialProgress, TrialRecord, TrialResult
from training.task import TaskSpec
from training.train import Progress, default_train_config, train_trial
from training.train_config import TrainConfig

# Workers report progress at most this often, so the queue never dominates a fast trial.
PROGRESS_INTERVAL_S = 0.5


@dataclass(frozen=True)
class TrialSpec:
    """One unit of work: everything a worker process needs, all of it picklable plain data."""

    arch: str
    index: int  # 1-based
    trials: int
    seed: int
    task: dict[str, Any]
    train_config: dict[str, Any]
    n_test: int


def plan_trials(
    arch: str, task: TaskSpec, *, trials: int, seed: int, overrides: dict[str, Any] | None, n_test: int
) -> list[TrialSpec]:
    """Trial i of an architecture uses seed + i, so a report is reproducible trial by trial."""
    if trials < 1:
        raise ValueError("trials must be >= 1")
    config = default_train_config(arch, task, **(overrides or {}))
    return [TrialSpec(arch, i + 1, trials, seed + i, task.to_dict(), config.to_dict(), n_test) for i in range(trials)]


def _execute(
    spec: TrialSpec,
    on_progress: Callable[[TrialProgress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> TrialRecord:
    task = TaskSpec.from_dict(spec.task)
    last_report = [0.0]

    def report(progress: Progress) -> None:
        now = time.monotonic()
        if on_progress is None or (
            now - last_report[0] < PROGRESS_INTERVAL_S and progress.sequences < progress.max_sequences
        ):
            return
        last_report[0] = now
        on_progress(
            TrialProgress(
                spec.arch,
                spec.index,
                spec.trials,
                progress.sequences,
                progress.max_sequences,
                progress.train_error,
                progress.train_accuracy,
            )
        )

    result = train_trial(
        task,
        model_config=default_config(spec.arch, n_classes=task.n_classes),
        train_config=TrainConfig(**spec.train_config),
        seed=spec.seed,
        on_progress=report,
        should_stop=should_stop,
    )
    test = evaluate(result.model, task, seed=spec.seed, n_test=spec.n_test)
    return TrialRecord(trial=result, test=test)


# ---- worker processes -----------------------------------------------------------------------------

_progress_queue: Any = None
_stop_event: Any = None


def _init_worker(progress_queue: Any, stop_event: Any) -> None:
    global _progress_queue, _stop_event
    # A worker whose parent was killed would otherwise block forever writing its result to a pipe nobody reads.
    exit_with_parent()
    _progress_queue, _stop_event = progress_queue, stop_event
    torch.set_num_threads(1)


def _worker(spec: TrialSpec) -> dict[str, Any]:
    def put(progress: TrialProgress) -> None:
        _progress_queue.put(progress)

    return _payload(spec, _execute(spec, put, _stop_event.is_set))


def _payload(spec: TrialSpec, record: TrialRecord) -> dict[str, Any]:
    """A trial as plain data for another process (a pool's or a Ray cluster's driver); `_rebuild` undoes it."""
    trial = record.trial
    # Models cross the process boundary as safetensors bytes, like checkpoints: no pickled modules.
    return {
        "spec": spec,
        "weights": save_tensors(trial.model.state_dict()),
        "model_config": config_to_dict(trial.model_config),
        "converged": trial.converged,
        "sequences_seen": trial.sequences_seen,
        "curve": [(p.sequences, p.train_error, p.train_accuracy) for p in trial.curve],
        "wall_seconds": trial.wall_seconds,
        "test": (record.test.n_test, record.test.wrong_argmax, record.test.wrong_paper),
    }


def _rebuild(payload: dict[str, Any]) -> TrialRecord:
    spec: TrialSpec = payload["spec"]
    model_config = config_from_dict(payload["model_config"])
    model = build_model(model_config)
    model.load_state_dict(load_tensors(payload["weights"]))
    model.eval()
    converged = payload["converged"]
    trial = TrialResult(
        model=model,
        model_config=model_config,
        train_config=TrainConfig(**spec.train_config),
        task=TaskSpec.from_dict(spec.task),
        seed=spec.seed,
        converged=converged,
        sequences_seen=payload["sequences_seen"],
        sequences_to_criterion=payload["sequences_seen"] if converged else None,
        curve=[CurvePoint(*point) for point in payload["curve"]],
        wall_seconds=payload["wall_seconds"],
    )
    return TrialRecord(trial=trial, test=TestResult(*payload["test"]))


# Called with each trial, in the order of the specs, as soon as it and every trial before it have been trained and
# tested, so a caller can record it before the next one starts (a later failure then never loses it).
OnTrial = Callable[[TrialSpec, TrialRecord], None]


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
            record = _execute(spec, on_progress, should_stop)
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
        futures: dict[Future[dict[str, Any]], int] = {pool.submit(_worker, s): i for i, s in enumerate(specs)}
        pending = set(futures)
        delivered = 0
        try:
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                _drain(progress_queue, on_progress)
                if should_stop is not None and should_stop():
                    stop_event.set()
                for future in done:
                    results[futures[future]] = _rebuild(future.result())
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


def run_architectures(
    arches: Sequence[str],
    task: TaskSpec,
    *,
    trials: int,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    n_test: int = N_TEST,
    workers: int = 1,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_trial: OnTrial | None = None,
) -> dict[str, list[TrialRecord]]:
    """Every trial of every architecture in one pool, so a slow architecture never leaves a core idle."""
    specs = [
        spec
        for arch in arches
        for spec in plan_trials(arch, task, trials=trials, seed=seed, overrides=overrides, n_test=n_test)
    ]
    records = run_specs(specs, workers=workers, on_progress=on_progress, should_stop=should_stop, on_trial=on_trial)
    by_arch: dict[str, list[TrialRecord]] = {arch: [] for arch in arches}
    for spec, record in zip(specs, records, strict=True):
        by_arch[spec.arch].append(record)
    return by_arch
