"""The `temporal-order` command line: offline commands live here; `service.cli` adds the online ones.

temporal-order --help
"""

from __future__ import annotations

import typer

from training.cli import commands, registry_commands, study_commands

app = typer.Typer(
    name="temporal-order",
    help="Train, measure and serve classifiers for the LSTM paper's temporal order problem.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
commands.register(app)
registry_commands.register(app)
study_commands.register(app)
