"""The offline commands of the `temporal-order` command line; `service.cli.build_app` assembles the whole of it.

temporal-order --help

Every command module imports only typer at the top and its heavy dependencies (torch, SQLAlchemy) inside the
commands: `--help` and the client commands do not wait for them.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the offline commands to `app`."""
    from training.cli import commands, registry_commands, study_commands

    commands.register(app)
    registry_commands.register(app)
    study_commands.register(app)
