"""Training jobs as a durable queue: a worker claims the oldest queued job with a lease, renews it with a
heartbeat while it trains, and ends the job only while it still holds the lease. A job whose lease ran out
(its worker died or lost the database) is queued again if it has attempts left, else marked interrupted;
nothing else ends someone else's job, so a second process starting never cuts off the first one's work.

    job = registry.claim_job("host:pid:abc", lease_s=30)            # what `temporal-order worker` does
    registry.heartbeat(job.id, "host:pid:abc", lease_s=30)          # every few seconds while it trains

Claiming is a compare-and-set: PostgreSQL picks the candidate with `FOR UPDATE SKIP LOCKED` (concurrent
workers skip each other's candidates instead of queuing on them); SQLite has one writer at a time, and the
update only takes a row that is still queued, so two workers never both claim one job on either backend.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from training.protocol import TrialProgress
from training.registry.jobs import JobsMixin, kept_summary
from training.registry.orm import TrainingJob, utcnow
from training.registry.records import JobInfo, JobNotFound, JobStatus, JobTrial, RegistryError

# How long a claim holds without a heartbeat. A worker renews it every third of this, so a missed beat or
# two (a database hiccup, a busy machine) does not lose the job.
DEFAULT_LEASE_S = 30.0
# Claims tried per call when other workers keep taking the candidate first.
_CLAIM_ATTEMPTS = 8

INTERRUPTED_ERROR = "interrupted: the worker running this job stopped renewing its lease before the job finished"


class LeaseLost(RegistryError):
    """The job is no longer this worker's: its lease expired and it was requeued, interrupted or claimed by
    another worker. The worker must stop training it and write nothing more into it."""


@dataclass(frozen=True)
class Heartbeat:
    """What a renewal found: whether the lease is still this worker's, whether a cancel was asked for, and whether
    the job's trainer has started (it has written progress: from then on it polls for a cancel itself; what
    `JobInfo.trainer_started` and `GET /train/{id}` report)."""

    owned: bool
    cancel_requested: bool
    started: bool = False


@dataclass(frozen=True)
class JobLease:
    """A worker's claim on a job, as the job's trainer names it for a write that must happen only under it."""

    job_id: str
    worker: str


def hold_lease(session: Session, lease: JobLease) -> None:
    """Inside `session`'s transaction: raise `LeaseLost` unless `lease.worker` still holds an unexpired lease on
    the job, and keep it held until the transaction ends. The check is a write to the job's row, so it locks the
    row (SQLite: the database) and an expiry or another claim waits for this transaction instead of slipping in
    between the check and the writes that follow it."""
    now = utcnow()
    held = session.execute(
        update(TrainingJob)
        .where(
            TrainingJob.id == lease.job_id,
            TrainingJob.owner == lease.worker,
            TrainingJob.status == "running",
            TrainingJob.lease_expires_at > now,
        )
        .values(owner=TrainingJob.owner)  # changes nothing; the write is for its lock
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], held).rowcount != 1:
        raise LeaseLost(f"training job {lease.job_id!r} is no longer run by worker {lease.worker}")


@dataclass(frozen=True)
class ExpiredJob:
    """A job whose lease ran out, and what became of it ("queued" again, "interrupted" or "cancelled")."""

    id: str
    owner: str | None
    status: str


def new_worker_id() -> str:
    """A worker's identity in the queue: host and process, plus a random part (a PID is reused across restarts)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease_end(now: datetime, lease_s: float) -> datetime:
    if lease_s <= 0:
        raise ValueError(f"a lease must last a positive time, not {lease_s} s")
    return now + timedelta(seconds=lease_s)


