"""Engines for the registry. SQLite gets WAL, foreign keys and a busy timeout on every connection; a plain
`postgresql://` URL gets the psycopg 3 driver (the `postgres` extra); any other URL is used as SQLAlchemy gives it.
`retry_transient` repeats an operation that failed for a reason that passes by itself (a lock, a dropped
connection); `best_effort` skips, with a warning, a write that a later one supersedes.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from training.registry.records import MissingDatabaseDriver

logger = logging.getLogger("training.registry")

T = TypeVar("T")

# How long a SQLite connection waits for another process's write lock before failing: a training job commits
# one trial (a checkpoint of a few hundred KB) per transaction, which takes far less than this. A URL's own
# `?timeout=SECONDS` (pysqlite's name for it) overrides it.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Retries of a write that failed transiently, the delay doubling from the first up to the cap. With SQLite
# each attempt also waits out the busy timeout, so a lock held for minutes is ridden out.
TRANSIENT_RETRIES = 6
TRANSIENT_FIRST_DELAY_S = 0.5
TRANSIENT_MAX_DELAY_S = 8.0

# Error texts of faults that pass by themselves: SQLite's locks, PostgreSQL's dropped connections.
_TRANSIENT_TEXTS = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "server closed the connection",
    "connection reset",
    "connection refused",
    "terminating connection",
)


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None (another database, in memory, or a `file:` URI)."""
    parsed = make_url(url)
    return _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None when it does not exist: deleting or replacing the file changes it."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _busy_timeout_ms(url: URL) -> int:
    timeout = url.query.get("timeout")
    if isinstance(timeout, str):
        return max(0, int(float(timeout) * 1000))
    return SQLITE_BUSY_TIMEOUT_MS


def _on_sqlite_connect(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (the service) keep reading while a writer (a training job) commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    finally:
        cursor.close()


# The driver SQLAlchemy picks for a URL that names none would be psycopg2; the `postgres` extra installs psycopg 3.
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg"}
# What to install for a backend's missing driver.
_DRIVER_EXTRAS = {"postgresql": "pip install 'temporal-order[postgres]'"}


def with_default_driver(url: str | URL) -> URL:
    """`url` with the driver this project installs where the URL names none (`postgresql://` → psycopg 3)."""
    parsed = make_url(url)
    return parsed.set(drivername=_DEFAULT_DRIVERS.get(parsed.drivername, parsed.drivername))


def _create(url: URL, given: str | URL, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except ImportError as error:  # SQLAlchemy imports the driver when the engine is made
        backend = url.get_backend_name()
        fix = _DRIVER_EXTRAS.get(backend, f"install the Python driver for {backend}")
        shown = make_url(given).render_as_string(hide_password=True)
        raise MissingDatabaseDriver(
            f"registry {shown}: its database driver is not installed ({error.name or error}): {fix}"
        ) from None


def _open_existing_only(
    path: Path, may_create: Callable[[], bool], _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    """Open the file read-write without creating it, once `may_create` says no: a new connection to a deleted
    registry then fails instead of quietly starting an empty one."""
    if not may_create():
        cargs[0] = f"{path.resolve().as_uri()}?mode=rw"
        cparams["uri"] = True


def make_engine(url: str | URL, *, may_create: Callable[[], bool] | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`; for a SQLite file, its directory is created first, and the file itself only while
    `may_create()` (when given) is true.

    Raises `MissingDatabaseDriver` when the URL's driver is not installed.
    """
    parsed = with_default_driver(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return _create(parsed, url, **kwargs)
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = _create(parsed, url, **kwargs)
    event.listen(engine, "connect", functools.partial(_on_sqlite_connect, busy_timeout_ms=_busy_timeout_ms(parsed)))
    if path is not None and may_create is not None:
        event.listen(engine, "do_connect", functools.partial(_open_existing_only, path, may_create))
    return engine


def is_transient(error: BaseException) -> bool:
    """Whether `error` is a database fault that passes by itself (a lock, a busy database, a dropped
    connection), so that repeating the same operation may succeed."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    text = str(error.orig).lower()
    return any(marker in text for marker in _TRANSIENT_TEXTS)


def retry_transient(
    operation: Callable[[], T],
    *,
    what: str,
    retries: int = TRANSIENT_RETRIES,
    first_delay_s: float = TRANSIENT_FIRST_DELAY_S,
    max_delay_s: float = TRANSIENT_MAX_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`operation()`, repeated after doubling delays while it fails transiently; any other error, or the
    transient one once the retries are spent, is raised."""
    delay = first_delay_s
    for attempt in range(retries + 1):
        try:
            return operation()
        except Exception as error:
            if attempt == retries or not is_transient(error):
                raise
            cause = error.orig if isinstance(error, DBAPIError) else error
            logger.warning("%s failed (%s); retry %d of %d in %.1f s", what, cause, attempt + 1, retries, delay)
            sleep(delay)
            delay = min(delay * 2, max_delay_s)
    raise AssertionError("unreachable")


def best_effort(operation: Callable[[], T], *, what: str) -> T | None:
    """`operation()`, or None (logged) when the database fails it: for writes a later one supersedes (progress)
    and reads asked again later (a cancel poll)."""
    try:
        return operation()
    except SQLAlchemyError as error:
        logger.warning("%s failed, skipped (%s)", what, getattr(error, "orig", error))
        return None
