"""Entry point of the `temporal-order` console script: the one place that assembles its commands.

    temporal-order serve --host 127.0.0.1 --port 8000
    temporal-order classify "EabXcd…B" --url http://127.0.0.1:8000     # works in a client-only install too

`training.cli` holds the offline commands, `service.cli_serve` the service's, `service.cli_client` the SDK's. A
client-only install (`pip install temporal-order`, without the `server` extra) has the SDK commands; the offline
and server commands are still listed there and answer with one line naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import typer

from service import cli_client

SERVER_EXTRA = "temporal-order[server]"
# What the `server` extra brings: training.cli's commands and service.cli_serve's. A test checks this list
# against the commands a full install registers, so a new command cannot be forgotten here.
SERVER_COMMANDS = ("generate", "train", "report", "study", "db", "models", "activate", "serve", "bootstrap", "worker")
# Modules of the `server` extra that those commands import; the first one missing is named in their answer.
SERVER_MODULES = ("torch", "numpy", "sqlalchemy", "alembic", "pydantic_settings", "fastapi", "uvicorn")


def missing_server_module() -> str | None:
    """The first module of the server extra that is not installed (looked up without importing it), or None."""
    return next((name for name in SERVER_MODULES if importlib.util.find_spec(name) is None), None)


def _needs_server(name: str, missing_module: str) -> Callable[[], None]:
    def command() -> None:
        raise cli_client.fail(
            f"`temporal-order {name}` needs the server extra ({missing_module} is not installed): "
            f"pip install '{SERVER_EXTRA}'"
        )

    return command


def assemble(missing_module: str | None) -> typer.Typer:
    """Every command: the offline and server ones where `missing_module` is None, else one-line hints for them."""
    app = typer.Typer(
        name="temporal-order",
        help="Train, measure and serve classifiers for the LSTM paper's temporal order problem."
        if missing_module is None
        else "Client of a temporal-order service (install the `server` extra to train and serve).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    if missing_module is None:
        import training.cli
        from service import cli_serve, cli_worker

        training.cli.register(app)
        cli_serve.register(app)
        cli_worker.register(app)
    else:
        for name in SERVER_COMMANDS:
            app.command(
                name,
                help=f"Needs the `server` extra: pip install '{SERVER_EXTRA}'.",
                # Any arguments (`db upgrade`, `train --arch lstm`, `--help`) get the same one-line answer.
                context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                add_help_option=False,
            )(_needs_server(name, missing_module))
    cli_client.register(app)
    return app


def build_app() -> typer.Typer:
    """The command line of this install: everything with the server extra, else the client commands and hints."""
    return assemble(missing_server_module())


def main() -> None:
    build_app()()
