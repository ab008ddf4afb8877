"""Fixtures for the registry tests: a migrated SQLite file per test, and trial records built from tiny,
untrained models (the registry stores whatever weights it is given)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from training.architectures import build_model, default_config
from training.protocol import CurvePoint, TestResult, TrialRecord, TrialResult
from training.registry import Registry
from training.task import TaskSpec, get_task
from training.train_config import TrainConfig

MakeRecord = Callable[..., TrialRecord]


@pytest.fixture
def task() -> TaskSpec:
    return get_task("6b")


def make_trial_record(
    arch: str = "lstm",
    *,
    seed: int = 0,
    wrong_argmax: int = 10,
    wrong_paper: int = 20,
    sequences_to_criterion: int | None = 5_000,
    task: TaskSpec | None = None,
    **config: object,
) -> TrialRecord:
    task = task or get_task("6b")
    torch.manual_seed(seed)
    model_config = default_config(arch, n_classes=task.n_classes)
    if config:
        model_config = type(model_config)(**{**model_config.__dict__, **config})
    model = build_model(model_config).eval()
    seen = sequences_to_criterion or 10_000
    trial = TrialResult(
        model=model,
        model_config=model_config,
        train_config=TrainConfig(max_sequences=10_000),
        task=task,
        seed=seed,
        converged=sequences_to_criterion is not None,
        sequences_seen=seen,
        sequences_to_criterion=sequences_to_criterion,
        curve=[CurvePoint(seen // 2, 0.9, 0.4), CurvePoint(seen, 0.05, 1.0)],
        wall_seconds=1.5,
    )
    return TrialRecord(trial=trial, test=TestResult(n_test=3000, wrong_argmax=wrong_argmax, wrong_paper=wrong_paper))


@pytest.fixture
def make_record() -> MakeRecord:
    return make_trial_record


@pytest.fixture(params=["sqlite", "postgresql"])
def any_registry(request: pytest.FixtureRequest, db_url: str) -> Iterator[Registry]:
    """A migrated registry on SQLite, then on a fresh PostgreSQL database: the queue and the history must behave
    the same on both."""
    url = db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    registry = Registry(url)
    registry.upgrade()
    yield registry
    registry.close()
