"""Alembic, driven from code: `Registry.upgrade`, `ensure_migrated` and the tests use these instead of the
`alembic` command, handing env.py the connection to migrate through.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

# The migrations live at the repository root beside alembic.ini, where `alembic upgrade head` finds them.
ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for this project's migrations; with `connection`, env.py migrates through it."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
