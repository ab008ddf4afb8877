"""Handles on training jobs: the latest known state plus refresh, wait and cancel.

job = client.train(arch="lstm", max_sequences=20_000)
final = job.wait(timeout=600)
print(final.status, final.results)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Protocol

from service.client._base import DEFAULT_POLL_INTERVAL
from service.client.errors import JobWaitTimeoutError
from service.schemas import TERMINAL_JOB_STATUSES, JobStatus, TrainJobPublic


class JobEndpoints(Protocol):
    """What a `TrainJob` asks of its client (`Client` is one)."""

    def fetch_job(self, job_id: str) -> TrainJobPublic: ...
    def cancel_job(self, job_id: str) -> TrainJobPublic: ...
    def pause(self, seconds: float) -> None: ...


class AsyncJobEndpoints(Protocol):
    """What an `AsyncTrainJob` asks of its client (`AsyncClient` is one)."""

    def fetch_job(self, job_id: str) -> Awaitable[TrainJobPublic]: ...
    def cancel_job(self, job_id: str) -> Awaitable[TrainJobPublic]: ...
    def pause(self, seconds: float) -> Awaitable[None]: ...


def _check_wait_args(timeout: float | None, poll_interval: float) -> None:
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be > 0, got {poll_interval}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout}")


def _timed_out(job: TrainJobPublic, timeout: float | None) -> JobWaitTimeoutError:
    return JobWaitTimeoutError(
        f"job {job.id} still {job.status} after {timeout:g}s; it keeps running on the server", job=job
    )


class _JobHandle:
    def __init__(self, job: TrainJobPublic) -> None:
        self.job = job

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> JobStatus:
        """The status as last fetched; call `refresh()` for a newer one."""
        return self.job.status

    @property
    def done(self) -> bool:
        """True once the job succeeded, failed, was cancelled or was interrupted by a server restart."""
        return self.job.status in TERMINAL_JOB_STATUSES

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, status={self.status!r})"


class TrainJob(_JobHandle):
    """A training job of a `Client`. `.job` is the last `TrainJobPublic` fetched."""

    def __init__(self, client: JobEndpoints, job: TrainJobPublic) -> None:
        super().__init__(job)
        self._client = client

    def refresh(self) -> TrainJobPublic:
        """Fetch the job's current state (progress, results) and return it."""
        self.job = self._client.fetch_job(self.id)
        return self.job

    def wait(self, *, timeout: float | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL) -> TrainJobPublic:
        """Poll until the job ends and return its final state; `.status` says how it ended.

        `timeout=None` waits as long as it takes; otherwise JobWaitTimeoutError after `timeout` seconds
        (the job itself goes on; cancel it with `cancel()`).
        """
        _check_wait_args(timeout, poll_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(self.job, timeout)
                self._client.pause(min(poll_interval, remaining))
            else:
                self._client.pause(poll_interval)
            self.refresh()
        return self.job

    def cancel(self) -> TrainJobPublic:
        """Ask the server to cancel the job (needs the API key); returns its state after the request.

        A running trial stops at its next check, so the status may read `running` for a moment;
        `wait()` returns once it is `cancelled`.
        """
        self.job = self._client.cancel_job(self.id)
        return self.job


class AsyncTrainJob(_JobHandle):
    """A training job of an `AsyncClient`; the same methods as `TrainJob`, awaitable."""

    def __init__(self, client: AsyncJobEndpoints, job: TrainJobPublic) -> None:
        super().__init__(job)
        self._client = client

    async def refresh(self) -> TrainJobPublic:
        """Fetch the job's current state (progress, results) and return it."""
        self.job = await self._client.fetch_job(self.id)
        return self.job

    async def wait(
        self, *, timeout: float | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL
    ) -> TrainJobPublic:
        """Poll until the job ends and return its final state (see `TrainJob.wait`)."""
        _check_wait_args(timeout, poll_interval)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(self.job, timeout)
                await self._client.pause(min(poll_interval, remaining))
            else:
                await self._client.pause(poll_interval)
            await self.refresh()
        return self.job

    async def cancel(self) -> TrainJobPublic:
        """Ask the server to cancel the job (needs the API key); returns its state after the request."""
        self.job = await self._client.cancel_job(self.id)
        return self.job
