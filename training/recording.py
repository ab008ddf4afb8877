"""Train trials and record them: the one way the CLI's `train` and `bootstrap` and the service's training jobs
turn trials into model versions.

    temporal-order train --arch lstm --trials 3

Each trial is stored the moment it reaches the driver (a later fault never loses it), from the local process pool
or a Ray cluster; an architecture's run is closed once all its trials are in, activating its best trial if asked.
A run left open by a fault or a cancel is closed without activating anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from training.evaluate import N_TEST
from training.experiment import run_architectures
from training.protocol import TrialOutcome, TrialProgress, TrialRecord
from training.registry import Registry, RunInfo, VersionInfo, retry_transient
from training.task import TaskSpec
from training.trial import TrialSpec

logger = logging.getLogger("training.recording")


@dataclass(frozen=True)
class TrainedArch:
    """One architecture's trials: their outcomes in trial order, and the run that holds them (None: not recorded)."""

    arch: str
    outcomes: list[TrialOutcome]
    run: RunInfo | None


def train_and_record(
    registry: Registry | None,
    arches: Sequence[str],
    task: TaskSpec,
    *,
    trials: int,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    n_test: int = N_TEST,
    workers: int = 1,
    ray_address: str | None = None,
    activate: bool = True,
    job_id: str | None = None,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_recorded: Callable[[VersionInfo], None] | None = None,
) -> list[TrainedArch]:
    """Train `trials` trials of each architecture (on the local pool of `workers`, or on the Ray cluster at
    `ray_address`) and record each in `registry` (None: train only).

    Raises `training.train.TrainingCancelled` when `should_stop` fires; the trials recorded by then stay.
    """
    open_runs: dict[str, int] = {}
    recorded: dict[str, int] = {}
    closed: dict[str, RunInfo] = {}
    who = f"job {job_id}" if job_id else "train"

    def record(spec: TrialSpec, trial: TrialRecord) -> None:
        if registry is None:
            return
        if spec.arch not in open_runs:
            open_runs[spec.arch] = retry_transient(
                lambda: registry.start_run(spec.arch, task, trial, job_id=job_id), what=f"{who}: open the run"
            )
        run_id = open_runs[spec.arch]
        version = retry_transient(
            lambda: registry.add_trial(run_id, spec.index - 1, trial), what=f"{who}: {spec.arch} trial {spec.index}"
        )
        if on_recorded is not None:
            on_recorded(version)
        recorded[spec.arch] = recorded.get(spec.arch, 0) + 1
        # A Ray cluster hands trials back as they finish, not in order: the run is complete when all are in.
        if recorded[spec.arch] == spec.trials:
            closed[spec.arch] = retry_transient(
                lambda: registry.finish_run(run_id, activate=activate), what=f"{who}: close the run"
            )
            del open_runs[spec.arch]

    try:
        by_arch = run_architectures(
            arches,
            task,
            trials=trials,
            seed=seed,
            overrides=overrides,
            n_test=n_test,
            workers=workers,
            ray_address=ray_address,
            on_progress=on_progress,
            should_stop=should_stop,
            on_trial=record,
        )
    except BaseException:
        for arch, run_id in open_runs.items():
            try:
                if registry is not None:  # always: runs are opened only in a registry
                    registry.finish_run(run_id, activate=False)
            except Exception:
                logger.exception("%s: closing the %s run failed", who, arch)
        raise
    return [TrainedArch(arch, [trial.outcome for trial in by_arch[arch]], closed.get(arch)) for arch in arches]
