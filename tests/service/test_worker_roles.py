"""Two embedded-default servers (`serve`, API and worker in one process) on one SQLite registry: the second one's
start leaves the first one's running job alone (before the queue it marked it interrupted while it trained on),
and a cancel through the second stops the job the first one's worker runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.registry import make_registry

from .test_jobs import LONG_JOB, job, wait_for


def test_a_second_server_leaves_the_first_ones_job_running_and_can_cancel_it(
    server_factory: Any, tmp_path: Path
) -> None:
    url = make_registry(tmp_path / "two.db", arches=("lstm",))
    first = server_factory(url)
    with httpx.Client(base_url=first.url, timeout=60, headers=first.auth) as client:
        job_id = client.post("/train", json=LONG_JOB).json()["id"]
        running = wait_for(lambda: (j := job(client, job_id)).status == "running" and j.progress.sequences and j, 300)
    assert running.worker and running.attempts == 1

    second = server_factory(url)  # its worker's start ends only expired leases
    with httpx.Client(base_url=second.url, timeout=60, headers=second.auth) as client:
        seen = job(client, job_id)
        assert (seen.status, seen.worker, seen.error) == ("running", running.worker, None)
        # It trains on: the progress it writes is still the first worker's to write.
        wait_for(lambda: job(client, job_id).progress.sequences > running.progress.sequences, timeout=120)
        assert client.delete(f"/train/{job_id}").status_code == 200
        final = wait_for(lambda: (j := job(client, job_id)).status != "running" and j, timeout=120)
    assert final.status == "cancelled" and final.worker == running.worker
    assert final.error is not None and final.error.startswith("cancelled on request"), final.error
