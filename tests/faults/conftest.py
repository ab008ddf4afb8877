"""Fixtures for fault injection: a migrated SQLite registry with a short busy timeout, a second connection
that holds its write lock, and a way to run a training job's process by hand."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from service.schemas import TrainJobCreate
from tests.support.registry import make_registry, record_untrained
from tests.support.server import LiveServer, start_server
from training.registry import Registry

# A busy timeout of a fraction of a second: a held lock fails a write at once instead of after 30 s.
SHORT_TIMEOUT_S = 0.2
TINY_JOB = TrainJobCreate(arch="lstm", task="6b", trials=3, max_sequences=100, seed=0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "registry.db"
    registry = Registry(f"sqlite:///{path}")
    try:
        registry.upgrade()
    finally:
        registry.close()
    return path


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}?timeout={SHORT_TIMEOUT_S}"


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    registry = Registry(db_url)
    yield registry
    registry.close()


@contextmanager
def _write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield connection
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


WriteLock = Callable[[Path], AbstractContextManager[sqlite3.Connection]]


@pytest.fixture
def write_lock() -> WriteLock:
    """Hold a database's write lock from a second connection (BEGIN IMMEDIATE), as another process might."""
    return _write_lock


@pytest.fixture
def tiny_job() -> TrainJobCreate:
    return TINY_JOB


@pytest.fixture(scope="module")
def faulty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live service whose registry holds an lstm and an rnn (the two the tests use), with two planted faults: lstm's
    version 2 (not active) has checkpoint bytes that no longer match their sha256, and rnn's active checkpoint
    was overwritten with text that is not UTF-8 (the database driver itself fails to read it)."""
    directory = tmp_path_factory.mktemp("faulty")
    path = directory / "registry.db"
    url = make_registry(path, arches=("lstm", "rnn"))
    registry = Registry(url)
    try:
        record_untrained(registry, "lstm", seed=7, activate=False)
    finally:
        registry.close()
    with sqlite3.connect(path) as connection:
        select = "SELECT checkpoint FROM model_versions WHERE arch = 'lstm' AND version = 2"
        (checkpoint,) = connection.execute(select).fetchone()
        flipped = checkpoint[:-1] + bytes([checkpoint[-1] ^ 0xFF])  # same length, one byte changed
        connection.execute("UPDATE model_versions SET checkpoint = ? WHERE arch = 'lstm' AND version = 2", (flipped,))
        connection.execute("UPDATE model_versions SET checkpoint = CAST(x'ff00fe' AS TEXT) WHERE arch = 'rnn'")
    server = start_server(url, directory)
    yield server
    server.stop()
