"""Commands added to the `temporal-order` CLI by the service side."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
