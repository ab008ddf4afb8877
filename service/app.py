"""The FastAPI application factory and its lifespan.

uvicorn --factory service.app:create_server_app      # or: temporal-order serve --port 8000

`create_app` builds the FastAPI app, with the fast lane for POST /classify (service/fast_lane.py) unless
TEMPORAL_ORDER_FAST_LANE=false; `create_server_app` puts the request log in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import torch
from fastapi import FastAPI
from starlette.types import ASGIApp

from service import __version__
from service.deps import ServiceState
from service.errors import install_error_handlers
from service.fast_lane import FastLane
from service.inference import InferencePool, pick_device
from service.job_queue import JobQueue
from service.logging_setup import RequestLog, configure_logging
from service.metrics import ServiceMetrics
from service.middleware import ServiceMiddleware
from service.openapi import install_openapi
from service.routes import classify, curves, generate, health, metrics, models, page, studies, train, v2
from service.settings import ServiceSettings
from service.worker import JobWorker
from training.registry import JobInfo, Registry
from training.registry.opening import open_registry

logger = logging.getLogger("service.app")

GC_THRESHOLDS = (100_000, 50, 1000)


async def _refresh_loop(pool: InferencePool, registry: Registry, interval_s: float) -> None:
    """Pick up versions activated by another process (another replica, a job, the CLI): the newest activation's
    id is one cheap query, and only a change in it reloads anything. The swap itself drops no request
    (`InferencePool.reload`)."""
    seen: int | None = None  # the first pass compares every slot with the registry: nothing is missed at start-up
    while True:
        await asyncio.sleep(interval_s)
        try:
            mark = await asyncio.to_thread(registry.activation_mark)
            if mark == seen:
                continue
            changed = await pool.refresh()
            seen = mark
            if changed:
                logger.info("swapped in new active versions: %s", ", ".join(changed))
        except Exception:
            logger.exception("refreshing the active versions failed")


async def _startup(state: ServiceState, executor: ThreadPoolExecutor) -> None:
    settings = state.settings
    # The embedded default is migrated on first use; a configured database that is behind raises
    # SchemaNotMigrated, which says what to run.
    if state.registry is None:
        state.registry = await asyncio.to_thread(open_registry, settings)
    registry = state.registry
    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    pool = InferencePool(
        registry,
        device=pick_device(settings.device),
        executor=executor,
        micro_batching=settings.micro_batching,
        micro_batch_max_size=settings.micro_batch_max_size,
        micro_batch_max_wait_s=settings.micro_batch_max_wait_ms / 1000,
        micro_batch_inline_max=settings.micro_batch_inline_max,
        micro_batch_inline_max_symbols=settings.micro_batch_inline_max_symbols,
        max_tokens_per_forward=settings.max_tokens_per_forward,
        large_batch_threads=settings.large_batch_threads,
        large_batch_min=settings.large_batch_min,
        on_batch=lambda arch, size: state.metrics.observe_batch(arch, "micro", size),
        on_forward=state.metrics.observe_forward,
        on_queue_wait=state.metrics.observe_queue_wait,
    )
    await pool.load_all()
    if settings.warmup:
        await asyncio.get_running_loop().run_in_executor(executor, pool.warm_up)
    state.pool = pool

    async def job_finished(info: JobInfo) -> None:
        if info.status == "succeeded":
            await pool.refresh()

    # The single-process default embeds a worker; an API-only replica leaves jobs to `temporal-order worker`s.
    worker = JobWorker.from_settings(registry, settings, on_finished=job_finished) if settings.embedded_worker else None
    jobs = JobQueue(registry, worker=worker)
    await jobs.start()
    state.jobs = jobs


def create_app(settings: ServiceSettings | None = None, *, registry: Registry | None = None) -> FastAPI:
    """Build the app; heavy objects (models, job workers, the registry unless given open) are made in the lifespan."""
    settings = settings or ServiceSettings()
    configure_logging(settings.log_level, settings.log_format, access_flush_s=settings.access_log_flush_s)
    api_key, generated = settings.resolved_api_key()
    if generated:
        print(
            f"temporal-order: no TEMPORAL_ORDER_API_KEY set; this run's API key is {api_key}",
            file=sys.stderr,
            flush=True,
        )
    state = ServiceState(settings=settings, api_key=api_key, metrics=ServiceMetrics(), registry=registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        tasks: list[asyncio.Task[None]] = []
        try:
            await _startup(state, executor)
            if settings.reload_interval_s > 0 and state.pool is not None and state.registry is not None:
                refresh = _refresh_loop(state.pool, state.registry, settings.reload_interval_s)
                tasks.append(asyncio.create_task(refresh))
            # Everything built so far lives as long as the process: keep it out of the collector's full passes,
            # whose pauses otherwise show up in the tail latency.
            gc.collect()
            gc.freeze()
            gc.enable()  # `temporal-order serve` starts with the collector off (service/cli_serve.py)
            release_freed_heap()
            # Requests allocate tens of objects each, so the default threshold (700) runs a young-generation
            # pass every few requests; almost all of them die by reference counting anyway. Measured with
            # bench/serve_bench.py: fewer passes lower the 64-client p99 of /classify.
            gc.set_threshold(*GC_THRESHOLDS)
            state.ready = True
            logger.info("ready on device %s", state.pool.device if state.pool else "?")
            yield
        finally:
            state.ready = False
            for task in tasks:
                task.cancel()
            if state.jobs is not None:
                await state.jobs.close()
            if state.pool is not None:
                await state.pool.close()
            executor.shutdown(wait=True)
            if state.registry is not None:
                state.registry.close()

    app = FastAPI(
        title="temporal-order",
        version=__version__,
        summary="Classifiers for the temporal order problem of Hochreiter & Schmidhuber (1997), experiment 6.",
        lifespan=lifespan,
        # A redirect to the same path with a slash added would echo the request's Host header into Location.
        redirect_slashes=False,
        # Prometheus covers metrics; OpenTelemetry stays off unless a deployment wires it in.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state
    install_error_handlers(app)
    for module in (classify, generate, train, metrics, models, curves, studies, health, v2, page):
        app.include_router(module.router)
    page.mount_static(app)
    install_openapi(app)
    if settings.fast_lane:  # added first, so innermost: the body limit and the request metrics hold for it
        app.add_middleware(FastLane, state=state)
    app.add_middleware(ServiceMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes)
    return app


def create_server_app(settings: ServiceSettings | None = None, *, registry: Registry | None = None) -> ASGIApp:
    """What uvicorn serves: the FastAPI app behind the request log."""
    settings = settings or ServiceSettings()
    return RequestLog(create_app(settings, registry=registry), access=settings.access_log)


def release_freed_heap() -> None:
    """Hand the heap that start-up freed (imports, checkpoint decoding, warm-up batches) back to the OS: glibc keeps
    freed pages in its arenas otherwise, and they would count in the server's resident memory for its whole life
    (bench/serve_bench.py reports the resident memory). A no-op where the C library has no malloc_trim."""
    library = ctypes.util.find_library("c")
    malloc_trim = getattr(ctypes.CDLL(library), "malloc_trim", None) if library else None
    if malloc_trim is not None:
        malloc_trim(0)
