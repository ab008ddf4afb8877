"""Registry commands: db upgrade, models, activate (filled in by the registry work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the registry commands to `app`."""
