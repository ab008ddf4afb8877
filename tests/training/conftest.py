"""Fixtures shared by the training tests: one thread for tiny models, a migrated SQLite registry per test (the
registry and study tests use it), and a local Ray cluster per test module (the Ray tests use it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.support.ray_cluster import local_ray_cluster
from training.registry import Registry
from training.settings import get_settings


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny recurrent models run faster on one thread, and far faster when other jobs share the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A real local Ray cluster of 2 CPUs, this process its driver; its address, as `ray start --head` prints."""
    with local_ray_cluster() as address:
        yield address


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
