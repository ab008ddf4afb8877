"""The training worker: claims jobs from the registry's queue and runs each in its own process, renewing the
job's lease while it trains.

    temporal-order worker            # a worker of its own, beside any number of `serve --no-worker` replicas
    temporal-order serve             # the embedded default: the API and one worker in one process

Every worker (and each of its slots) polls the queue; a claim is a row lock in the registry, so any number of
workers on one database take each job exactly once. A worker that loses its lease (it stalled past it, or the
database was gone that long) stops its trainer: the job is someone else's to end. A trainer exits when its
worker dies (`training.lifetime.exit_with_parent`), and the job is ended by whichever worker next finds its
lease expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess

from sqlalchemy.exc import SQLAlchemyError

from service import job_events
from service.jobs import record_ended, run_job
from service.settings import ServiceSettings
from training.registry import JobInfo, Registry, RegistryError
from training.registry.queue import DEFAULT_LEASE_S, LeaseLost, new_worker_id

logger = logging.getLogger("service.worker")

# How long a running job may take to notice a cancel request before its process is terminated.
CANCEL_GRACE_S = 30.0
# A trainer terminated after ignoring its cancel that is still alive this much later is killed.
KILL_AFTER_TERMINATE_S = 10.0
PROCESS_POLL_S = 0.1
DEFAULT_POLL_S = 1.0
# What every trainer imports, imported once by the fork server its trainers are forked from: torch above all, and
# torch._dynamo, which torch.optim imports when a process makes its first optimizer (most of a small job's time);
# then numba's CPU contexts, which each trainer would otherwise build at its first kernel call
# (service/trainer_preload.py).
TRAINER_PRELOAD = (
    "service.jobs",
    "torch",
    "torch._dynamo",
    "training.recording",
    "training.promotion",
    "training.architectures",
    "service.trainer_preload",
)


def trainer_context() -> multiprocessing.context.ForkServerContext:
    """How a worker starts its trainers: forked from a fork server that has imported what a trainer needs once,
    rather than spawned as fresh interpreters that each import torch again (seconds per job, more than a small
    job's training on a busy machine). The fork server is single-threaded and runs no torch op, so a fork of it
    is as clean as a spawn; it starts with the first job (an API-only or idle process never pays the import) and
    exits with its worker. A trainer's parent, for `exit_with_parent`, is still its worker."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(TRAINER_PRELOAD))
    return context


class JobWorker:
    """`concurrency` slots, each claiming a job from the queue and supervising its training process."""

    def __init__(
        self,
        registry: Registry,
        *,
        database_url: str,
        concurrency: int = 1,
        training_threads: int = 1,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        on_finished: Callable[[JobInfo], Awaitable[None]] | None = None,
        progress_log_every_s: float = job_events.DEFAULT_PROGRESS_EVERY_S,
        ray_address: str | None = None,
    ) -> None:
        self.registry = registry
        self.ray_address = ray_address  # a Ray cluster for the jobs' trials (TEMPORAL_ORDER_RAY_ADDRESS)
        self.progress_log_every_s = progress_log_every_s
        self.database_url = database_url
        self.concurrency = concurrency
        self.training_threads = training_threads
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.on_finished = on_finished
        self.worker_id = new_worker_id()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, BaseProcess] = {}
        self._wake = asyncio.Event()
        self._context = trainer_context()

    @classmethod
    def from_settings(
        cls,
        registry: Registry,
        settings: ServiceSettings,
        *,
        on_finished: Callable[[JobInfo], Awaitable[None]] | None = None,
    ) -> JobWorker:
        """A worker configured as `settings` say: the embedded one of `serve`, or `temporal-order worker`."""
        return cls(
            registry,
            database_url=settings.database_url,
            concurrency=settings.job_concurrency,
            training_threads=settings.training_threads,
            lease_s=settings.job_lease_s,
            poll_s=settings.job_poll_s,
            on_finished=on_finished,
            progress_log_every_s=settings.job_progress_log_s,
            ray_address=settings.ray_address,
        )

    @property
    def running(self) -> list[str]:
        return list(self._running)

    async def start(self) -> None:
        """End the jobs whose worker is gone (a restart after a crash finds its own), then start claiming."""
        await self._expire()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._reap(), name="jobs-reaper")]
        self._tasks += [loop.create_task(self._slot(), name=f"jobs-{index}") for index in range(self.concurrency)]
        logger.info("training worker %s: %d slot(s), lease %.0f s", self.worker_id, self.concurrency, self.lease_s)

    def wake(self) -> None:
        """A job was just queued here: look now rather than at the next poll."""
        self._wake.set()

    async def _reap(self) -> None:
        """End the jobs whose lease ran out (their worker is gone), on every worker: whichever looks first does."""
        while True:
            await asyncio.sleep(min(self.poll_s, self.lease_s / 3))
            await self._expire()

    async def _expire(self) -> None:
        try:
            for expired in await asyncio.to_thread(self.registry.expire_leases):
                job_events.lease_expired(expired.id, expired.owner, expired.status)
        except (SQLAlchemyError, RegistryError) as error:
            logger.warning("checking for expired leases failed (%s)", getattr(error, "orig", error))

    async def _slot(self) -> None:
        while True:
            try:
                info = await asyncio.to_thread(self.registry.claim_job, self.worker_id, lease_s=self.lease_s)
            except (SQLAlchemyError, RegistryError) as error:
                logger.warning("claiming a training job failed (%s)", getattr(error, "orig", error))
                info = None
            if info is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                continue
            try:
                with job_events.job_context(info.id, info.request_id):
                    await self._run(info)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("supervising training job %s failed", info.id)

    async def _run(self, info: JobInfo) -> None:
        job_id = info.id
        process = self._context.Process(
            target=run_job,
            args=(job_id, self.database_url, self.training_threads, self.worker_id, self.ray_address),
            name=f"train-{job_id}",
            daemon=True,
        )
        self._running[job_id] = process
        starting = asyncio.create_task(self._start(process, info))
        progress_log = asyncio.create_task(job_events.follow_progress(self.registry, job_id, self.progress_log_every_s))
        lost = False
        try:
            lost = await self._supervise(job_id, process, starting)
        finally:
            progress_log.cancel()
            self._running.pop(job_id, None)
        if lost:
            job_events.lease_lost(exitcode=process.exitcode)
            return
        ended = await asyncio.to_thread(record_ended, self.registry, job_id, process.exitcode, worker=self.worker_id)
        job_events.ended(ended, exitcode=process.exitcode)
        if self.on_finished is not None:
            await self.on_finished(ended)

    async def _start(self, process: BaseProcess, info: JobInfo) -> None:
        """Start the trainer off the event loop: the start returns once the fork server has forked it, and the first
        job waits for the fork server's imports (long on a busy machine), while its lease must go on being renewed."""
        await asyncio.to_thread(process.start)
        job_events.started(pid=process.pid, worker=self.worker_id, attempt=info.attempts)

    async def _supervise(self, job_id: str, process: BaseProcess, starting: asyncio.Task[None]) -> bool:
        """Wait for the training process to start and end, renewing the lease; True when the lease was lost (the
        process is then stopped)."""
        beat_every = self.lease_s / 3
        renewed = time.monotonic()  # the claim itself
        next_beat: float | None = renewed + beat_every
        cancel_asked: float | None = None
        stopping: asyncio.Task[None] | None = None
        while not starting.done() or process.is_alive():
            await asyncio.sleep(PROCESS_POLL_S)
            now = time.monotonic()
            if next_beat is not None and now >= next_beat:
                next_beat = now + beat_every
                try:
                    beat = await asyncio.to_thread(
                        self.registry.heartbeat, job_id, self.worker_id, lease_s=self.lease_s
                    )
                except (SQLAlchemyError, RegistryError) as error:  # tried again at the next beat, the lease permitting
                    logger.warning("job %s: heartbeat failed (%s)", job_id, getattr(error, "orig", error))
                    continue
                if beat.owned:
                    renewed = now
                elif now - renewed < self.lease_s:
                    # The lease cannot have run out since the last renewal: the trainer ended the job itself and
                    # is exiting. No more beats; wait for it.
                    next_beat = None
                else:
                    await starting  # a trainer being forked is stopped once it exists
                    await stop_trainer(process, job_id)
                    return True
                # The grace runs from when the trainer can see the request: one still starting (a torch import on a
                # busy machine can take longer than the grace) checks for it first thing, and ends the job itself.
                if beat.cancel_requested and beat.started and cancel_asked is None:
                    cancel_asked = now
            # Stopped once (and said once), beside this loop, which goes on renewing the lease until the trainer
            # is gone: a trainer slow to die on a busy machine is killed, not re-signalled at every poll.
            if stopping is None and cancel_asked is not None and now - cancel_asked > CANCEL_GRACE_S:
                logger.warning("training job %s ignored its cancel request; terminating it", job_id)
                stopping = asyncio.create_task(stop_trainer(process, job_id))
        if stopping is not None:
            await stopping
        await starting  # raises what the start raised
        process.join(timeout=1)
        return False

    async def close(self) -> None:
        """Stop claiming, stop the trainers and end their jobs as interrupted (a shutdown, not a failure)."""
        # Taken before the slots are cancelled: a cancelled slot forgets its process as it unwinds, and a process
        # nobody stops would train on, orphaned, after the worker has gone.
        running = list(self._running.items())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        # Stopped together: each may take the SIGTERM grace, and none blocks the event loop meanwhile.
        await asyncio.gather(*(stop_trainer(process, job_id) for job_id, process in running))
        for job_id, _ in running:
            with contextlib.suppress(LeaseLost, SQLAlchemyError, RegistryError):
                self.registry.end_job(
                    job_id, "interrupted", "the service shut down during training", owner=self.worker_id
                )
        self._running.clear()


async def stop_trainer(process: BaseProcess, job_id: str) -> None:
    """Stop a trainer without blocking the event loop: SIGTERM (its handler ends the job's trial cleanly), then
    SIGKILL if it still lives KILL_AFTER_TERMINATE_S later, said once. The one way the worker stops a trainer: at a
    lost lease, at a cancel the trainer ignored, at shutdown."""
    if process.pid is None:  # still being started at shutdown: it exits with its worker (exit_with_parent)
        return
    process.terminate()
    deadline = time.monotonic() + KILL_AFTER_TERMINATE_S
    while process.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(PROCESS_POLL_S)
    if process.is_alive():
        logger.warning("training job %s did not exit %.0f s after SIGTERM; killing it", job_id, KILL_AFTER_TERMINATE_S)
        process.kill()
    await asyncio.to_thread(process.join, KILL_AFTER_TERMINATE_S)
