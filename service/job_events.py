"""Training jobs as log events, one home for their wording: queued, started, progress, ended, and the queue's
lease expired (another worker's job ended) and lease lost (this worker's trainer stopped).

Whoever supervises a job (the service's embedded job manager, a worker) calls these inside `job_context`, so
every line carries the job's id and the X-Request-ID of the request that queued it. Progress is read from the
registry, where the trainer writes it, by `follow_progress`: at most one line per interval, and only when the
job has moved, so a long job logs steadily and a quiet one not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import structlog

from service.logging_setup import events
from training.protocol import TrialProgress
from training.registry import JobInfo, Registry

logger = logging.getLogger("service.job_events")

DEFAULT_PROGRESS_EVERY_S = 10.0


@contextlib.contextmanager
def job_context(job_id: str, request_id: str | None) -> Iterator[None]:
    """Bind the job's id and its request's id to every line logged inside (tasks started inside inherit them)."""
    with structlog.contextvars.bound_contextvars(job_id=job_id, request_id=request_id):
        yield


def queued(info: JobInfo) -> None:
    params = info.params
    events.info("job queued", job_id=info.id, arch=params.arch, task=params.task, trials=params.trials)


def started(**fields: Any) -> None:
    """`fields`: who runs it (pid, worker, attempt)."""
    events.info("job started", **fields)


def progress_fields(progress: TrialProgress) -> dict[str, Any]:
    return {
        "arch": progress.arch,
        "trial": progress.trial,
        "trials": progress.trials,
        "sequences": progress.sequences,
        "max_sequences": progress.max_sequences,
        "train_error": progress.train_error,
        "train_accuracy": progress.train_accuracy,
    }


def promotion_fields(info: JobInfo) -> dict[str, Any]:
    """What the promotion gate decided per architecture, when the job's result says (jobs that ran it)."""
    if not info.promotion:
        return {}
    decisions = {arch: decision for arch, decision in info.promotion.items() if isinstance(decision, dict)}
    return {
        "promoted": {arch: bool(decision.get("promoted")) for arch, decision in decisions.items()},
        "promotion": {arch: decision.get("reason") for arch, decision in decisions.items()},
    }


def ended(info: JobInfo, **fields: Any) -> None:
    """`fields`: how its process ended (exitcode)."""
    last = {} if info.progress is None else {"sequences": info.progress.sequences, "trial": info.progress.trial}
    events.info(
        "job ended",
        status=info.status,
        error=info.error,
        versions=[trial.model_version for trial in info.results],
        **last,
        **promotion_fields(info),
        **fields,
    )


def lease_expired(job_id: str, owner: str | None, now: str) -> None:
    """A worker found the job's lease run out (its worker is gone) and ended or requeued it: `now` is its status."""
    events.warning("job lease expired", job_id=job_id, owner=owner, now=now)


def lease_lost(**fields: Any) -> None:
    """This worker's lease on the job ran out while it trained: its trainer was stopped and writes nothing more."""
    events.warning("job lease lost; its trainer was stopped", **fields)


async def follow_progress(registry: Registry, job_id: str, every_s: float = DEFAULT_PROGRESS_EVERY_S) -> None:
    """Log the job's progress every `every_s` while it moves; run as a task beside the job, cancelled at its end."""
    logged: TrialProgress | None = None
    while True:
        await asyncio.sleep(every_s)
        try:
            info = await asyncio.to_thread(registry.job, job_id)
        except Exception as error:  # a missed line is no reason to disturb the job: try at the next interval
            logger.warning("job %s: reading its progress failed (%s)", job_id, error)
            continue
        progress = info.progress
        if info.status != "running" or progress is None or progress.trial == 0 or progress == logged:
            continue
        events.info("job progress", **progress_fields(progress))
        logged = progress
