"""Training jobs end to end: queued, running with visible progress, recorded, activated and swapped in;
cancelled when asked; interrupted by a restart; kept across one.

The tests that need one server share it (`jobs_server`: starting a server, and its fork server's imports at its
first job, is most of such a test's time). Each reads what its job may change before queueing it and asserts on
what that job changed; whatever a failed test leaves in the queue is cancelled after it, so the next test's jobs
are not queued behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import httpx
import psutil
import pytest

from service import schemas
from service.schemas import TERMINAL_JOB_STATUSES, JobStatus, TrainJobPublic
from tests.support.processes import fork_servers, user_children
from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server
from training.promotion import PromotionDecision
from training.protocol import TrialProgress
from training.registry import JOB_STATUSES, JobParams, JobTrial, Registry
from training.registry import TERMINAL_JOB_STATUSES as REGISTRY_TERMINAL

SHORT_JOB = {"arch": "lstm", "trials": 1, "max_sequences": 3000, "seed": 3, "batch_size": 32}
# The seed's attention never meets the criterion (it is capped at 50%), so this job runs until stopped; an
# lstm job would meet it within seconds.
LONG_JOB = {"arch": "attn_rnn_seed", "trials": 1, "max_sequences": 10_000_000, "seed": 4}
# A liveness bound only: a server's first job also starts its worker's fork server (torch imported once more), which
# took minutes on the shared, loaded test machine.
FIRST_JOB_TIMEOUT_S = 480
# How long a stopped server's trainer and fork server may take to be gone: a liveness bound, not a pass mark.
SHUTDOWN_LIVENESS_S = 120


def wait_for(check: Callable[[], Any], timeout: float = 120, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def job(client: httpx.Client, job_id: str) -> TrainJobPublic:
    response = client.get(f"/train/{job_id}")
    assert response.status_code == 200, response.text
    return TrainJobPublic.model_validate(response.json())


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded default on a registry holding one untrained lstm (and no rnn), shared by this module's tests."""
    directory = tmp_path_factory.mktemp("jobs")
    server = start_server(make_registry(directory / "jobs.db", arches=("lstm",)), directory)
    yield server
    server.stop()


