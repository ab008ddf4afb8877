"""Training jobs as the service's `POST /train` keeps them: create, progress, finish, cancel, recover."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from training.protocol import TrialProgress
from training.registry import JobNotFound, JobParams, JobTrial, Registry
from training.task import get_task

from .conftest import MakeRecord

PARAMS = JobParams(arch="lstm", task="6b", trials=2, max_sequences=1000, seed=0)


def _stored(registry: Registry, job_id: str) -> dict[str, Any]:
    with registry.engine.connect() as connection:
        row = connection.execute(
            text("SELECT params, progress, results FROM training_jobs WHERE id = :id"), {"id": job_id}
        ).one()
    return {"params": json.loads(row.params), "progress": json.loads(row.progress), "results": json.loads(row.results)}


def test_a_job_moves_from_queued_to_succeeded(registry: Registry) -> None:
    job = registry.create_job(PARAMS)
    assert (job.status, job.params, job.progress, job.results) == ("queued", PARAMS, None, [])
    assert job.started_at is None and job.finished_at is None and not job.finished

    first = TrialProgress("lstm", 1, 2, 500, 1000, 0.5, 0.25)
    running = registry.update_job(job.id, status="running", progress=first)
    assert running.status == "running" and running.started_at is not None and running.finished_at is None
    second = TrialProgress("lstm", 2, 2, 100, 1000, 0.75, 0.0)
    again = registry.update_job(job.id, progress=second)
    assert again.started_at == running.started_at and again.progress == second

    trial = JobTrial("lstm", 0, True, 800, 1, 2, 3000, 7)
    done = registry.update_job(job.id, status="succeeded", results=[trial])
    assert done.finished and done.finished_at is not None and done.finished_at >= done.started_at  # type: ignore[operator]
    assert registry.job(job.id) == done and done.results == [trial]


def test_a_job_row_stores_plain_json_in_the_shape_the_api_has_always_answered(registry: Registry) -> None:
    job = registry.create_job(PARAMS)
    registry.update_job(job.id, progress=TrialProgress("lstm", 1, 2, 500, 1000, None, None))
    registry.update_job(job.id, results=[JobTrial("lstm", 0, False, None, 9, 12, 3000, 1)])
    assert _stored(registry, job.id) == {
        "params": {
            "arch": "lstm",
            "task": "6b",
            "trials": 2,
            "max_sequences": 1000,
            "seed": 0,
            "optimizer": None,
            "learning_rate": None,
            "batch_size": None,
            "grad_clip": None,
            "activate": True,
            "force": False,
            "retries": 0,
        },
        "progress": {
            "arch": "lstm",
            "trial": 1,
            "trials": 2,
            "sequences": 500,
            "max_sequences": 1000,
            "train_error": None,
            "train_accuracy": None,
        },
        "results": [
            {
                "arch": "lstm",
                "seed": 0,
                "converged": False,
                "sequences_to_criterion": None,
                "wrong_argmax": 9,
                "wrong_paper": 12,
                "n_test": 3000,
                "model_version": 1,
            }
        ],
    }


def test_a_row_stored_before_force_and_retries_existed_reads_as_their_defaults(registry: Registry) -> None:
    job = registry.create_job(PARAMS)
    params = _stored(registry, job.id)["params"]
    stored = {key: value for key, value in params.items() if key not in ("force", "retries")}
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE training_jobs SET params = :params WHERE id = :id"),
            {"params": json.dumps(stored), "id": job.id},
        )
    assert registry.job(job.id).params == PARAMS and not PARAMS.force and PARAMS.retries == 0


def test_ending_a_job_lists_every_trial_it_recorded_and_says_which_it_kept(
    registry: Registry, make_record: MakeRecord
) -> None:
    job = registry.create_job(PARAMS)
    run_id = registry.start_run("lstm", get_task("6b"), make_record(seed=0), job_id=job.id)
    registry.add_trial(run_id, 0, make_record(seed=0, wrong_argmax=4))
    registry.add_trial(run_id, 1, make_record(seed=1, sequences_to_criterion=None))
    ended = registry.end_job(job.id, "failed", "the registry could not be written")
    assert ended.status == "failed"
    assert ended.error == "the registry could not be written; kept 2 trials: lstm versions 1, 2"
    assert [(t.seed, t.converged, t.wrong_argmax, t.model_version) for t in ended.results] == [
        (0, True, 4, 1),
        (1, False, 10, 2),
    ]
    other = registry.create_job(PARAMS)
    assert registry.end_job(other.id, "succeeded").error is None
    assert registry.end_job(registry.create_job(PARAMS).id, "cancelled", "asked").error == "asked; no trial was kept"


def test_jobs_are_listed_newest_first(registry: Registry) -> None:
    ids = [registry.create_job(PARAMS).id for _ in range(4)]
    assert [job.id for job in registry.jobs()] == ids[::-1]
    assert [job.id for job in registry.jobs(limit=2)] == ids[:1:-1]


def test_failure_keeps_its_error(registry: Registry) -> None:
    job = registry.create_job(PARAMS)
    failed = registry.update_job(job.id, status="failed", error="ValueError: lr must be positive")
    assert failed.error == "ValueError: lr must be positive" and failed.finished_at is not None


def test_cancel_a_queued_job_at_once_and_a_running_one_by_request(registry: Registry) -> None:
    queued = registry.request_cancel(registry.create_job(PARAMS).id)
    assert queued.status == "cancelled" and queued.cancel_requested and queued.finished_at is not None

    running = registry.create_job(PARAMS)
    registry.update_job(running.id, status="running")
    requested = registry.request_cancel(running.id)
    assert requested.status == "running" and requested.cancel_requested

    finished = registry.create_job(PARAMS)
    registry.update_job(finished.id, status="succeeded")
    assert registry.request_cancel(finished.id).status == "succeeded"


def test_unknown_jobs_and_statuses_are_errors(registry: Registry) -> None:
    with pytest.raises(JobNotFound, match="no training job 'nope'"):
        registry.job("nope")
    with pytest.raises(JobNotFound):
        registry.update_job("nope", status="running")
    with pytest.raises(JobNotFound):
        registry.request_cancel("nope")
    job = registry.create_job(PARAMS)
    with pytest.raises(ValueError, match="unknown job status 'paused'"):
        registry.update_job(job.id, status="paused")  # type: ignore[arg-type]


def test_a_job_keeps_the_id_of_the_request_that_queued_it(registry: Registry) -> None:
    queued = registry.create_job(PARAMS, request_id="request-7")
    assert registry.job(queued.id).request_id == "request-7"
    running = registry.update_job(queued.id, status="running")  # whoever runs it reads it back
    assert running.request_id == "request-7"
    assert registry.create_job(PARAMS).request_id is None  # queued by no request (the CLI, a test)
