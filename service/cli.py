"""Entry point of the `temporal-order` console script: the offline commands plus serve and the SDK ones.

    temporal-order serve --host 127.0.0.1 --port 8000
    temporal-order classify "EabXcd…B" --url http://127.0.0.1:8000     # works in a client-only install too

`training.cli` holds the offline commands; this module adds the service's and the SDK's. A client-only install
(`pip install temporal-order`, without the `server` extra) has the SDK commands; the offline and server commands
are still listed there and answer with one line naming the extra to install.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import typer

from service import cli_client

SERVER_EXTRA = "temporal-order[server]"
# What the `server` extra brings: training.cli's commands and service.cli_serve's. A test checks this list
# against the commands a full install registers, so a new command cannot be forgotten here.
SERVER_COMMANDS = ("generate", "train", "report", "study", "db", "models", "activate", "serve", "bootstrap")


def _needs_server(name: str, missing_module: str) -> Callable[[], None]:
    def command() -> None:
        typer.echo(
            f"error: `temporal-order {name}` needs the server extra ({missing_module} is not installed): "
            f"pip install '{SERVER_EXTRA}'",
            err=True,
        )
        raise typer.Exit(1)

    return command


def _client_only_app(missing_module: str) -> typer.Typer:
    app = typer.Typer(
        name="temporal-order",
        help="Client of a temporal-order service (install the `server` extra to train and serve).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    for name in SERVER_COMMANDS:
        app.command(
            name,
            help=f"Needs the `server` extra: pip install '{SERVER_EXTRA}'.",
            # Any arguments (`db upgrade`, `train --arch lstm`, `--help`) get the same one-line answer.
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            add_help_option=False,
        )(_needs_server(name, missing_module))
    return app


def build_app() -> typer.Typer:
    """The full command line where the server extra is installed, else the client commands and hints."""
    try:
        from service import cli_serve
        from training.cli import app
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in ("service", "training"):
            raise  # our own code is broken, not an extra missing
        app = _client_only_app(error.name or "a server dependency")
    else:
        cli_serve.register(app)
    cli_client.register(app)
    return app


def main() -> None:
    # Importing torch, FastAPI and SQLAlchemy creates hundreds of thousands of objects that live as long as the
    # process; the collector's passes over them during the imports cost about a fifth of a command's start-up.
    # `serve` keeps it off until its app has started (service.app collects and freezes everything then).
    gc.disable()
    try:
        app = build_app()
    finally:
        gc.enable()
    app()
