"""Training jobs: each runs in its own process (spawned, never in the event loop), one at a time by default.

The parent keeps a queue and watches the processes; the child trains through `training.experiment`,
writes its progress to the registry, polls the registry for a cancel request, records the run and
activates its best version. When a job ends, the parent asks the inference pool to swap in what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from service.errors import Conflict, RegistryUnavailable
from service.logging_setup import current_request_id, events
from service.schemas import TERMINAL_JOB_STATUSES, TrainJobCreate, TrainJobProgress, TrialPublic
from training.lifetime import exit_with_parent
from training.registry import JobInfo, Registry, RegistryError, TrialRecordLike, VersionInfo, retry_transient

if TYPE_CHECKING:
    from training.experiment import TrialSpec
    from training.task import TaskSpec

logger = logging.getLogger("service.jobs")

PROGRESS_EVERY_S = 0.5
CANCEL_POLL_EVERY_S = 0.5
# How long a running job may take to notice a cancel request before its process is terminated.
CANCEL_GRACE_S = 30.0
PROCESS_POLL_S = 0.1
# The exit status of a job process that found no registry to write to.
REGISTRY_GONE_EXIT_CODE = 3


def kept_summary(versions: Sequence[VersionInfo]) -> str:
    """Which trials a job kept in the registry, in words: "kept 2 trials: lstm versions 3, 4"."""
    if not versions:
        return "no trial was kept"
    by_arch: dict[str, list[int]] = {}
    for version in versions:
        by_arch.setdefault(version.arch, []).append(version.version)
    parts = [
        f"{arch} version{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"
        for arch, numbers in by_arch.items()
    ]
    return f"kept {len(versions)} trial{'s' if len(versions) > 1 else ''}: {'; '.join(parts)}"


def public_failure(error: BaseException) -> str:
    """What a caller reads about a failed job: a stable phrase per kind of fault; the details go to the log."""
    if isinstance(error, RegistryError):
        return str(error)  # written for users (e.g. "the registry file ... does not exist")
    if isinstance(error, SQLAlchemyError):
        return "the registry could not be written (database error; see the service log)"
    if isinstance(error, OSError):
        return "the training process hit a system error (see the service log)"
    return "training failed with an internal error (see the service log)"


def trial_public(version: VersionInfo) -> dict[str, Any]:
    return TrialPublic(
        arch=version.arch,
        seed=version.seed,
        converged=version.converged,
        sequences_to_criterion=version.sequences_to_criterion,
        wrong_argmax=version.wrong_argmax,
        wrong_paper=version.wrong_paper,
        n_test=version.n_test,
        model_version=version.version,
    ).model_dump()


class _JobRecorder:
    """A job's writes to the registry. Trials and status changes are retried through transient faults;
    progress is best effort (a failed write is logged and skipped, never fatal)."""

    def __init__(self, registry: Registry, job_id: str, *, activate: bool) -> None:
        self.registry = registry
        self.job_id = job_id
        self.activate = activate
        self.results: list[dict[str, Any]] = []
        self._runs: dict[str, int] = {}

    def update(self, **changes: Any) -> None:
        retry_transient(lambda: self.registry.update_job(self.job_id, **changes), what=f"job {self.job_id}: update")

    def progress(self, progress: dict[str, Any]) -> None:
        try:
            self.registry.update_job(self.job_id, progress=progress)
        except SQLAlchemyError as error:
            logger.warning("job %s: progress write failed, skipped (%s)", self.job_id, getattr(error, "orig", error))

    def trial(self, arch: str, task: TaskSpec, index: int, record: TrialRecordLike) -> None:
        """Record one finished trial in its own transaction; its run is opened by the first trial."""
        run_id = self._runs.get(arch)
        if run_id is None:
            run_id = retry_transient(
                lambda: self.registry.start_run(arch, task, record, job_id=self.job_id), what=f"job {self.job_id}: run"
            )
            self._runs[arch] = run_id
        version = retry_transient(
            lambda: self.registry.add_trial(run_id, index, record), what=f"job {self.job_id}: trial {index + 1}"
        )
        self.results.append(trial_public(version))
        try:
            self.registry.update_job(self.job_id, results=self.results)
        except SQLAlchemyError as error:  # the trial itself is safe; the job's list is rebuilt at the end
            logger.warning("job %s: results write failed, skipped (%s)", self.job_id, getattr(error, "orig", error))

    def trial_of(self, arch: str, task: TaskSpec, spec: TrialSpec, record: TrialRecordLike) -> None:
        """`trial` as `run_trials`' on_trial callback."""
        self.trial(arch, task, spec.index - 1, record)

    def finish(self, arch: str, *, status: str = "completed", activate: bool | None = None) -> None:
        run_id = self._runs.pop(arch, None)
        if run_id is not None:
            retry_transient(
                lambda: self.registry.finish_run(
                    run_id, activate=self.activate if activate is None else activate, status=status
                ),
                what=f"job {self.job_id}: finish run",
            )

    def abandon(self, status: str) -> None:
        """Close every open run without activating anything (a failure or a cancel); best effort."""
        for arch in list(self._runs):
            try:
                self.finish(arch, status=status, activate=False)
            except Exception:
                logger.exception("job %s: closing the %s run failed", self.job_id, arch)

    def kept(self) -> str:
        try:
            return kept_summary(self.registry.job_versions(self.job_id))
        except SQLAlchemyError:
            logger.exception("job %s: listing its kept trials failed", self.job_id)
            kept = [f"{r['arch']} version {r['model_version']}" for r in self.results]
            return f"kept {len(kept)} trial(s): {', '.join(kept)}" if kept else "no trial was kept"


