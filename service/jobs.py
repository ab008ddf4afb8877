"""Training jobs: each runs in its own process (spawned, never in the event loop), one at a time by default.

The parent keeps a queue and watches the processes; the child trains through `training.experiment`,
writes its progress to the registry, polls the registry for a cancel request, records the run and
activates its best version. When a job ends, the parent asks the inference pool to swap in what changed.
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
from typing import Any

from service.errors import Conflict
from service.schemas import TERMINAL_JOB_STATUSES, TrainJobCreate, TrainJobProgress, TrialPublic
from training.registry import JobInfo, Registry

logger = logging.getLogger("service.jobs")

PROGRESS_EVERY_S = 0.5
CANCEL_POLL_EVERY_S = 0.5
# How long a running job may take to notice a cancel request before its process is terminated.
CANCEL_GRACE_S = 30.0
PROCESS_POLL_S = 0.1


def run_job(job_id: str, database_url: str, threads: int) -> None:
    """The child process: train what the job asks for and record it. Every outcome lands in the registry."""
    import torch

    from training.experiment import TrialProgress, default_arches, run_trials
    from training.task import get_task
    from training.train import TrainingCancelled

    torch.set_num_threads(threads)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)  # classification in the parent comes first
    registry = Registry(database_url)
    try:
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
        registry.update_job(
            job_id,
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
            registry.update_job(
                job_id,
                progress=TrainJobProgress(
                    arch=progress.arch,
                    trial=progress.trial,
                    trials=progress.trials,
                    sequences=progress.sequences,
                    max_sequences=progress.max_sequences,
                    train_error=progress.train_error,
                    train_accuracy=progress.train_accuracy,
                ).model_dump(),
            )

        def should_stop() -> bool:
            nonlocal last_poll, cancelled
            now = time.monotonic()
            if not cancelled and now - last_poll >= CANCEL_POLL_EVERY_S:
                last_poll = now
                cancelled = registry.job(job_id).cancel_requested
            return cancelled

        results: list[dict[str, Any]] = []
        try:
            for arch in arches:
                records = run_trials(
                    arch,
                    task,
                    trials=params.trials,
                    seed=params.seed,
                    overrides=overrides,
                    on_progress=on_progress,
                    should_stop=should_stop,
                )
                run = registry.record_run(arch, task, records, activate=params.activate, job_id=job_id)
                for version in registry.run_versions(run.id):
                    results.append(
                        TrialPublic(
                            arch=arch,
                            seed=version.seed,
                            converged=version.converged,
                            sequences_to_criterion=version.sequences_to_criterion,
                            wrong_argmax=version.wrong_argmax,
                            wrong_paper=version.wrong_paper,
                            n_test=version.n_test,
                            model_version=version.version,
                        ).model_dump()
                    )
                registry.update_job(job_id, results=results)
        except TrainingCancelled:
            registry.update_job(job_id, status="cancelled", results=results, error="cancelled on request")
            return
        registry.update_job(job_id, status="succeeded", results=results)
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        registry.update_job(job_id, status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        registry.close()


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
        info = await asyncio.to_thread(self.registry.create_job, params.model_dump(mode="json"))
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
                await self._run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("supervising training job %s failed", job_id)

    async def _run(self, job_id: str) -> None:
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.status != "queued" or info.cancel_requested:
            return
        process = self._context.Process(
            target=run_job, args=(job_id, self.database_url, self.training_threads), name=f"train-{job_id}", daemon=True
        )
        process.start()
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
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.status not in TERMINAL_JOB_STATUSES:
            status = "cancelled" if info.cancel_requested else "failed"
            info = await asyncio.to_thread(
                self.registry.update_job,
                job_id,
                status=status,
                error=f"the training process ended with exit code {process.exitcode}",
            )
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
