"""Training jobs through both clients on a real uvicorn of their own (an empty registry, so these tests
neither see nor change what the shared `live_server` serves): 503 before any model exists, `wait()` on
a real job, cancel, 409, activate."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service import client as sdk
from service.schemas import TERMINAL_JOB_STATUSES, ModelPublic, TrainJobPublic
from training.registry import Registry

JOB_TIMEOUT_S = 240.0


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return super().handle_request(request)


@pytest.fixture
def empty_server(tmp_path: Path, server_factory: Any) -> Any:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(url)
    try:
        registry.upgrade()
    finally:
        registry.close()
    return server_factory(url, warmup=False)


def test_jobs_through_both_clients(empty_server: Any) -> None:
    """One test, so that the (slow) start of its own server is paid once."""
    real_job_from_an_empty_registry_to_serving(empty_server)
    wait_timeout_leaves_the_job_running(empty_server)
    asyncio.run(async_job_cancel_and_wait(empty_server))


def real_job_from_an_empty_registry_to_serving(empty_server: Any) -> None:
    transport = CountingTransport()
    with sdk.Client(empty_server.url, api_key=empty_server.api_key, transport=transport, max_retries=1) as client:
        sleeps: list[float] = []
        client._sleep = sleeps.append

        # Nothing trained yet: not ready (an answer, not an error), and classify is a real 503, retried.
        readiness = client.ready()
        assert not readiness.ready
        assert readiness.models["rnn"] == "missing"
        with pytest.raises(sdk.InternalServerError) as info:
            client.classify("EabXcdB", arch="rnn")
        assert info.value.status_code == 503
        assert transport.sent.count(("POST", "/classify")) == 2

        job = client.train(arch="rnn", max_sequences=100, seed=3)
        assert transport.sent.count(("POST", "/train")) == 1
        assert isinstance(job, sdk.TrainJob)
        assert job.job.params.max_sequences == 100
        assert client.job(job.id).id == job.id
        assert job.id in {j.id for j in client.jobs().jobs}

        client._sleep = time.sleep  # real polling from here on
        final = job.wait(timeout=JOB_TIMEOUT_S, poll_interval=0.2)
        assert isinstance(final, TrainJobPublic)
        assert final.status == "succeeded", final.error
        assert job.done
        assert len(final.results) == 1
        trial = final.results[0]
        assert trial.arch == "rnn"
        assert trial.n_test > 0
        assert trial.model_version is not None

        with pytest.raises(sdk.ConflictError) as conflict:
            job.cancel()
        assert conflict.value.status_code == 409
        assert transport.sent.count(("DELETE", f"/train/{job.id}")) == 1

        activated = client.activate("rnn", version=trial.model_version)
        assert isinstance(activated, ModelPublic)
        assert activated.active_version == trial.model_version
        assert activated.state == "ready"
        assert client.classify("EabXcdB", arch="rnn").model_version == trial.model_version
        assert client.ready().ready

        # force: the next job's trial replaces the served one without the gate's comparison; retries reaches the
        # server's queue as the job's own setting.
        forced = client.train(arch="rnn", max_sequences=100, seed=4, force=True, retries=2)
        assert (forced.job.params.force, forced.job.params.retries) == (True, 2)
        done = forced.wait(timeout=JOB_TIMEOUT_S, poll_interval=0.2)
        assert done.status == "succeeded", done.error
        decision = done.promotion["rnn"]
        assert decision.promoted and decision.forced and decision.served == trial.model_version
        assert decision.candidate_wrong is None and "forced" in decision.reason
        # The registry's history has it at once (each replica serves it within its reload interval).
        latest = client.model("rnn").history[0]
        assert (latest.from_version, latest.to_version) == (trial.model_version, done.results[0].model_version)
        assert latest.by == f"job {done.id}"


async def async_job_cancel_and_wait(empty_server: Any) -> None:
    async with sdk.AsyncClient(empty_server.url, api_key=empty_server.api_key) as client:
        job = await client.train(arch="lstm", max_sequences=5_000_000, activate=False, force=True, retries=1)
        assert isinstance(job, sdk.AsyncTrainJob)
        assert (job.job.params.force, job.job.params.retries) == (True, 1)
        assert job.status in {"queued", "running"}
        refreshed = await job.refresh()
        assert refreshed.id == job.id
        await job.cancel()
        final = await job.wait(timeout=JOB_TIMEOUT_S, poll_interval=0.2)
        assert final.status in TERMINAL_JOB_STATUSES
        assert final.status == "cancelled", final.error
        again = await client.job(job.id)
        assert again.status == "cancelled"
        with pytest.raises(sdk.ConflictError):
            await again.cancel()


def wait_timeout_leaves_the_job_running(empty_server: Any) -> None:
    with sdk.Client(empty_server.url, api_key=empty_server.api_key) as client:
        job = client.train(arch="rnn", max_sequences=5_000_000, activate=False)
        with pytest.raises(sdk.JobWaitTimeoutError) as info:
            job.wait(timeout=0.3, poll_interval=0.1)
        assert info.value.job.status in {"queued", "running"}
        assert job.cancel().id == job.id
        assert job.wait(timeout=JOB_TIMEOUT_S, poll_interval=0.2).status == "cancelled"