def run_job(job_id: str, database_url: str, threads: int) -> None:
    """The child process: train what the job asks for and record it. Every outcome lands in the registry."""
    import torch

    from training.experiment import TrialProgress, default_arches, run_trials
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
    recorder: _JobRecorder | None = None
    try:
        registry.ensure_migrated()
        info = registry.job(job_id)
        if info.cancel_requested or info.status != "queued":
            return
        params = TrainJobCreate.model_validate(info.params)
        task = get_task(params.task)
        arches = default_arches() if params.arch == "all" else (params.arch,)
        overrides: dict[str, Any] = {
            name: value
            for name in ("optimizer", "learning_rate", "batch_size", "grad_clip", "max_sequences")
            if (value := getattr(params, name)) is not None
        }
        recorder = job = _JobRecorder(registry, job_id, activate=params.activate)
        job.update(
            status="running",
            progress=TrainJobProgress(
                arch=arches[0], trials=params.trials, max_sequences=params.max_sequences
            ).model_dump(),
        )
        last_write = 0.0
        last_poll = 0.0
        cancelled = False

        def on_progress(progress: TrialProgress) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write < PROGRESS_EVERY_S and progress.sequences < progress.max_sequences:
                return
            last_write = now
            job.progress(
                TrainJobProgress(
                    arch=progress.arch,
                    trial=progress.trial,
                    trials=progress.trials,
                    sequences=progress.sequences,
                    max_sequences=progress.max_sequences,
                    train_error=progress.train_error,
                    train_accuracy=progress.train_accuracy,
                ).model_dump()
            )

        def should_stop() -> bool:
            nonlocal last_poll, cancelled
            now = time.monotonic()
            if not cancelled and now - last_poll >= CANCEL_POLL_EVERY_S:
                last_poll = now
                try:
                    cancelled = registry.job(job_id).cancel_requested
                except SQLAlchemyError as error:  # asked again at the next poll
                    logger.warning("job %s: cancel poll failed (%s)", job_id, getattr(error, "orig", error))
            return cancelled

        try:
            for arch in arches:
                run_trials(
                    arch,
                    task,
                    trials=params.trials,
                    seed=params.seed,
                    overrides=overrides,
                    on_progress=on_progress,
                    should_stop=should_stop,
                    on_trial=functools.partial(job.trial_of, arch, task),
                )
                job.finish(arch)
        except TrainingCancelled:
            job.abandon("cancelled")
            job.update(status="cancelled", results=job.results, error=f"cancelled on request; {job.kept()}")
            return
        job.update(status="succeeded", results=job.results)
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        message = public_failure(error)
        results = None
        if recorder is not None:
            recorder.abandon("failed")
            message += f"; {recorder.kept()}"
            results = recorder.results
        # If even this write fails (the disk is full), the process exits non-zero and the service records
        # the failure, with the trials kept, from the outside (`record_ended`).
        retry_transient(
            lambda: registry.update_job(job_id, status="failed", error=message, results=results),
            what=f"job {job_id}: record the failure",
        )
    finally:
        registry.close()


def record_ended(registry: Registry, job_id: str, exitcode: int | None) -> JobInfo:
    """After a job's process has ended: a job it left unfinished (it crashed, was killed, or could not write
    its own failure, e.g. on a full disk) is marked failed (or cancelled), with the trials it kept."""
    info = registry.job(job_id)
    if info.status in TERMINAL_JOB_STATUSES:
        return info
    status = "cancelled" if info.cancel_requested else "failed"
    versions = registry.job_versions(job_id)
    return registry.update_job(
        job_id,
        status=status,
        results=[trial_public(version) for version in versions],
        error=f"the training process ended with exit code {exitcode}; {kept_summary(versions)}",
    )


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
    ) -> None:
        self.registry = registry
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

    @property
    def running(self) -> list[str]:
        return list(self._running)

    async def submit(self, params: TrainJobCreate) -> JobInfo:
        problem = await asyncio.to_thread(self.registry.problem)
        if problem is not None:  # nowhere to record the job, or its trials
            raise RegistryUnavailable(f"no training job can start: {problem}", hint="see GET /readyz")
        info = await asyncio.to_thread(self.registry.create_job, params.model_dump(mode="json"))
        self._request_ids[info.id] = current_request_id()
        events.info("job queued", job_id=info.id, arch=params.arch, trials=params.trials)
        await self._queue.put(info.id)
        return info

    async def cancel(self, job_id: str) -> JobInfo:
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.status in TERMINAL_JOB_STATUSES:
            raise Conflict(f"training job {job_id!r} already ended with status {info.status!r}")
        if job_id in self._running:
            self._cancel_asked.setdefault(job_id, time.monotonic())
        return await asyncio.to_thread(self.registry.request_cancel, job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                request_id = self._request_ids.pop(job_id, None)
                with structlog.contextvars.bound_contextvars(job_id=job_id, request_id=request_id):
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
        events.info("job started", pid=process.pid)
        self._running[job_id] = process
        try:
            while process.is_alive():
                await asyncio.sleep(PROCESS_POLL_S)
                asked = self._cancel_asked.get(job_id)
                if asked is not None and time.monotonic() - asked > CANCEL_GRACE_S:
                    logger.warning("training job %s ignored its cancel request; terminating it", job_id)
                    process.terminate()
            process.join(timeout=1)
        finally:
            self._running.pop(job_id, None)
            self._cancel_asked.pop(job_id, None)
        info = await asyncio.to_thread(record_ended, self.registry, job_id, process.exitcode)
        events.info("job ended", status=info.status, exitcode=process.exitcode, error=info.error)
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
