"""Training jobs: each runs in its own process (spawned, never in the event loop), one at a time by default.

The parent keeps a queue and watches the processes; the child trains and records through `training.recording`,
writes its progress to the registry and polls it for a cancel request. When a job ends, the parent asks the
inference pool to swap in what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from multiprocessing.process import BaseProcess

from sqlalchemy.exc import SQLAlchemyError

from service import job_events
from service.errors import Conflict, RegistryUnavailable
from service.logging_setup import current_request_id
from service.schemas import TrainJobCreate
from training.lifetime import exit_with_parent
from training.registry import (
    JobInfo,
    JobParams,
    JobStatus,
    JobTrial,
    Registry,
    RegistryError,
    VersionInfo,
    best_effort,
    retry_transient,
)

logger = logging.getLogger("service.jobs")

CANCEL_POLL_EVERY_S = 0.5
# How long a running job may take to notice a cancel request before its process is terminated.
CANCEL_GRACE_S = 30.0
PROCESS_POLL_S = 0.1
# The exit status of a job process that found no registry to write to.
REGISTRY_GONE_EXIT_CODE = 3


def public_failure(error: BaseException) -> str:
    """What a caller reads about a failed job: a stable phrase per kind of fault; the details go to the log."""
    if isinstance(error, RegistryError):
        return str(error)  # written for users (e.g. "the registry file ... does not exist")
    if isinstance(error, SQLAlchemyError):
        return "the registry could not be written (database error; see the service log)"
    if isinstance(error, OSError):
        return "the training process hit a system error (see the service log)"
    return "training failed with an internal error (see the service log)"


def end_job(registry: Registry, job_id: str, status: JobStatus, reason: str | None = None) -> JobInfo:
    """`Registry.end_job`, retried through transient faults; any other fault is raised."""
    return retry_transient(lambda: registry.end_job(job_id, status, reason), what=f"job {job_id}: end as {status}")


class _CancelPoll:
    """The trainer's `should_stop` for a job: whether a cancel was requested, asked at most every
    CANCEL_POLL_EVERY_S (a failed poll is asked again at the next)."""

    def __init__(self, registry: Registry, job_id: str) -> None:
        self.registry, self.job_id = registry, job_id
        self._next_poll = 0.0
        self._cancelled = False

    def __call__(self) -> bool:
        if not self._cancelled and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + CANCEL_POLL_EVERY_S
            info = best_effort(lambda: self.registry.job(self.job_id), what=f"job {self.job_id}: cancel poll")
            self._cancelled = info is not None and info.cancel_requested
        return self._cancelled


def run_job(job_id: str, database_url: str, threads: int) -> None:
    """The child process: train what the job asks for and record it. Every outcome lands in the registry."""
    import torch

    from training.architectures import ARCHITECTURES
    from training.protocol import TrialProgress
    from training.recording import train_and_record
    from training.task import get_task
    from training.train import TrainingCancelled

    exit_with_parent()  # a service killed with SIGKILL must not leave its trainer running
    torch.set_num_threads(threads)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)  # classification in the parent comes first
    try:
        # must_exist: a deleted registry file is a failure, never a fresh empty file to train into.
        registry = Registry(database_url, must_exist=True)
    except RegistryError as error:
        logger.error("training job %s cannot start: %s", job_id, error)
        raise SystemExit(REGISTRY_GONE_EXIT_CODE) from None

    def write_progress(progress: TrialProgress) -> None:
        best_effort(lambda: registry.update_job(job_id, progress=progress), what=f"job {job_id}: progress")

    def write_results(_: VersionInfo) -> None:  # the trial is safe already; the list is written again at the end
        best_effort(
            lambda: registry.update_job(job_id, results=[JobTrial.of(v) for v in registry.job_versions(job_id)]),
            what=f"job {job_id}: results",
        )

    try:
        registry.ensure_migrated()
        info = registry.job(job_id)
        if info.cancel_requested or info.status != "queued":
            return
        params = info.params
        arches = ARCHITECTURES if params.arch == "all" else (params.arch,)
        start = TrialProgress(arches[0], 0, params.trials, 0, params.max_sequences, None, None)
        retry_transient(lambda: registry.update_job(job_id, status="running", progress=start), what=f"job {job_id}")
        try:
            train_and_record(
                registry,
                arches,
                get_task(params.task),
                trials=params.trials,
                seed=params.seed,
                overrides=params.train_overrides(),
                activate=params.activate,
                job_id=job_id,
                on_progress=write_progress,
                should_stop=_CancelPoll(registry, job_id),
                on_recorded=write_results,
            )
        except TrainingCancelled:
            end_job(registry, job_id, "cancelled", "cancelled on request")
            return
        end_job(registry, job_id, "succeeded")
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        # If even this write fails (the disk is full), the process exits non-zero and the service records
        # the failure, with the trials kept, from the outside (`record_ended`).
        end_job(registry, job_id, "failed", public_failure(error))
    finally:
        registry.close()


def record_ended(registry: Registry, job_id: str, exitcode: int | None) -> JobInfo:
    """After a job's process has ended: a job it left unfinished (it crashed, was killed, or could not write
    its own failure, e.g. on a full disk) is marked failed (or cancelled), with the trials it kept."""
    info = registry.job(job_id)
    if info.finished:
        return info
    status: JobStatus = "cancelled" if info.cancel_requested else "failed"
    return end_job(registry, job_id, status, f"the training process ended with exit code {exitcode}")


class JobManager:
    """A queue of job ids served by `concurrency` workers, each running one job process at a time."""

    def __init__(
        self,
        registry: Registry,
        *,
        database_url: str,
        concurrency: int = 1,
        training_threads: int = 1,
        on_finished: Callable[[JobInfo], Awaitable[None]] | None = None,
        progress_log_every_s: float = job_events.DEFAULT_PROGRESS_EVERY_S,
    ) -> None:
        self.registry = registry
        self.progress_log_every_s = progress_log_every_s
        self.database_url = database_url
        self.concurrency = concurrency
        self.training_threads = training_threads
        self.on_finished = on_finished
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, BaseProcess] = {}
        self._cancel_asked: dict[str, float] = {}
        self._request_ids: dict[str, str | None] = {}  # the request that queued a job, for the job's log lines
        self._context = multiprocessing.get_context("spawn")

    async def start(self) -> int:
        """Mark jobs cut off by a previous shutdown as interrupted, then start the workers."""
        interrupted = await asyncio.to_thread(self.registry.mark_interrupted)
        if interrupted:
            logger.warning("marked %d training job(s) from a previous run as interrupted", interrupted)
        self._workers = [
            asyncio.get_running_loop().create_task(self._work(), name=f"jobs-{index}")
            for index in range(self.concurrency)
        ]
        return interrupted

    async def submit(self, params: TrainJobCreate) -> JobInfo:
        problem = await asyncio.to_thread(self.registry.problem)
        if problem is not None:  # nowhere to record the job, or its trials
            raise RegistryUnavailable(f"no training job can start: {problem}", hint="see GET /readyz")
        info = await asyncio.to_thread(self.registry.create_job, JobParams(**params.model_dump()))
        self._request_ids[info.id] = current_request_id()
        job_events.queued(info)
        await self._queue.put(info.id)
        return info

    async def cancel(self, job_id: str) -> JobInfo:
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.finished:
            raise Conflict(f"training job {job_id!r} already ended with status {info.status!r}")
        if job_id in self._running:
            self._cancel_asked.setdefault(job_id, time.monotonic())
        return await asyncio.to_thread(self.registry.request_cancel, job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                request_id = self._request_ids.pop(job_id, None)
                with job_events.job_context(job_id, request_id):
                    await self._run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("supervising training job %s failed", job_id)

    async def _run(self, job_id: str) -> None:
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.status != "queued" or info.cancel_requested:
            return
        problem = await asyncio.to_thread(self.registry.problem)
        if problem is not None:
            logger.error("training job %s not started: %s", job_id, problem)
            info = await asyncio.to_thread(
                self.registry.update_job, job_id, status="failed", error=f"not started: {problem}"
            )
            if self.on_finished is not None:
                await self.on_finished(info)
            return
        process = self._context.Process(
            target=run_job, args=(job_id, self.database_url, self.training_threads), name=f"train-{job_id}", daemon=True
        )
        process.start()
        job_events.started(pid=process.pid)
        self._running[job_id] = process
        progress_log = asyncio.create_task(job_events.follow_progress(self.registry, job_id, self.progress_log_every_s))
        try:
            while process.is_alive():
                await asyncio.sleep(PROCESS_POLL_S)
                asked = self._cancel_asked.get(job_id)
                if asked is not None and time.monotonic() - asked > CANCEL_GRACE_S:
                    logger.warning("training job %s ignored its cancel request; terminating it", job_id)
                    process.terminate()
            process.join(timeout=1)
        finally:
            progress_log.cancel()
            self._running.pop(job_id, None)
            self._cancel_asked.pop(job_id, None)
        info = await asyncio.to_thread(record_ended, self.registry, job_id, process.exitcode)
        job_events.ended(info, exitcode=process.exitcode)
        if self.on_finished is not None:
            await self.on_finished(info)

    async def close(self) -> None:
        # Taken before the workers are cancelled: a cancelled worker forgets its process as it unwinds, and
        # a process nobody terminates would train on, orphaned, after the service has gone.
        running = list(self._running.items())
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        for job_id, process in running:
            process.terminate()
            process.join(timeout=5)
            with contextlib.suppress(Exception):
                self.registry.update_job(job_id, status="interrupted", error="the service shut down during training")
        self._running.clear()
