"""Retry behaviour through a faulty injected transport: attempts counted, sleeps recorded, never a second
POST /train."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service import client as sdk
from service.schemas import ClassifyResult, Readiness, TrainJobPublic

URL = "http://testserver"


def make_client(handler: Any, **kwargs: Any) -> tuple[sdk.Client, list[float]]:
    client = sdk.Client(URL, api_key="k", transport=httpx.MockTransport(handler), **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def make_async_client(handler: Any, **kwargs: Any) -> tuple[sdk.AsyncClient, list[float]]:
    client = sdk.AsyncClient(URL, api_key="k", transport=httpx.MockTransport(handler), **kwargs)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = sleep
    return client, sleeps


def unavailable(fakes: Any, **headers: str) -> httpx.Response:
    return httpx.Response(503, json=fakes.error_body(), headers=headers)


# ---- idempotent calls are retried -----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["503", "429", "408", "connect", "read_timeout"])
def test_classify_is_retried_until_it_succeeds(fakes: Any, failure: str) -> None:
    failures: dict[str, httpx.Response | Exception] = {
        "503": httpx.Response(503, json=fakes.error_body()),
        "429": httpx.Response(429, json=fakes.error_body("rate_limited", "slow down")),
        "408": httpx.Response(408),
        "connect": httpx.ConnectError("Connection refused"),
        "read_timeout": httpx.ReadTimeout("timed out"),
    }
    bad = failures[failure]
    handler = fakes.Recorder([bad, bad, httpx.Response(200, json=fakes.classify_body("YYY"))])
    client, sleeps = make_client(handler)
    result = client.classify("EabXB")
    assert isinstance(result, ClassifyResult)
    assert result.label == "YYY"
    assert handler.attempts("POST", "/classify") == 3
    assert len(sleeps) == 2
    assert 0.75 * sdk.INITIAL_RETRY_DELAY <= sleeps[0] <= sdk.INITIAL_RETRY_DELAY
    assert 1.5 * sdk.INITIAL_RETRY_DELAY <= sleeps[1] <= 2 * sdk.INITIAL_RETRY_DELAY
    assert "X-Retry-Count" not in handler.requests[0].headers
    assert handler.requests[2].headers["X-Retry-Count"] == "2"


def test_retries_give_up_after_max_retries_with_the_last_error(fakes: Any) -> None:
    handler = fakes.Recorder([unavailable(fakes)])
    client, sleeps = make_client(handler)
    with pytest.raises(sdk.InternalServerError) as info:
        client.classify_batch(["EabXB"])
    assert info.value.status_code == 503
    assert info.value.message == "models are loading"
    assert handler.attempts("POST", "/classify/batch") == 1 + sdk.DEFAULT_MAX_RETRIES
    assert len(sleeps) == sdk.DEFAULT_MAX_RETRIES


def test_connection_errors_give_up_with_a_chained_connection_error(fakes: Any) -> None:
    handler = fakes.Recorder([httpx.ConnectError("Connection refused")])
    client, _ = make_client(handler, max_retries=4)
    with pytest.raises(sdk.APIConnectionError) as info:
        client.generate(n=2, seed=1)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert handler.attempts("POST", "/generate") == 5


def test_timeouts_give_up_with_a_chained_timeout_error(fakes: Any) -> None:
    handler = fakes.Recorder([httpx.ReadTimeout("timed out")])
    client, _ = make_client(handler, max_retries=1)
    with pytest.raises(sdk.APITimeoutError) as info:
        client.health()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert handler.attempts("GET", "/healthz") == 2


def test_max_retries_is_overridable_per_client_and_per_call(fakes: Any) -> None:
    handler = fakes.Recorder([unavailable(fakes)])
    client, _ = make_client(handler, max_retries=0)
    with pytest.raises(sdk.InternalServerError):
        client.metrics()
    assert handler.attempts("GET", "/metrics") == 1
    with pytest.raises(sdk.InternalServerError):
        client.metrics(max_retries=3)
    assert handler.attempts("GET", "/metrics") == 1 + 4


def test_timeout_is_overridable_per_client_and_per_call(fakes: Any) -> None:
    handler = fakes.Recorder([httpx.Response(200, json={"status": "ok", "version": "1"})])
    client, _ = make_client(handler, timeout=7.0)
    client.health()
    client.health(timeout=0.25)
    client.health(timeout=httpx.Timeout(3.0, connect=1.0))
    timeouts = [r.extensions["timeout"] for r in handler.requests]
    assert timeouts[0]["read"] == 7.0
    assert timeouts[1]["read"] == 0.25
    assert timeouts[2] == {"connect": 1.0, "read": 3.0, "write": 3.0, "pool": 3.0}


def test_retry_after_is_honoured(fakes: Any) -> None:
    limited = httpx.Response(429, json=fakes.error_body("rate_limited", "slow down"), headers={"Retry-After": "2"})
    handler = fakes.Recorder([limited, httpx.Response(200, json=fakes.classify_body())])
    client, sleeps = make_client(handler)
    client.classify("EabXB")
    assert sleeps == [2.0]


@pytest.mark.parametrize("status", [400, 401, 404, 409, 413, 422, 500])
def test_errors_that_wont_change_are_not_retried(fakes: Any, status: int) -> None:
    handler = fakes.Recorder([httpx.Response(status, json=fakes.error_body("x", "no"))])
    client, sleeps = make_client(handler)
    with pytest.raises(sdk.APIStatusError) as info:
        client.classify("EabXB")
    assert info.value.status_code == status
    assert handler.attempts("POST", "/classify") == 1
    assert sleeps == []


def test_ready_returns_the_not_ready_answer_without_retrying(fakes: Any) -> None:
    body = {"ready": False, "registry": True, "models": {"lstm": "missing"}, "detail": {"lstm": "no checkpoint"}}
    handler = fakes.Recorder([httpx.Response(503, json=body)])
    client, sleeps = make_client(handler)
    readiness = client.ready()
    assert isinstance(readiness, Readiness)
    assert not readiness.ready
    assert readiness.detail == {"lstm": "no checkpoint"}
    assert handler.attempts("GET", "/readyz") == 1
    assert sleeps == []


# ---- calls with side effects are sent exactly once ------------------------------------------------


@pytest.mark.parametrize("failure", ["503", "429", "connect", "read_timeout"])
def test_post_train_is_sent_exactly_once(fakes: Any, failure: str) -> None:
    failures: dict[str, httpx.Response | Exception] = {
        "503": unavailable(fakes, **{"Retry-After": "0"}),
        "429": httpx.Response(429, json=fakes.error_body("rate_limited", "slow down"), headers={"Retry-After": "0"}),
        "connect": httpx.ConnectError("Connection refused"),
        "read_timeout": httpx.ReadTimeout("timed out"),
    }
    bad = failures[failure]
    handler = fakes.Recorder([bad, httpx.Response(202, json=fakes.job_body())])
    client, sleeps = make_client(handler, max_retries=5)
    with pytest.raises(sdk.TemporalOrderError):
        client.train(arch="lstm", max_sequences=1000)
    assert handler.attempts("POST", "/train") == 1
    assert sleeps == []


def test_cancel_and_activate_are_sent_exactly_once(fakes: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=fakes.job_body(status="running"))
        return unavailable(fakes)

    handler = fakes.Recorder(answer)
    client, sleeps = make_client(handler, max_retries=5)
    job = client.job("job-1")
    with pytest.raises(sdk.InternalServerError):
        job.cancel()
    with pytest.raises(sdk.InternalServerError):
        client.activate("lstm", version=2)
    assert handler.attempts("DELETE", "/train/job-1") == 1
    assert handler.attempts("POST", "/models/lstm/activate") == 1
    assert sleeps == []


def test_train_sends_the_api_key_and_only_the_set_options(fakes: Any) -> None:
    handler = fakes.Recorder([httpx.Response(202, json=fakes.job_body())])
    client, _ = make_client(handler)
    job = client.train(arch="rnn", max_sequences=500, learning_rate=0.01)
    assert isinstance(job, sdk.TrainJob)
    assert isinstance(job.job, TrainJobPublic)
    request = handler.requests[0]
    assert request.headers["X-API-Key"] == "k"
    body = httpx.Response(200, content=request.content).json()
    assert body == {
        "arch": "rnn", "trials": 1, "max_sequences": 500, "task": "6b", "seed": 0,
        "learning_rate": 0.01, "activate": True, "force": False, "retries": 0,
    }  # fmt: skip


# ---- job handles ----------------------------------------------------------------------------------


def polling_server(fakes: Any, statuses: list[str]) -> Any:
    remaining = list(statuses)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=fakes.job_body(status="queued"))
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return httpx.Response(200, json=fakes.job_body(status=status, sequences=100))

    return fakes.Recorder(answer)


def test_wait_polls_until_the_job_ends(fakes: Any) -> None:
    handler = polling_server(fakes, ["running", "running", "succeeded"])
    client, sleeps = make_client(handler)
    job = client.train(max_sequences=1000)
    assert job.status == "queued"
    assert not job.done
    final = job.wait(poll_interval=0.5)
    assert final.status == "succeeded"
    assert job.done
    assert handler.attempts("GET", "/train/job-1") == 3
    assert sleeps == [0.5, 0.5, 0.5]


def test_wait_gives_up_after_its_timeout_and_says_the_job_goes_on(fakes: Any) -> None:
    handler = polling_server(fakes, ["running"])
    client = sdk.Client(URL, transport=httpx.MockTransport(handler))
    job = client.train(max_sequences=1000)
    with pytest.raises(sdk.JobWaitTimeoutError, match="keeps running") as info:
        job.wait(timeout=0.05, poll_interval=0.01)
    assert isinstance(info.value, TimeoutError)
    assert info.value.job.status == "running"


def test_wait_rejects_a_nonpositive_poll_interval(fakes: Any) -> None:
    client, _ = make_client(polling_server(fakes, ["running"]))
    job = client.train()
    with pytest.raises(ValueError, match="poll_interval"):
        job.wait(poll_interval=0)


# ---- the async client behaves the same ------------------------------------------------------------


@pytest.mark.anyio
async def test_async_classify_is_retried_and_train_is_not(fakes: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/classify" and len(handler.requests) < 3:
            raise httpx.ConnectError("Connection refused")
        if request.url.path == "/classify":
            return httpx.Response(200, json=fakes.classify_body())
        return unavailable(fakes)

    handler = fakes.Recorder(answer)
    client, sleeps = make_async_client(handler)
    async with client:
        assert (await client.classify("EabXB")).label == "XYX"
        with pytest.raises(sdk.InternalServerError):
            await client.train(max_sequences=1000)
    assert client.is_closed
    assert handler.attempts("POST", "/classify") == 3
    assert handler.attempts("POST", "/train") == 1
    assert len(sleeps) == 2


@pytest.mark.anyio
async def test_async_connection_error_is_chained(fakes: Any) -> None:
    handler = fakes.Recorder([httpx.ConnectError("Connection refused")])
    client, _ = make_async_client(handler, max_retries=1)
    with pytest.raises(sdk.APIConnectionError) as info:
        await client.models()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert handler.attempts("GET", "/models") == 2


@pytest.mark.anyio
async def test_async_wait_polls_until_the_job_ends(fakes: Any) -> None:
    handler = polling_server(fakes, ["running", "cancelled"])
    client, sleeps = make_async_client(handler)
    job = await client.train()
    assert isinstance(job, sdk.AsyncTrainJob)
    final = await job.wait(timeout=30, poll_interval=0.2)
    assert final.status == "cancelled"
    assert len(sleeps) == 2
    assert all(0 < s <= 0.2 for s in sleeps)
