"""One trial as a unit of work for any engine: what it is (`TrialSpec`), running it (`execute_trial`), and its
result as plain data that crosses a process or machine boundary (`TrialPayload`). The local process pool
(training/experiment.py) and a Ray cluster (training/distributed.py) both run trials through this module, so a
trial trains, tests and travels back the same way on either.

    python -c "from training.trial import plan_trials; from training.task import get_task; \
print(plan_trials('lstm', get_task('6b'), trials=2, seed=0, overrides=None, n_test=3000))"
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from training.architectures import build_model, config_from_dict, default_config
from training.evaluate import evaluate
from training.models import config_to_dict
from training.protocol import CurvePoint, TestResult, TrialProgress, TrialRecord, TrialResult
from training.task import TaskSpec
from training.train import Progress, default_train_config, train_trial
from training.train_config import TrainConfig

# Trials report progress at most this often, so reporting never dominates a fast trial.
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


# Called once per finished trial, in the driver. The local pool calls it in the order of the specs, a Ray cluster
# as trials arrive: a caller that records trials must not depend on the order.
OnTrial = Callable[[TrialSpec, TrialRecord], None]


def plan_trials(
    arch: str, task: TaskSpec, *, trials: int, seed: int, overrides: dict[str, Any] | None, n_test: int
) -> list[TrialSpec]:
    """Trial i of an architecture uses seed + i, so a report is reproducible trial by trial."""
    if trials < 1:
        raise ValueError("trials must be >= 1")
    config = default_train_config(arch, task, **(overrides or {}))
    return [TrialSpec(arch, i + 1, trials, seed + i, task.to_dict(), config.to_dict(), n_test) for i in range(trials)]


def execute_trial(
    spec: TrialSpec,
    on_progress: Callable[[TrialProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrialRecord:
    """Train and test one trial in this process; `on_progress` hears from it at most every PROGRESS_INTERVAL_S
    (and at its end); `should_stop` cancels it (`training.train.TrainingCancelled`)."""
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


@dataclass(frozen=True)
class TrialPayload:
    """A finished trial as plain data for another process (a pool's or a Ray cluster's driver). The model
    travels as safetensors bytes, like a checkpoint: no pickled module crosses the boundary."""

    spec: TrialSpec
    weights: bytes
    model_config: dict[str, Any]
    converged: bool
    sequences_seen: int
    curve: list[tuple[int, float, float]]
    wall_seconds: float
    test: tuple[int, int, int]  # n_test, wrong_argmax, wrong_paper

    @classmethod
    def of(cls, spec: TrialSpec, record: TrialRecord) -> TrialPayload:
        trial = record.trial
        return cls(
            spec=spec,
            weights=save_tensors(trial.model.state_dict()),
            model_config=config_to_dict(trial.model_config),
            converged=trial.converged,
            sequences_seen=trial.sequences_seen,
            curve=[(p.sequences, p.train_error, p.train_accuracy) for p in trial.curve],
            wall_seconds=trial.wall_seconds,
            test=(record.test.n_test, record.test.wrong_argmax, record.test.wrong_paper),
        )

    def record(self) -> TrialRecord:
        """The trial again, its model rebuilt from the weights (in eval mode)."""
        spec = self.spec
        model_config = config_from_dict(self.model_config)
        model = build_model(model_config)
        model.load_state_dict(load_tensors(self.weights))
        model.eval()
        trial = TrialResult(
            model=model,
            model_config=model_config,
            train_config=TrainConfig(**spec.train_config),
            task=TaskSpec.from_dict(spec.task),
            seed=spec.seed,
            converged=self.converged,
            sequences_seen=self.sequences_seen,
            sequences_to_criterion=self.sequences_seen if self.converged else None,
            curve=[CurvePoint(*point) for point in self.curve],
            wall_seconds=self.wall_seconds,
        )
        return TrialRecord(trial=trial, test=TestResult(*self.test))
