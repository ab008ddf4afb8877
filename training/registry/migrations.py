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

# A checkout (or an editable install) keeps the migrations at the repository root beside alembic.ini, where
# `alembic upgrade head` finds them; a wheel ships the same files inside this package (see setup.py).
_PACKAGED_SCRIPTS = Path(__file__).resolve().with_name("migration_scripts")
_CHECKOUT_SCRIPTS = Path(__file__).resolve().parents[2] / "alembic"


def scripts_dir() -> Path:
    """The folder of env.py and versions/: the packaged copy in a wheel install, else the checkout's."""
    for candidate in (_PACKAGED_SCRIPTS, _CHECKOUT_SCRIPTS):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError(
        f"the registry's Alembic migrations are missing: neither {_PACKAGED_SCRIPTS} nor {_CHECKOUT_SCRIPTS} "
        "holds env.py (reinstall temporal-order)"
    )


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for this project's migrations; with `connection`, env.py migrates through it."""
    config = Config()
    config.set_main_option("script_location", str(scripts_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def known_revisions() -> set[str]:
    """Every revision the migrations know; a database at another one is newer than this code."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