@pytest.fixture
def client(jobs_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the shared server; afterwards, the jobs a test left unfinished are cancelled and waited for."""
    with httpx.Client(base_url=jobs_server.url, timeout=30, headers=jobs_server.auth) as client:
        yield client
        left = [
            item["id"] for item in client.get("/train").json()["jobs"] if item["status"] not in TERMINAL_JOB_STATUSES
        ]
        for job_id in left:
            client.delete(f"/train/{job_id}")
        for job_id in left:  # a liveness bound: the worker's fallback ends a trainer that ignores its cancel
            wait_for(lambda job_id=job_id: job(client, job_id).status in TERMINAL_JOB_STATUSES, timeout=120)


def lstm_versions(client: httpx.Client) -> tuple[int, dict[int, bool]]:
    """The served lstm version and every recorded one (version: active)."""
    lstm = client.get("/models/lstm").json()
    return lstm["active_version"], {v["version"]: v["active"] for v in lstm["versions"]}


def test_a_job_trains_records_activates_and_is_swapped_in(client: httpx.Client, jobs_server: LiveServer) -> None:
    before, versions = lstm_versions(client)
    listed_before = [item["id"] for item in client.get("/train").json()["jobs"]]
    response = client.post("/train", json=SHORT_JOB)
    assert response.status_code == 202, response.text
    created = TrainJobPublic.model_validate(response.json())
    assert created.status == "queued" and response.headers["Location"] == created.status_url
    assert not created.trainer_started
    seen: list[TrainJobPublic] = []

    def finished() -> bool:
        seen.append(job(client, created.id))
        return seen[-1].status in ("succeeded", "failed", "cancelled")

    wait_for(finished, timeout=FIRST_JOB_TIMEOUT_S, every=0.05)
    final = seen[-1]
    assert final.status == "succeeded", final.error
    assert any(s.status == "running" and s.progress.sequences > 0 for s in seen), "no live progress seen"
    assert final.progress.arch == "lstm" and final.progress.sequences > 0 and final.trainer_started
    assert final.started_at is not None and final.finished_at is not None
    (trial,) = final.results
    assert trial.arch == "lstm" and trial.n_test > 0 and trial.model_version == max(versions) + 1
    # The trainer was forked from the worker's fork server, which must hold no thread but its own for a fork of it
    # to be clean (its preloaded imports and numba contexts start none).
    (fork_server,) = fork_servers(psutil.Process(jobs_server.process.pid))
    assert fork_server.num_threads() == 1
    # The gate compared it with the (untrained) served version on one fresh test set, and promoted it.
    decision = final.promotion["lstm"]
    assert decision.promoted and decision.served == before and decision.candidate == trial.model_version
    assert decision.candidate_wrong is not None and decision.served_wrong is not None
    assert decision.candidate_wrong <= decision.served_wrong and decision.reason.endswith("promoted")

    def swapped() -> bool:
        sequence = client.post("/generate", json={"n": 1, "seed": 5}).json()["sequences"][0]["sequence"]
        answer = client.post("/classify", json={"sequence": sequence, "arch": "lstm"}).json()
        return answer["model_version"] == trial.model_version

    wait_for(swapped, timeout=30)
    assert client.get("/models/lstm").json()["active_version"] == trial.model_version
    listed = client.get("/train").json()["jobs"]
    assert [item["id"] for item in listed] == [created.id, *listed_before]
    # Missing architectures answer 503 with a hint, and do not stop lstm from serving.
    missing = client.post("/classify", json={"sequence": "EabXcB", "arch": "rnn"})
    assert missing.status_code == 503 and "POST /train" in missing.json()["hint"]


def test_cancel_a_running_and_a_queued_job(client: httpx.Client) -> None:
    served, versions = lstm_versions(client)
    running = client.post("/train", json=LONG_JOB).json()
    queued = client.post("/train", json=LONG_JOB).json()
    # A liveness bound only: a training process starts slowly (nice 10) on a loaded machine.
    wait_for(lambda: job(client, running["id"]).status == "running", timeout=240)
    assert job(client, queued["id"]).status == "queued", "one job at a time by default"

    cancelled = client.delete(f"/train/{queued['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["trainer_started"] is False
    # A claimed job is "running" before its trainer starts, and a trainer that starts to find a cancel request
    # ends the job at once: wait until the trainer has started, so only its own poll can end it "on request".
    wait_for(lambda: job(client, running["id"]).trainer_started, timeout=240)
    assert client.delete(f"/train/{running['id']}").status_code == 200
    final = wait_for(lambda: (j := job(client, running["id"])).status != "running" and j, timeout=60)
    assert final.status == "cancelled" and final.finished_at is not None
    # The training process stopped itself on the request; the parent's fallback (terminating a process
    # that ignores it) would say "the training process ended with exit code ...".
    assert final.error is not None and final.error.startswith("cancelled on request"), final.error
    again = client.delete(f"/train/{running['id']}")
    assert again.status_code == 409 and "already ended" in again.json()["message"]
    # Neither job recorded a version of what it trained; the served lstm is untouched.
    trained = client.get("/models/attn_rnn_seed").json()
    assert trained["active_version"] is None and trained["versions"] == []
    assert lstm_versions(client) == (served, versions)


def test_a_restart_keeps_jobs_and_models_and_marks_cut_off_jobs(server_factory: Any, tmp_path: Path) -> None:
    url = make_registry(tmp_path / "restart.db", arches=("lstm", "rnn"))
    first = server_factory(url)
    with httpx.Client(base_url=first.url, timeout=30, headers=first.auth) as client:
        models_before = {m["arch"]: m["active_version"] for m in client.get("/models").json()["models"]}
        running = client.post("/train", json=LONG_JOB).json()
        # A claimed job is "running" before its trainer exists: wait until the trainer has started.
        wait_for(lambda: job(client, running["id"]).trainer_started, timeout=240)
    trainers = psutil.Process(first.process.pid).children(recursive=True)
    assert trainers  # the job's process
    # A crashed server leaves a job "running" in the registry; simulate one besides the real shutdown.
    registry = Registry(url)
    try:
        crashed = registry.create_job(JobParams(arch="rnn", task="6b", trials=1, max_sequences=100, seed=0))
        registry.update_job(crashed.id, status="running")
    finally:
        registry.close()
    first.stop()
    # A shutdown ends the job's process with the service: none trains on, orphaned. The fork server goes too, once
    # it reads its parent's end of the pipe closed; tearing down its torch import took over 10 s on a machine at
    # load 15-19, so the bound is a generous liveness bound (wait_procs returns as soon as all are gone).
    _, alive = psutil.wait_procs(trainers, timeout=SHUTDOWN_LIVENESS_S)
    assert not alive, [process.cmdline() for process in alive]

    second = server_factory(url)
    with httpx.Client(base_url=second.url, timeout=30) as client:
        models_after = {m["arch"]: m["active_version"] for m in client.get("/models").json()["models"]}
        assert models_after == models_before
        assert client.get("/readyz").status_code == 200
        assert job(client, running["id"]).status == "interrupted"
        cut_off = job(client, crashed.id)
        assert cut_off.status == "interrupted" and cut_off.error
        assert {item["id"] for item in client.get("/train").json()["jobs"]} == {running["id"], crashed.id}


def test_a_job_without_activation_and_a_job_whose_process_dies(client: httpx.Client, jobs_server: LiveServer) -> None:
    served, versions = lstm_versions(client)
    # activate=False: the run is recorded, the served version stays.
    quiet = client.post("/train", json={**SHORT_JOB, "max_sequences": 100, "activate": False}).json()
    final = wait_for(
        lambda: (j := job(client, quiet["id"])).status in TERMINAL_JOB_STATUSES and j, timeout=FIRST_JOB_TIMEOUT_S
    )
    assert final.status == "succeeded", final.error
    (trial,) = final.results
    assert trial.model_version == max(versions) + 1
    assert lstm_versions(client) == (served, {**versions, trial.model_version: False})
    sequence = client.post("/generate", json={"n": 1, "seed": 5}).json()["sequences"][0]["sequence"]
    answer = client.post("/classify", json={"sequence": sequence, "arch": "lstm"}).json()
    assert answer["model_version"] == served

    # A training process that dies (here: killed, as the OOM killer would) ends its job as failed.
    doomed = client.post("/train", json=LONG_JOB).json()
    # A liveness bound only: a training process starts slowly (nice 10) on a loaded machine.
    # (and a claimed job is "running" before its trainer exists: wait until the trainer has started)
    wait_for(lambda: job(client, doomed["id"]).trainer_started, timeout=240)
    trainers = user_children(psutil.Process(jobs_server.process.pid))
    assert len(trainers) == 1, [process.cmdline() for process in trainers]
    trainers[0].kill()
    final = wait_for(lambda: (j := job(client, doomed["id"])).status in TERMINAL_JOB_STATUSES and j, timeout=60)
    assert final.status == "failed"
    assert final.error is not None
    assert final.error.startswith("the training process ended with exit code -9"), final.error
    assert client.get("/models/attn_rnn_seed").json()["versions"] == []
    assert client.get("/models/lstm").json()["active_version"] == served


def test_the_api_and_the_registry_name_the_same_job_states_and_fields() -> None:
    # The SDK reads service.schemas without importing training, so the wire contract states them again.
    assert get_args(JobStatus) == JOB_STATUSES
    assert TERMINAL_JOB_STATUSES == REGISTRY_TERMINAL
    # Stored shapes map onto the API's models field for field (job_public converts one into the other).
    assert list(schemas.TrainJobCreate.model_fields) == [f.name for f in fields(JobParams)]
    assert list(schemas.TrainJobProgress.model_fields) == [f.name for f in fields(TrialProgress)]
    assert list(schemas.TrialPublic.model_fields) == [f.name for f in fields(JobTrial)]
    assert list(schemas.PromotionPublic.model_fields) == [f.name for f in fields(PromotionDecision)]
