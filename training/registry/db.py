"""Engines for the registry. SQLite gets WAL, foreign keys and a busy timeout on every connection; a plain
`postgresql://` URL gets the psycopg 3 driver (the `postgres` extra); any other URL is used as SQLAlchemy gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from training.registry.records import MissingDatabaseDriver

# How long a SQLite connection waits for another process's write lock before failing: a training job commits
# a whole run (a few MB of checkpoints) in one transaction, which takes far less than this.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (the service) keep reading while a writer (a training job) commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url`; for a SQLite file, its directory is created first.

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
    event.listen(engine, "connect", _on_sqlite_connect)
    return engine
