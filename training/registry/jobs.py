"""Training jobs (the service's `POST /train`) as the registry keeps them: queued → running → a final
status, with live progress, results and a cancel flag that the worker polls. Who runs a job, and what happens
when it stops running it, is the queue's part (training/registry/queue.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from training.protocol import TrialProgress
from training.registry.orm import TrainingJob, utcnow
from training.registry.records import (
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    JobInfo,
    JobNotFound,
    JobParams,
    JobStatus,
    JobTrial,
    VersionInfo,
)


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


def _job_info(row: TrainingJob) -> JobInfo:
    return JobInfo(
        id=row.id,
        status=cast(JobStatus, row.status),  # update_job admits no other value
        params=JobParams(**row.params),
        progress=TrialProgress(**row.progress) if row.progress else None,
        results=[JobTrial(**result) for result in row.results],
        error=row.error,
        cancel_requested=row.cancel_requested,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        promotion=None if row.promotion is None else dict(row.promotion),
        request_id=row.request_id,
    )


class JobsMixin:
    """The job methods of `Registry`; it provides the engine and the session factory."""

    engine: Engine
    _sessions: sessionmaker[Session]
    job_versions: Callable[[str], list[VersionInfo]]

    def create_job(
        self, params: JobParams, *, max_attempts: int | None = None, request_id: str | None = None
    ) -> JobInfo:
        """Queue a job; a worker that dies while running it gives it another go while attempts < max_attempts
        (default: one attempt plus the job's retries). `request_id`: the request that queued it, for the job's
        log lines wherever it runs."""
        if max_attempts is None:
            max_attempts = 1 + params.retries
        if max_attempts < 1:
            raise ValueError(f"a job needs at least one attempt, not {max_attempts}")
        with self._sessions.begin() as session:
            row = TrainingJob(
                id=uuid.uuid4().hex,
                status="queued",
                params=asdict(params),
                progress={},
                results=[],
                error=None,
                cancel_requested=False,
                created_at=utcnow(),
                attempts=0,
                max_attempts=max_attempts,
                request_id=request_id,
            )
            session.add(row)
            session.flush()
            return _job_info(row)

    def job(self, job_id: str) -> JobInfo:
        with self._sessions() as session:
            return _job_info(self._job_row(session, job_id))

    @staticmethod
    def _job_row(session: Session, job_id: str) -> TrainingJob:
        row = session.get(TrainingJob, job_id)
        if row is None:
            raise JobNotFound(f"no training job {job_id!r}")
        return row

    def jobs(self, limit: int = 100) -> list[JobInfo]:
        """The most recent jobs, newest first."""
        statement = select(TrainingJob).order_by(TrainingJob.created_at.desc(), TrainingJob.id).limit(limit)
        with self._sessions() as session:
            return [_job_info(row) for row in session.scalars(statement)]

    def update_job(
        self,
        job_id: str,
        *,
        status: JobStatus | None = None,
        progress: TrialProgress | None = None,
        results: Sequence[JobTrial] | None = None,
        error: str | None = None,
        promotion: dict[str, Any] | None = None,
    ) -> JobInfo:
        """Change what is given; entering `running` stamps started_at, entering a final status finished_at."""
        if status is not None and status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}; known: {', '.join(JOB_STATUSES)}")
        with self._sessions.begin() as session:
            row = self._job_row(session, job_id)
            now = utcnow()
            if status is not None:
                if status == "running" and row.started_at is None:
                    row.started_at = now
                if status in TERMINAL_JOB_STATUSES and row.finished_at is None:
                    row.finished_at = now
                row.status = status
            if progress is not None:
                row.progress = asdict(progress)
            if results is not None:
                row.results = [asdict(result) for result in results]
            if error is not None:
                row.error = error
            if promotion is not None:
                row.promotion = dict(promotion)
            return _job_info(row)

    def request_cancel(self, job_id: str) -> JobInfo:
        """Ask a job to stop; a job still queued is cancelled at once, a running one by its worker."""
        with self._sessions.begin() as session:
            row = self._job_row(session, job_id)
            if row.status in TERMINAL_JOB_STATUSES:
                return _job_info(row)
            row.cancel_requested = True
            if row.status == "queued":
                row.status = "cancelled"
                row.finished_at = utcnow()
            return _job_info(row)
