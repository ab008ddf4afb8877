"""Fixtures for the study tests: a migrated SQLite registry per test and a grid small enough to train in
seconds (T=20 and 24, a few hundred sequences per trial)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from training.registry import Registry
from training.settings import get_settings
from training.study.grid import StudyGrid


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    registry = Registry(db_url)
    registry.upgrade()
    yield registry
    registry.close()


@pytest.fixture
def settings_url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def tiny_grid(**changes: object) -> StudyGrid:
    settings: dict[str, object] = {
        "lags": (20, 24),
        "arches": ("rnn",),
        "trials": 2,
        "budget": 100,
        "n_test": 20,
    }
    settings.update(changes)
    return StudyGrid(**settings)  # type: ignore[arg-type]
