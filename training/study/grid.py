"""Task 6b scaled to a sequence length T, the study's grid, and each trial's identity.

python -c "from training.study.grid import lag_task; print(lag_task(400))"
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from training.architectures import default_config
from training.models import config_to_dict
from training.task import TaskSpec
from training.trial import TrialSpec, plan_trials

DEFAULT_LAGS: tuple[int, ...] = (100, 200, 400, 700, 1000)
# Below this the scaled ranges collapse onto the start symbol and each other.
MIN_LENGTH = 20
# The task 6b is written in: lengths T..1.1T and three relevant positions at these fractions of T (1-based).
_SCALED_6B_RANGES: tuple[tuple[int, int], ...] = ((10, 20), (33, 43), (66, 76))
_BASE_NAME = "6b"


def lag_task(length: int) -> TaskSpec:
    """Task 6b scaled to sequence length T: length uniform in T..1.1T, t1 in [0.10T, 0.20T], t2 in
    [0.33T, 0.43T], t3 in [0.66T, 0.76T]. T = 100 is task 6b itself (same name, same spec)."""
    if length < MIN_LENGTH:
        raise ValueError(f"sequence length T={length} is too short: the study's tasks need T >= {MIN_LENGTH}")
    # Integer arithmetic: exact for every T, and 100 gives back the paper's positions.
    ranges = tuple((low * length // 100, high * length // 100) for low, high in _SCALED_6B_RANGES)
    name = _BASE_NAME if length == 100 else f"{_BASE_NAME}@T{length}"
    return TaskSpec(name, min_length=length, max_length=length * 110 // 100, relevant_ranges=ranges)


def minimal_lag(task: TaskSpec) -> int:
    """The shortest distance, in steps, from the first relevant symbol to the trigger: what must be bridged."""
    return task.min_length - task.relevant_ranges[0][1]


def parse_lags(text: str) -> tuple[int, ...]:
    """'100,200,400' → (100, 200, 400); each item named in the error when it is not a usable length."""
    lags: list[int] = []
    for index, item in enumerate(text.split(","), start=1):
        item = item.strip()
        try:
            value = int(item)
        except ValueError:
            raise ValueError(f"--lags item {index} ({item!r}) is not a whole number") from None
        if value < MIN_LENGTH:
            raise ValueError(f"--lags item {index} ({value}) is below the shortest study length {MIN_LENGTH}")
        if value in lags:
            raise ValueError(f"--lags item {index} ({value}) is given twice")
        lags.append(value)
    return tuple(lags)


@dataclass(frozen=True)
class StudyGrid:
    """Which trials a study runs: every architecture at every T, `trials` seeds each (seed, seed + 1, ...).

    `budget` is the most training sequences a trial may use (None: each architecture's default)."""

    lags: tuple[int, ...]
    arches: tuple[str, ...]
    trials: int
    budget: int | None = None
    seed: int = 0
    n_test: int = 3000

    def __post_init__(self) -> None:
        if not self.lags or not self.arches:
            raise ValueError("a study needs at least one length T and one architecture")
        if self.trials < 1 or self.n_test < 1 or (self.budget is not None and self.budget < 1):
            raise ValueError("trials, n_test and budget must be >= 1")
        for length in self.lags:
            lag_task(length)  # validates T
        for arch in self.arches:
            default_config(arch)  # validates the name

    def settings(self) -> dict[str, Any]:
        """What a trial's result depends on beyond its architecture, T and seed."""
        return {"budget": self.budget, "n_test": self.n_test}


@dataclass(frozen=True)
class StudyTrial:
    """One trial of the grid: the work spec a worker runs, its T and its identity."""

    length: int
    spec: TrialSpec
    key: str


def trial_key(spec: TrialSpec) -> str:
    """A trial's identity: architecture, task (so T), seed and every setting it trains and tests with. Two
    trials with the same key give the same result on the same machine, so a recorded one is never rerun."""
    task = TaskSpec.from_dict(spec.task)
    identity = {
        "arch": spec.arch,
        "task": spec.task,
        "seed": spec.seed,
        "model_config": config_to_dict(default_config(spec.arch, n_classes=task.n_classes)),
        "train_config": spec.train_config,
        "n_test": spec.n_test,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def plan_study(grid: StudyGrid) -> list[StudyTrial]:
    """Every trial, shortest T first (cheap points finish early), architectures interleaved within a T."""
    planned: list[StudyTrial] = []
    for length in sorted(grid.lags):
        task = lag_task(length)
        for arch in grid.arches:
            specs: Sequence[TrialSpec] = plan_trials(
                arch,
                task,
                trials=grid.trials,
                seed=grid.seed,
                overrides={"max_sequences": grid.budget},
                n_test=grid.n_test,
            )
            planned += [StudyTrial(length, spec, trial_key(spec)) for spec in specs]
    return planned
