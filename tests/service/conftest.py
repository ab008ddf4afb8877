"""Fixtures for the service's tests: a migrated SQLite registry with a version of every architecture, and a
real uvicorn serving it on a loopback port (a subprocess; see tests/support/server.py).

`live_server` (session-wide) yields an object with `.url` and `.api_key`; `server_factory` starts further
servers (e.g. on a registry a test corrupts) and stops them at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.registry import make_registry, record_untrained
from tests.support.server import LiveServer, start_server
from training.registry import Registry


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service on a registry with an untrained version of every architecture; shared by the session."""
    directory = tmp_path_factory.mktemp("live")
    url = make_registry(directory / "registry.db")
    server = start_server(url, directory)
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers on registries a test prepares; all are stopped when the test ends."""
    started: list[LiveServer] = []

    def start(database_url: str, **overrides: Any) -> LiveServer:
        server = start_server(database_url, tmp_path, **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def record_version() -> Callable[..., int]:
    """Record another untrained version of an architecture in a registry; returns its version number."""

    def record(database_url: str, arch: str, *, seed: int = 0, activate: bool = True) -> int:
        registry = Registry(database_url)
        try:
            return record_untrained(registry, arch, seed=seed, activate=activate)
        finally:
            registry.close()

    return record
