"""Settings for the whole suite, the PostgreSQL server the registry, queue and service tests share, and the Ray
cluster the Ray tests share.

A throwaway server: a fresh cluster (trust auth, loopback only) on a free port, stopped and deleted afterwards.
`make test` installs Debian's `postgresql` when it is missing (.ci/run); under CI=true a missing server fails the
run instead of skipping the PostgreSQL tests."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: on a loaded machine (a shared CI runner, two suites on two cores) an example that
# usually takes milliseconds can take half a second, and a wall-clock threshold would fail a correct test.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def _named_loggers() -> dict[str, logging.Logger]:
    return {name: lg for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}


@pytest.fixture(autouse=True)
def isolated_logging_configuration() -> Iterator[None]:
    """Logging set up by one test (an app built in-process, Alembic's fileConfig, a log-format test) is undone
    after it: a handler left on a stream that its test closed turns every later log line into a "Logging error"
    on stderr, which tests that read a command's output then see. pytest's own capture handlers are left to it."""
    root = logging.getLogger()
    root_handlers, root_level = set(root.handlers), root.level
    saved = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for name, lg in _named_loggers().items()}
    yield
    for handler in root.handlers[:]:
        if handler not in root_handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
    root.setLevel(root_level)
    for name, lg in _named_loggers().items():
        handlers, level, propagate, disabled = saved.get(name, ([], logging.NOTSET, True, False))
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled


def postgres_bin() -> Path | None:
    """The server's binaries: on PATH, or Debian's versioned folder (the newest)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return installed[-1].parent if installed else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the whole session, its URL; skipped (failed under CI=true) when none is installed.
    Tests that need tables of their own take `postgres_url` (a fresh database on it)."""
    bindir = postgres_bin()
    if bindir is None:
        message = "no PostgreSQL server here (Debian: apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the PostgreSQL tests, not skip them")
        pytest.skip(message)
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="temporal-order-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(directory, pwd.getpwnam("postgres").pw_uid, -1)
    data, port = directory / "data", _free_port()
    try:
        subprocess.run(
            [*as_user, bindir / "initdb", "-D", data, "--auth=trust", "-U", "registry", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            [*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", directory / "log", "-w", "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://registry@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's PostgreSQL server, so tests sharing it do not share tables."""
    from tests.support.postgres import new_postgres_database  # SQLAlchemy only where PostgreSQL is used

    return new_postgres_database(postgres_server)


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A real local Ray cluster of 2 CPUs, this process its driver, started on first use and shared by the session
    (each xdist worker starts its own, on ports Ray picks): its address, as `ray start --head` prints. A test that
    needs processes of its own joins it as another driver (another Ray job, with workers of its own)."""
    from tests.support.ray_cluster import local_ray_cluster  # Ray only where a test asks for the cluster

    with local_ray_cluster() as address:
        yield address
