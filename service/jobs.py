"""A training job's own process, spawned by a worker (service/worker.py), never in the event loop.

The child trains and records through `training.recording`, writes its progress to the registry and polls it for a
cancel request, and puts each architecture's best trial through the promotion gate (training/promotion.py).
A job claimed by a worker is written only while that worker holds its lease (`LeaseLost`
otherwise): a trainer whose worker lost the job writes nothing more into it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from training.lifetime import exit_with_parent
from training.registry import (
    JobInfo,
    JobStatus,
    JobTrial,
    Registry,
    RegistryError,
    VersionInfo,
    best_effort,
    retry_transient,
)
from training.registry.queue import LeaseLost

logger = logging.getLogger("service.jobs")

CANCEL_POLL_EVERY_S = 0.5
# The exit status of a job process that found no registry to write to.
REGISTRY_GONE_EXIT_CODE = 3


def public_failure(error: BaseException) -> str:
    """What a caller reads about a failed job: a stable phrase per kind of fault; the details go to the log."""
    from training.ray_extra import RayUnavailable

    if isinstance(error, RegistryError | RayUnavailable):
        return str(error)  # written for users (e.g. "the registry file ... does not exist", "install ...[ray]")
    if isinstance(error, SQLAlchemyError):
        return "the registry could not be written (database error; see the service log)"
    if isinstance(error, OSError):
        return "the training process hit a system error (see the service log)"
    return "training failed with an internal error (see the service log)"


def end_job(
    registry: Registry, job_id: str, status: JobStatus, reason: str | None = None, *, worker: str | None = None
) -> JobInfo:
    """`Registry.end_job` (only while `worker` holds the job, when given), retried through transient faults; any
    other fault is raised."""
    return retry_transient(
        lambda: registry.end_job(job_id, status, reason, owner=worker), what=f"job {job_id}: end as {status}"
    )


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


def run_job(
    job_id: str, database_url: str, threads: int, worker: str | None = None, ray_address: str | None = None
) -> None:
    """The child process: train what the job asks for and record it. Every outcome lands in the registry; a job
    claimed by `worker` (running already) is written only while `worker` holds it, a job run without one (by hand,
    as the fault tests do) must be queued. With `ray_address` the trials run on that Ray cluster (this process is
    their driver and records them), otherwise here, one after another."""
    import torch

    from training.architectures import ARCHITECTURES
    from training.promotion import promote_job
    from training.protocol import TrialProgress
    from training.recording import train_and_record
    from training.task import get_task
    from training.train import TrainingCancelled

    exit_with_parent()  # a worker killed with SIGKILL must not leave its trainer running
    torch.set_num_threads(threads)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)  # classification in the parent comes first
    try:
        # must_exist: a deleted registry file is a failure, never a fresh empty file to train into.
        registry = Registry(database_url, must_exist=True)
    except RegistryError as error:
        logger.error("training job %s cannot start: %s", job_id, error)
        raise SystemExit(REGISTRY_GONE_EXIT_CODE) from None

    def update(**values: Any) -> None:
        # LeaseLost from a claimed job's write ends the training: the job is no longer this worker's.
        if worker is None:
            registry.update_job(job_id, **values)
        else:
            registry.update_owned_job(job_id, worker, **values)

    def write_progress(progress: TrialProgress) -> None:
        best_effort(lambda: update(progress=progress), what=f"job {job_id}: progress")

    def write_results(_: VersionInfo) -> None:  # the trial is safe already; the list is written again at the end
        best_effort(
            lambda: update(results=[JobTrial.of(v) for v in registry.job_versions(job_id)]),
            what=f"job {job_id}: results",
        )

    try:
        registry.ensure_migrated()
        info = registry.job(job_id)
        if not _runs_here(info, worker):
            return
        if info.cancel_requested:  # asked for between the claim and this process's start
            end_job(registry, job_id, "cancelled", "cancelled on request", worker=worker)
            return
        params = info.params
        arches = ARCHITECTURES if params.arch == "all" else (params.arch,)
        start = TrialProgress(arches[0], 0, params.trials, 0, params.max_sequences, None, None)
        # A claimed job is running already; one run by hand starts here.
        started = {"progress": start} if worker is not None else {"progress": start, "status": "running"}
        retry_transient(lambda: update(**started), what=f"job {job_id}: start")
        try:
            train_and_record(
                registry,
                arches,
                get_task(params.task),
                trials=params.trials,
                seed=params.seed,
                overrides=params.train_overrides(),
                activate=False,  # the promotion gate decides, once every trial is in
                job_id=job_id,
                on_progress=write_progress,
                should_stop=_CancelPoll(registry, job_id),
                on_recorded=write_results,
                ray_address=ray_address,
            )
        except TrainingCancelled:
            end_job(registry, job_id, "cancelled", "cancelled on request", worker=worker)
            return
        # owns_job spares a trainer whose lease is gone the gate's test run; the activation itself checks the
        # lease again, in its own transaction (the test run takes seconds, and the lease can be lost meanwhile).
        if params.activate and (worker is None or registry.owns_job(job_id, worker)):
            decisions = promote_job(registry, job_id, force=params.force, worker=worker)
            promotion = {arch: decision.to_dict() for arch, decision in decisions.items()}
            retry_transient(lambda: update(promotion=promotion), what=f"job {job_id}: promotion")
        end_job(registry, job_id, "succeeded", worker=worker)
    except LeaseLost as error:  # expired and ended by another worker, or claimed again: write nothing more
        logger.warning("training job %s: %s; stopping", job_id, error)
    except Exception as error:
        logger.exception("training job %s failed", job_id)
        # If even this write fails (the disk is full), the process exits non-zero and its worker records
        # the failure, with the trials kept, from the outside (`record_ended`).
        with contextlib.suppress(LeaseLost):
            end_job(registry, job_id, "failed", public_failure(error), worker=worker)
    finally:
        registry.close()


def _runs_here(info: JobInfo, worker: str | None) -> bool:
    """Whether this process may run the job: claimed by its worker, or (run by hand) still queued."""
    if worker is None:
        return info.status == "queued" and not info.cancel_requested
    return info.status == "running" and info.owner == worker


def record_ended(registry: Registry, job_id: str, exitcode: int | None, *, worker: str | None = None) -> JobInfo:
    """After a job's process has ended: a job it left unfinished (it crashed, was killed, or could not write
    its own failure, e.g. on a full disk) is marked failed (or cancelled), with the trials it kept. A job
    claimed by `worker` is ended only while `worker` still holds it."""
    info = registry.job(job_id)
    if info.finished or (worker is not None and info.owner != worker):
        return info
    status: JobStatus = "cancelled" if info.cancel_requested else "failed"
    try:
        return end_job(registry, job_id, status, f"the training process ended with exit code {exitcode}", worker=worker)
    except LeaseLost:  # expired meanwhile: whoever expired it has ended it
        return registry.job(job_id)
