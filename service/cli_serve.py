"""Commands added to the `temporal-order` CLI by the service side.

temporal-order bootstrap                     # migrate; train a default checkpoint where none is active
temporal-order serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import gc
from typing import Annotated, Any

import typer


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
) -> None:
    """Serve the HTTP API with uvicorn (uvloop, httptools) on the registry's active models."""
    gc.disable()  # until the app has started and frozen what it built (see service.cli.main)
    try:
        import uvicorn
        from pydantic import ValidationError

        from service.app import create_server_app
        from service.settings import ServiceSettings
        from training.cli.registry_commands import open_command_registry

        overrides: dict[str, Any] = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
        try:
            settings = ServiceSettings(**overrides)
        except ValidationError as error:
            # One line per bad setting, never the value (it may be the API key), never a traceback.
            for problem in error.errors():
                name = ".".join(str(part) for part in problem["loc"]) or "settings"
                typer.echo(f"error: TEMPORAL_ORDER_{name.upper()}: {problem['msg']}", err=True)
            raise typer.Exit(2) from None
        # Migrates the embedded default (or, with --migrate, the configured database) before the app starts.
        open_command_registry(settings, migrate=migrate).close()
        uvicorn.run(
            create_server_app(settings),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level=log_level,
            access_log=False,
        )
    finally:
        gc.enable()  # also when the settings or the registry stop it before the app starts


# What `make run` trains before it serves: the architectures that learn 6b in seconds to a minute here. The
# paper's own network (lstm1997) learns on-line, one sequence per update, for 10^5-10^6 sequences (minutes to
# tens of minutes here, and seed 0 never meets the criterion on 6b): a first start should not wait on it.
QUICK_ARCHITECTURES = ("rnn", "lstm", "attn_rnn", "attn_rnn_seed")


def bootstrap(
    task: Annotated[str, typer.Option(help="Task to train the default checkpoints on.")] = "6b",
    seed: Annotated[int, typer.Option(help="Seed of the single trial per architecture.")] = 0,
    max_sequences: Annotated[
        int | None, typer.Option(help="Training budget per trial (default: each architecture's own).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Trials trained in parallel processes.")] = 1,
    arch: Annotated[
        list[str] | None,
        typer.Option(help="Architectures to train (repeatable; 'all' for every one). Default: all but lstm1997."),
    ] = None,
) -> None:
    """Migrate the registry, then train and record one default checkpoint for every architecture without one."""
    from training.cli.progress import TrialProgressBars
    from training.experiment import default_arches, run_architectures
    from training.registry import Registry
    from training.settings import get_settings
    from training.task import get_task

    registry = Registry(get_settings().database_url)
    try:
        registry.upgrade()
        chosen = default_arches() if arch == ["all"] else tuple(arch or QUICK_ARCHITECTURES)
        unknown = [name for name in chosen if name not in default_arches()]
        if unknown:
            typer.echo(f"error: unknown architecture {unknown[0]!r}; known: {', '.join(default_arches())}", err=True)
            raise typer.Exit(2)
        skipped = [name for name in default_arches() if name not in chosen]
        if skipped and not arch:
            typer.echo(f"not trained by default: {', '.join(skipped)} (`bootstrap --arch all`, or `train`)", err=True)
        missing = [name for name in chosen if registry.active_version(name) is None]
        if not missing:
            typer.echo("every architecture has an active version; nothing to train", err=True)
            return
        typer.echo(f"training a default checkpoint for: {', '.join(missing)}", err=True)
        spec = get_task(task)
        overrides = {"max_sequences": max_sequences} if max_sequences is not None else None
        with TrialProgressBars() as bars:
            by_arch = run_architectures(
                missing, spec, trials=1, seed=seed, overrides=overrides, workers=workers, on_progress=bars.update
            )
        for name, records in by_arch.items():
            run = registry.record_run(name, spec, records, activate=True)
            outcome = records[0].outcome
            typer.echo(
                f"{name}: version {run.version_numbers[0]} active "
                f"(converged={outcome.converged}, wrong {outcome.wrong_argmax}/{outcome.n_test})",
                err=True,
            )
    finally:
        registry.close()


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command()(serve)
    app.command()(bootstrap)
