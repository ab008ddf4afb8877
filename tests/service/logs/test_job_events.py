"""A job's end as the configured log pipeline writes it, for a job whose result carries the promotion gate's
decision (jobs on a live server are covered in test_request_log.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
import structlog

from service import job_events
from service.logging_setup import configure_logging
from training.protocol import TrialProgress
from training.registry import JobInfo, JobParams, JobTrial


def finished_job(promotion: dict[str, object] | None) -> JobInfo:
    now = datetime.now(UTC)
    trial = JobTrial("lstm", 0, True, 41_000, 3, 9, 3000, model_version=7)
    return JobInfo(
        id="job-1",
        status="succeeded",
        params=JobParams(arch="lstm", task="6b", trials=1, max_sequences=50_000, seed=0),
        progress=TrialProgress("lstm", 1, 1, 41_000, 50_000, 0.05, 1.0),
        results=[trial],
        error=None,
        cancel_requested=False,
        created_at=now,
        started_at=now,
        finished_at=now,
        promotion=promotion,
    )


@pytest.mark.usefixtures("restore_logging")
def test_a_jobs_end_says_whether_it_was_promoted_with_its_request_id() -> None:
    written = io.StringIO()
    configure_logging("INFO", "json", stream=written)
    refused = {"arch": "lstm", "candidate": 7, "served": 5, "promoted": False, "reason": "version 7 has 12 wrong"}
    with job_events.job_context("job-1", "request-9"):
        job_events.ended(finished_job({"lstm": refused}), exitcode=0)
        job_events.ended(finished_job(None), exitcode=0)
    gated, ungated = [json.loads(line) for line in written.getvalue().splitlines()]
    assert gated["event"] == "job ended" and gated["logger"] == "service.events"
    assert (gated["job_id"], gated["request_id"], gated["status"]) == ("job-1", "request-9", "succeeded")
    assert gated["promoted"] == {"lstm": False} and gated["promotion"] == {"lstm": "version 7 has 12 wrong"}
    assert gated["versions"] == [7] and gated["sequences"] == 41_000
    assert "promoted" not in ungated  # no gate ran: the line claims nothing about it
    assert structlog.contextvars.get_contextvars() == {}  # the job's context ends with it
