"""The `temporal-order worker` command: a training worker of its own, beside API replicas that run
`temporal-order serve --no-worker` on the same registry.

    TEMPORAL_ORDER_DATABASE_URL=postgresql://... temporal-order worker --concurrency 2
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported by the command itself, so that --help stays light
    from service.settings import ServiceSettings
    from training.registry import Registry


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=16, help="Jobs trained at once (default: TEMPORAL_ORDER_JOB_CONCURRENCY).")
    ] = None,
    migrate: Annotated[
        bool,
        typer.Option("--migrate", help="Migrate a configured registry first (the default one under var/ always is)."),
    ] = False,
) -> None:
    """Claim training jobs from the registry's queue and run them until stopped (SIGTERM or Ctrl-C)."""
    from service.cli_serve import service_settings
    from service.logging_setup import configure_logging
    from training.cli.common import opened_registry, ray_extra_or_fail

    overrides: dict[str, Any] = {"job_concurrency": concurrency} if concurrency is not None else {}
    settings = service_settings(overrides)
    ray_extra_or_fail(settings.ray_address)  # every job would fail on the missing extra: refuse to start instead
    configure_logging(settings.log_level, settings.log_format)
    with opened_registry(settings, migrate=migrate) as registry:
        asyncio.run(_run_until_stopped(registry, settings))


async def _run_until_stopped(registry: Registry, settings: ServiceSettings) -> None:
    from service.worker import JobWorker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    job_worker = JobWorker.from_settings(registry, settings)
    await job_worker.start()
    typer.echo(f"training worker {job_worker.worker_id} on {registry.display_url}", err=True)
    try:
        await stop.wait()
    finally:
        await job_worker.close()


def register(app: typer.Typer) -> None:
    """Add this module's command to `app`."""
    app.command()(worker)
