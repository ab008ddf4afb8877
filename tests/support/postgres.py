"""A fresh database on the test session's PostgreSQL server (tests/conftest.py starts it)."""

from __future__ import annotations

import uuid


def new_postgres_database(server_url: str) -> str:
    """Create an empty database on the PostgreSQL server at `server_url`; its URL (for fixtures of wider scope)."""
    import sqlalchemy  # only here: most of the suite never needs it at collection

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
