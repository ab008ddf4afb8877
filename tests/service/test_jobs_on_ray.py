"""Training jobs on a Ray cluster: a service started with TEMPORAL_ORDER_RAY_ADDRESS runs a job's trials on a real
local cluster (the session's, tests/conftest.py `ray_address`): the job's trainer joins it as a driver and records
what comes back, each trial once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server

TERMINAL = {"succeeded", "failed", "cancelled", "interrupted"}
# Only a hang guard: the job below trains two trials of 100 sequences.
JOB_DEADLINE_S = 600


def _drivers() -> int:
    """Drivers the cluster has seen (this test's process is one); Ray's own state, read over its GCS."""
    import ray

    return len(ray._private.state.jobs())


@pytest.fixture(scope="module")
def server(ray_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("jobs-on-ray")
    url = make_registry(directory / "registry.db", arches=("rnn",))
    live = start_server(url, directory, warmup=False, ray_address=ray_address)
    yield live
    live.stop()


def test_a_job_runs_its_trials_on_the_cluster_and_records_each_once(server: LiveServer) -> None:
    drivers = _drivers()
    job = {"arch": "rnn", "trials": 2, "max_sequences": 100, "seed": 3, "activate": False}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        created = http.post("/train", json=job, headers=server.auth)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + JOB_DEADLINE_S
        while (state := http.get(f"/train/{job_id}").json())["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"the job did not end: {state}\n{server.log()[-3000:]}"
            time.sleep(0.2)  # polls the job's state; not a timing assumption
    assert state["status"] == "succeeded", f"{state}\n{server.log()[-3000:]}"
    assert sorted(trial["seed"] for trial in state["results"]) == [3, 4]
    assert len({trial["model_version"] for trial in state["results"]}) == 2
    assert _drivers() == drivers + 1  # the job's trainer was the cluster's driver: its trials ran there
