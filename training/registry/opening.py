"""Opening the registry for a command or the service: the embedded default is created and migrated on first
use; a configured database is migrated only on purpose.

    registry = open_registry(get_settings(), announce=print)     # what `temporal-order train` does

The default (no TEMPORAL_ORDER_DATABASE_URL) is a SQLite file under var/ that belongs to this checkout, so a
fresh clone trains and serves without a separate `db upgrade`. A configured URL may be a shared PostgreSQL that
other replicas use: its schema changes only through `temporal-order db upgrade` or a command's `--migrate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from training.registry.migrations import current_revisions, head_revisions, known_revisions
from training.registry.store import Registry
from training.settings import Settings

logger = logging.getLogger(__name__)


def open_registry(
    settings: Settings, *, migrate: bool = False, announce: Callable[[str], None] = logger.info
) -> Registry:
    """The registry of `settings`, its schema at the migrations' head.

    The embedded default, or any database when `migrate` is set, is migrated when behind, and `announce` gets
    one line saying so; otherwise a database that is behind raises `SchemaNotMigrated` naming the fix.
    """
    registry = Registry(settings.database_url)
    try:
        if migrate or settings.database_url_is_default:
            line = migrate_if_behind(registry, embedded=not migrate)
            if line is not None:
                announce(line)
        registry.ensure_migrated()
    except BaseException:
        registry.close()
        raise
    return registry


def migrate_if_behind(registry: Registry, *, embedded: bool = False) -> str | None:
    """Upgrade `registry` to head if it is behind; the line to show, or None when it was at head already.

    A database at a revision these migrations do not know (written by a newer version) is left alone, for
    `ensure_migrated` to report.
    """
    before = current_revisions(registry.engine)
    if before == head_revisions() or not before <= known_revisions():
        return None
    try:
        registry.upgrade()
    except SQLAlchemyError:
        # Two first uses at once: the other process migrated it while this one tried.
        if current_revisions(registry.engine) == head_revisions():
            return None
        raise
    what = "the embedded default registry" if embedded else "registry"
    after = registry.current_revision()
    if not before:
        return f"created {what} {registry.display_url} (schema revision {after})"
    return f"migrated {what} {registry.display_url} from schema revision {', '.join(sorted(before))} to {after}"
