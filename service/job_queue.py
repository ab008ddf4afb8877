"""The API's side of training jobs: `POST /train` queues a job in the registry and `DELETE /train/{id}` asks
for its cancel there, so any API replica can cancel a job whichever worker runs it. The single-process default
embeds a worker (service/worker.py), woken the moment a job is queued here.
"""

from __future__ import annotations

import asyncio

from service import job_events
from service.errors import Conflict, RegistryUnavailable
from service.logging_setup import current_request_id
from service.schemas import TrainJobCreate
from service.worker import JobWorker
from training.registry import JobInfo, JobParams, Registry


class JobQueue:
    """Submit and cancel through the registry; `worker` is the embedded one, or None for an API-only replica."""

    def __init__(self, registry: Registry, *, worker: JobWorker | None = None) -> None:
        self.registry = registry
        self.worker = worker

    async def start(self) -> None:
        if self.worker is not None:
            await self.worker.start()

    @property
    def running(self) -> list[str]:
        """The jobs this process trains right now (none on an API-only replica)."""
        return [] if self.worker is None else self.worker.running

    async def submit(self, params: TrainJobCreate) -> JobInfo:
        problem = await asyncio.to_thread(self.registry.problem)
        if problem is not None:  # nowhere to record the job, or its trials
            raise RegistryUnavailable(f"no training job can start: {problem}", hint="see GET /readyz")
        # The job's row keeps this request's id: whichever worker runs it writes the id on the job's log lines.
        request_id = current_request_id()
        info = await asyncio.to_thread(
            lambda: self.registry.create_job(JobParams(**params.model_dump()), request_id=request_id)
        )
        job_events.queued(info)
        if self.worker is not None:
            self.worker.wake()
        return info

    async def cancel(self, job_id: str) -> JobInfo:
        info = await asyncio.to_thread(self.registry.job, job_id)
        if info.finished:
            raise Conflict(f"training job {job_id!r} already ended with status {info.status!r}")
        # The worker running it sees the request in its next heartbeat, the trainer at its next cancel poll.
        return await asyncio.to_thread(self.registry.request_cancel, job_id)

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close()
