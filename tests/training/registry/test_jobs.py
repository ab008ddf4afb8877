"""Training jobs as the service's `POST /train` keeps them: create, progress, finish, cancel, recover."""

from __future__ import annotations

import pytest

from training.registry import JobNotFound, Registry


def test_a_job_moves_from_queued_to_succeeded(registry: Registry) -> None:
    job = registry.create_job({"arch": "lstm", "trials": 2})
    assert (job.status, job.params, job.progress, job.results) == ("queued", {"arch": "lstm", "trials": 2}, {}, [])
    assert job.started_at is None and job.finished_at is None and not job.finished

    running = registry.update_job(job.id, status="running", progress={"trial": 1, "sequences": 500})
    assert running.status == "running" and running.started_at is not None and running.finished_at is None
    again = registry.update_job(job.id, progress={"trial": 2, "sequences": 100})
    assert again.started_at == running.started_at and again.progress == {"trial": 2, "sequences": 100}

    done = registry.update_job(job.id, status="succeeded", results=[{"arch": "lstm", "run_id": 1}])
    assert done.finished and done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]
    assert registry.job(job.id) == done


def test_jobs_are_listed_newest_first(registry: Registry) -> None:
    ids = [registry.create_job({"n": n}).id for n in range(4)]
    assert [job.id for job in registry.jobs()] == ids[::-1]
    assert [job.id for job in registry.jobs(limit=2)] == ids[:1:-1]


def test_failure_keeps_its_error(registry: Registry) -> None:
    job = registry.create_job({})
    failed = registry.update_job(job.id, status="failed", error="ValueError: lr must be positive")
    assert failed.error == "ValueError: lr must be positive" and failed.finished_at is not None


def test_cancel_a_queued_job_at_once_and_a_running_one_by_request(registry: Registry) -> None:
    queued = registry.request_cancel(registry.create_job({}).id)
    assert queued.status == "cancelled" and queued.cancel_requested and queued.finished_at is not None

    running = registry.create_job({})
    registry.update_job(running.id, status="running")
    requested = registry.request_cancel(running.id)
    assert requested.status == "running" and requested.cancel_requested

    finished = registry.create_job({})
    registry.update_job(finished.id, status="succeeded")
    assert registry.request_cancel(finished.id).status == "succeeded"


def test_mark_interrupted_only_touches_unfinished_jobs(registry: Registry) -> None:
    queued = registry.create_job({})
    running = registry.create_job({})
    registry.update_job(running.id, status="running")
    done = registry.create_job({})
    registry.update_job(done.id, status="succeeded")

    assert registry.mark_interrupted() == 2
    assert registry.job(queued.id).status == registry.job(running.id).status == "interrupted"
    assert "interrupted" in (registry.job(running.id).error or "")
    assert registry.job(done.id).status == "succeeded"
    assert registry.mark_interrupted() == 0


def test_unknown_jobs_and_statuses_are_errors(registry: Registry) -> None:
    with pytest.raises(JobNotFound, match="no training job 'nope'"):
        registry.job("nope")
    with pytest.raises(JobNotFound):
        registry.update_job("nope", status="running")
    with pytest.raises(JobNotFound):
        registry.request_cancel("nope")
    job = registry.create_job({})
    with pytest.raises(ValueError, match="unknown job status 'paused'"):
        registry.update_job(job.id, status="paused")
