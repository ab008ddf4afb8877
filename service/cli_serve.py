"""The command the service side adds to the `temporal-order` CLI (`bootstrap`, which trains, is an offline one).

temporal-order serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the command imports it itself, so that --help stays light
    from service.settings import ServiceSettings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: TEMPORAL_ORDER_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: TEMPORAL_ORDER_PORT or 8000).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    migrate: Annotated[
        bool,
        typer.Option("--migrate", help="Migrate a configured registry first (the default one under var/ always is)."),
    ] = False,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Also claim and run training jobs in this process (default: TEMPORAL_ORDER_EMBEDDED_WORKER, on); "
            "--no-worker for an API replica beside `temporal-order worker` processes.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn (uvloop, httptools) on the registry's active models."""
    # Importing torch, FastAPI and SQLAlchemy creates hundreds of thousands of objects that live as long as the
    # process: the collector stays off until the app has started and frozen what it built (service/app.py).
    gc.disable()
    try:
        from training.cli.common import opened_registry, ray_extra_or_fail

        given = (("host", host), ("port", port), ("embedded_worker", worker))
        settings = service_settings({key: value for key, value in given if value is not None})
        if settings.embedded_worker:
            # Its jobs would each fail on the missing extra: refuse to start instead, before the heavy imports.
            ray_extra_or_fail(settings.ray_address)

        import uvicorn

        from service.app import create_server_app

        # Migrates the embedded default (or, with --migrate, the configured database) before the app starts; a
        # registry that refuses is one line here rather than a failed start inside uvicorn.
        with opened_registry(settings, migrate=migrate) as registry:
            uvicorn.run(
                create_server_app(settings, registry=registry),
                host=settings.host,
                port=settings.port,
                loop="uvloop",
                http="httptools",
                log_level=log_level,
                access_log=False,
            )
    finally:
        gc.enable()  # also when the settings or the registry stop it before the app starts


def service_settings(overrides: dict[str, Any]) -> ServiceSettings:
    """The service's settings with the command's `overrides`; bad ones end the command with one line each."""
    from pydantic import ValidationError

    from service.settings import ServiceSettings

    try:
        return ServiceSettings(**overrides)
    except ValidationError as error:
        # One line per bad setting, never the value (it may be the API key), never a traceback.
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "settings"
            typer.echo(f"error: TEMPORAL_ORDER_{name.upper()}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command()(serve)
