"""Fixtures shared by the training tests: one thread for tiny models, a migrated SQLite registry per test (the
registry and study tests use it). The Ray tests' cluster is the session's (tests/conftest.py `ray_address`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from training.registry import Registry
from training.settings import get_settings


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny recurrent models run faster on one thread, and far faster when other jobs share the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
    """Point the project's settings (and so the CLI and alembic's env.py) at the test database."""
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