class JobQueueMixin(JobsMixin):
    """The queue methods of `Registry` on top of the plain job methods."""

    def claim_job(self, worker: str, *, lease_s: float = DEFAULT_LEASE_S) -> JobInfo | None:
        """Take the oldest queued job for `worker`: it becomes "running", owned by `worker` until its lease
        ends. None when nothing is queued."""
        for _ in range(_CLAIM_ATTEMPTS):
            with self.engine.begin() as connection:
                candidate = connection.scalar(
                    select(TrainingJob.id)
                    .where(TrainingJob.status == "queued", TrainingJob.cancel_requested.is_(False))
                    .order_by(TrainingJob.created_at, TrainingJob.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if candidate is None:
                    return None
                now = utcnow()
                taken = connection.execute(
                    update(TrainingJob)
                    .where(
                        TrainingJob.id == candidate,
                        TrainingJob.status == "queued",
                        TrainingJob.cancel_requested.is_(False),
                    )
                    .values(
                        status="running",
                        owner=worker,
                        lease_expires_at=_lease_end(now, lease_s),
                        heartbeat_at=now,
                        attempts=TrainingJob.attempts + 1,
                        started_at=now,
                        finished_at=None,
                    )
                ).rowcount
            if taken == 1:
                return self.job(candidate)
        return None

    def heartbeat(self, job_id: str, worker: str, *, lease_s: float = DEFAULT_LEASE_S) -> Heartbeat:
        """Renew `worker`'s lease on `job_id`; `owned` is False once the job is no longer its to run."""
        now = utcnow()
        with self.engine.begin() as connection:
            renewed = connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == job_id, TrainingJob.owner == worker, TrainingJob.status == "running")
                .values(lease_expires_at=_lease_end(now, lease_s), heartbeat_at=now)
            ).rowcount
            row = connection.execute(
                select(TrainingJob.cancel_requested, TrainingJob.progress).where(TrainingJob.id == job_id)
            ).one_or_none()
        if row is None:
            raise JobNotFound(f"no training job {job_id!r}")
        return Heartbeat(owned=renewed == 1, cancel_requested=bool(row.cancel_requested), started=bool(row.progress))

    def update_owned_job(
        self,
        job_id: str,
        worker: str,
        *,
        progress: TrialProgress | None = None,
        results: Sequence[JobTrial] | None = None,
        **values: Any,
    ) -> None:
        """Write `progress`, `results` and the column `values` into a running job `worker` still owns; `LeaseLost`
        if it is no longer its."""
        if progress is not None:
            values["progress"] = asdict(progress)
        if results is not None:
            values["results"] = [asdict(result) for result in results]
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == job_id, TrainingJob.owner == worker, TrainingJob.status == "running")
                .values(**values)
            ).rowcount
        if changed != 1:
            raise LeaseLost(f"training job {job_id!r} is no longer run by worker {worker}")

    def finish_owned_job(
        self,
        job_id: str,
        worker: str,
        *,
        status: JobStatus,
        results: Sequence[JobTrial] | None = None,
        error: str | None = None,
    ) -> JobInfo:
        """End a job `worker` still owns with a final status; `LeaseLost` if it is no longer its."""
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "lease_expires_at": None}
        if error is not None:
            values["error"] = error
        self.update_owned_job(job_id, worker, results=results, **values)
        return self.job(job_id)

    def end_job(
        self, job_id: str, status: JobStatus, reason: str | None = None, *, owner: str | None = None
    ) -> JobInfo:
        """Write a job's final status and, as its results, every trial it recorded; with a reason, the error gives
        it and the trials kept. With `owner`, only while that worker still holds the job (`LeaseLost` if not):
        a worker whose lease ran out never ends a job someone else has taken over."""
        versions = self.job_versions(job_id)
        error = None if reason is None else f"{reason}; {kept_summary(versions)}"
        results = [JobTrial.of(version) for version in versions]
        if owner is not None:
            return self.finish_owned_job(job_id, owner, status=status, results=results, error=error)
        return self.update_job(job_id, status=status, results=results, error=error)

    def owns_job(self, job_id: str, worker: str) -> bool:
        with self._sessions() as session:
            row = session.get(TrainingJob, job_id)
            return row is not None and row.owner == worker and row.status == "running"

    def expire_leases(self, *, now: datetime | None = None) -> list[ExpiredJob]:
        """End the claims that ran out: such a job is queued again while it has attempts left (and no cancel
        was asked for), else marked interrupted (or cancelled). Safe to call from every worker at once: each
        job is changed by exactly one caller, and only if its lease is still the expired one."""
        now = now or utcnow()
        expired: list[ExpiredJob] = []
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(
                    TrainingJob.id,
                    TrainingJob.owner,
                    TrainingJob.lease_expires_at,
                    TrainingJob.attempts,
                    TrainingJob.max_attempts,
                    TrainingJob.cancel_requested,
                )
                .where(
                    TrainingJob.status == "running",
                    # No lease at all: a job started by a version of the service before the queue existed.
                    or_(TrainingJob.lease_expires_at.is_(None), TrainingJob.lease_expires_at < now),
                )
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, owner, lease, attempts, max_attempts, cancel_requested in rows:
                if cancel_requested:
                    status = "cancelled"
                    values: dict[str, Any] = {"error": "cancelled: its worker stopped before it could end the job"}
                elif max(attempts, 1) < max_attempts:  # a job run outside the queue had one go
                    status = "queued"
                    values = {"owner": None, "progress": {}, "started_at": None}
                else:
                    status = "interrupted"
                    values = {"error": INTERRUPTED_ERROR}
                if status != "queued":
                    values["finished_at"] = now
                lease_unchanged = (
                    TrainingJob.lease_expires_at.is_(None) if lease is None else TrainingJob.lease_expires_at == lease
                )
                changed = connection.execute(
                    update(TrainingJob)
                    .where(TrainingJob.id == job_id, TrainingJob.status == "running", lease_unchanged)
                    .values(status=status, lease_expires_at=None, **values)
                ).rowcount
                if changed == 1:
                    expired.append(ExpiredJob(id=job_id, owner=owner, status=status))
        return expired
