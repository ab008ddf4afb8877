"""Training jobs: POST/GET /train, GET/DELETE /train/{job_id}."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.deps import ApiKeyDep, JobsDep, RegistryDep
from service.schemas import PromotionPublic, TrainJobCreate, TrainJobList, TrainJobProgress, TrainJobPublic, TrialPublic
from training.registry import JobInfo

router = APIRouter(prefix="/train", tags=["train"])


def job_public(info: JobInfo) -> TrainJobPublic:
    return TrainJobPublic(
        id=info.id,
        status=info.status,
        params=TrainJobCreate.model_validate(asdict(info.params)),
        progress=TrainJobProgress.model_validate(asdict(info.progress) if info.progress else {}),
        results=[TrialPublic.model_validate(asdict(result)) for result in info.results],
        error=info.error,
        created_at=info.created_at,
        started_at=info.started_at,
        finished_at=info.finished_at,
        status_url=f"/train/{info.id}",
        worker=info.owner,
        attempts=info.attempts,
        trainer_started=info.trainer_started,
        promotion={arch: PromotionPublic.model_validate(decision) for arch, decision in (info.promotion or {}).items()},
    )


@router.post("", status_code=202, dependencies=[ApiKeyDep])
async def start_job(body: TrainJobCreate, jobs: JobsDep, response: Response) -> TrainJobPublic:
    """Queue a training job (needs the API key); poll its status_url for progress."""
    info = await jobs.submit(body)
    response.headers["Location"] = f"/train/{info.id}"
    return job_public(info)


@router.get("")
async def list_jobs(
    registry: RegistryDep, limit: Annotated[int, Query(ge=1, le=1000, description="Most recent first.")] = 100
) -> TrainJobList:
    """List training jobs, newest first."""
    jobs = await asyncio.to_thread(registry.jobs, limit)
    return TrainJobList(jobs=[job_public(info) for info in jobs])


@router.get("/{job_id}")
async def get_job(job_id: str, registry: RegistryDep) -> TrainJobPublic:
    """A training job's status, live progress and results."""
    return job_public(await asyncio.to_thread(registry.job, job_id))


@router.delete("/{job_id}", dependencies=[ApiKeyDep])
async def cancel_job(job_id: str, jobs: JobsDep) -> TrainJobPublic:
    """Cancel a queued or running training job (needs the API key)."""
    return job_public(await jobs.cancel(job_id))
