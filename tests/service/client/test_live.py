"""Both clients against a real uvicorn (the session's `live_server`): every read method, and every error
class produced by a real server response."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from service import client as sdk
from service.schemas import (
    ClassifyBatchResult,
    ClassifyResult,
    GenerateResult,
    Health,
    MetricsPublic,
    ModelList,
    ModelPublic,
    Readiness,
    TrainJobList,
)


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting attempts; `faults` answers the first requests to a path itself."""

    def __init__(self, faults: dict[str, list[httpx.Response]] | None = None, corrupt: bool = False) -> None:
        super().__init__()
        self.faults = faults or {}
        self.corrupt = corrupt
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        pending = self.faults.get(request.url.path)
        if pending:
            return pending.pop(0)
        if self.corrupt:  # the same request with a body that is not JSON, as a broken client would send
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, content=b'{"sequence": ')
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self, faults: dict[str, list[httpx.Response]] | None = None) -> None:
        super().__init__()
        self.faults = faults or {}
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        pending = self.faults.get(request.url.path)
        if pending:
            return pending.pop(0)
        return await super().handle_async_request(request)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sdk.ENV_URL, raising=False)
    monkeypatch.delenv(sdk.ENV_API_KEY, raising=False)


def no_sleep(client: sdk.Client) -> list[float]:
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return sleeps


# ---- every read method ----------------------------------------------------------------------------


def test_sync_client_every_read_method(live_server: Any) -> None:
    with sdk.Client(live_server.url) as client:
        assert isinstance(client.health(), Health)
        readiness = client.ready()
        assert isinstance(readiness, Readiness)
        assert readiness.ready
        assert readiness.models["lstm"] == "ready"

        generated = client.generate(n=4, task="6b", seed=7)
        assert isinstance(generated, GenerateResult)
        assert generated.seed == 7
        assert len(generated.sequences) == 4
        assert client.generate(n=4, task="6b", seed=7) == generated  # seeded: reproducible

        first = generated.sequences[0]
        result = client.classify(first.sequence, arch="lstm")
        assert isinstance(result, ClassifyResult)
        assert result.arch == "lstm"
        assert result.rule_label == first.label
        assert result.in_distribution
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert result.attribution is None

        explained = client.classify(first.sequence, arch="attn_rnn", explain=True)
        assert explained.attribution is not None
        assert len(explained.attribution) == len(first.sequence)

        batch = client.classify_batch([s.sequence for s in generated.sequences], arch="lstm")
        assert isinstance(batch, ClassifyBatchResult)
        assert [r.rule_label for r in batch.results] == [s.label for s in generated.sequences]
        assert batch.results[0].probabilities == pytest.approx(result.probabilities, abs=1e-4)

        models = client.models()
        assert isinstance(models, ModelList)
        assert {m.arch for m in models.models} >= {"rnn", "lstm", "attn_rnn"}
        lstm = client.model("lstm")
        assert isinstance(lstm, ModelPublic)
        assert lstm.state == "ready"
        assert lstm.active_version in {v.version for v in lstm.versions}

        metrics = client.metrics()
        assert isinstance(metrics, MetricsPublic)
        assert "lstm" in {a.arch for a in metrics.architectures}
        text = client.metrics_prometheus()
        assert "# TYPE" in text

        assert isinstance(client.jobs(), TrainJobList)
    assert client.is_closed


@pytest.mark.anyio
async def test_async_client_every_read_method(live_server: Any) -> None:
    async with sdk.AsyncClient(live_server.url) as client:
        assert isinstance(await client.health(), Health)
        assert (await client.ready()).ready
        generated = await client.generate(n=3, seed=11)
        assert len(generated.sequences) == 3
        one = await client.classify(generated.sequences[0].sequence, explain=True)
        assert one.rule_label == generated.sequences[0].label
        assert one.attribution is not None
        batch = await client.classify_batch([s.sequence for s in generated.sequences])
        assert [r.rule_label for r in batch.results] == [s.label for s in generated.sequences]
        assert isinstance(await client.models(), ModelList)
        assert (await client.model("rnn")).arch == "rnn"
        assert isinstance(await client.metrics(), MetricsPublic)
        assert "# TYPE" in await client.metrics_prometheus()
        assert isinstance(await client.jobs(), TrainJobList)
    assert client.is_closed


def test_base_url_and_key_from_the_environment(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sdk.ENV_URL, live_server.url)
    monkeypatch.setenv(sdk.ENV_API_KEY, live_server.api_key)
    with sdk.Client() as client:
        lstm = client.model("lstm")
        assert lstm.active_version is not None
        # Re-activating the version already served changes nothing, and proves the key was sent.
        again = client.activate("lstm", version=lstm.active_version)
        assert again.active_version == lstm.active_version


# ---- every error class from a real answer ---------------------------------------------------------


def test_400_invalid_json(live_server: Any) -> None:
    transport = CountingTransport(corrupt=True)
    with sdk.Client(live_server.url, transport=transport) as client, pytest.raises(sdk.BadRequestError) as info:
        client.classify("EabXB")
    assert info.value.status_code == 400
    assert info.value.body is not None
    assert info.value.body.error == "invalid_json"
    assert transport.sent == [("POST", "/classify")]  # a 400 is not retried


def test_401_without_or_with_a_wrong_api_key(live_server: Any) -> None:
    with sdk.Client(live_server.url) as client, pytest.raises(sdk.AuthenticationError) as info:
        client.train(max_sequences=100)
    assert info.value.status_code == 401
    assert info.value.message
    with sdk.Client(live_server.url, api_key="wrong-key-wrong-key") as client, pytest.raises(sdk.AuthenticationError):
        client.activate("lstm", version=1)


def test_404_unknown_job_and_unknown_version(live_server: Any) -> None:
    with sdk.Client(live_server.url, api_key=live_server.api_key) as client:
        with pytest.raises(sdk.NotFoundError) as info:
            client.job("no-such-job")
        assert info.value.status_code == 404
        assert "no-such-job" in info.value.message
        with pytest.raises(sdk.NotFoundError):
            client.activate("lstm", version=999_999)


def test_413_body_too_large(live_server: Any) -> None:
    huge = "E" + "a" * 4 * 1024 * 1024 + "B"  # over the service's default limit of 2 MiB
    with sdk.Client(live_server.url) as client, pytest.raises(sdk.PayloadTooLargeError) as info:
        client.classify_batch([huge])
    assert info.value.status_code == 413
    assert info.value.body is not None
    assert info.value.body.hint


def test_422_names_the_field_and_position(live_server: Any) -> None:
    with sdk.Client(live_server.url) as client:
        with pytest.raises(sdk.UnprocessableEntityError) as info:
            client.classify("EabZcdXB")
        assert info.value.status_code == 422
        assert info.value.body is not None
        assert info.value.body.details[0].position == 4
        assert "'Z'" in str(info.value)
        with pytest.raises(sdk.UnprocessableEntityError) as info:
            client.generate(n=0)
        assert info.value.body is not None
        assert info.value.body.details[0].loc[-1] == "n"


@pytest.mark.anyio
async def test_async_errors_are_the_same_classes(live_server: Any) -> None:
    async with sdk.AsyncClient(live_server.url) as client:
        with pytest.raises(sdk.UnprocessableEntityError):
            await client.classify("EZB")
        with pytest.raises(sdk.NotFoundError):
            await client.job("no-such-job")
        with pytest.raises(sdk.AuthenticationError):
            await client.train(max_sequences=100)


def test_connection_error_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with sdk.Client(url, max_retries=2) as client:
        sleeps = no_sleep(client)
        with pytest.raises(sdk.APIConnectionError) as info:
            client.health()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sleeps) == 2


def test_timeout_error_from_a_real_socket_that_never_answers() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections but never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with sdk.Client(url, timeout=0.2, max_retries=0) as client, pytest.raises(sdk.APITimeoutError) as info:
            client.health()
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


# ---- 429 and 503 injected in front of the real server ---------------------------------------------


def test_injected_429_and_503_are_retried_then_the_real_answer_arrives(live_server: Any) -> None:
    faults = {
        "/classify": [
            httpx.Response(429, json={"error": "rate_limited", "message": "slow down"}, headers={"Retry-After": "1"}),
            httpx.Response(503, json={"error": "model_not_ready", "message": "loading"}),
        ]
    }
    transport = CountingTransport(faults)
    with sdk.Client(live_server.url, transport=transport) as client:
        sleeps = no_sleep(client)
        result = client.classify("EaXbcdYaXB")
    assert result.label in result.probabilities
    assert transport.sent.count(("POST", "/classify")) == 3
    assert sleeps[0] == 1.0


def test_injected_429_and_5xx_surface_as_their_classes_when_retries_run_out(live_server: Any) -> None:
    limited = httpx.Response(429, json={"error": "rate_limited", "message": "slow down"}, headers={"Retry-After": "0"})
    transport = CountingTransport({"/models": [limited] * 2, "/metrics": [httpx.Response(500, text="boom")]})
    with sdk.Client(live_server.url, transport=transport, max_retries=1) as client:
        no_sleep(client)
        with pytest.raises(sdk.RateLimitError) as info:
            client.models()
        assert info.value.message == "slow down"
        with pytest.raises(sdk.InternalServerError) as server_error:
            client.metrics()
        assert server_error.value.message == "boom"
        assert isinstance(client.models(), ModelList)  # the real server behind the faults


def test_post_train_is_never_repeated_after_an_injected_503(live_server: Any) -> None:
    transport = CountingTransport({"/train": [httpx.Response(503, json={"error": "x", "message": "busy"})]})
    with sdk.Client(live_server.url, api_key=live_server.api_key, transport=transport, max_retries=5) as client:
        sleeps = no_sleep(client)
        with pytest.raises(sdk.InternalServerError):
            client.train(max_sequences=100, activate=False)
    assert transport.sent == [("POST", "/train")]
    assert sleeps == []


@pytest.mark.anyio
async def test_async_injected_503_is_retried_against_the_real_server(live_server: Any) -> None:
    transport = AsyncCountingTransport({"/healthz": [httpx.Response(503, json={"error": "x", "message": "y"})]})
    async with sdk.AsyncClient(live_server.url, transport=transport) as client:
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        client._sleep = sleep
        assert isinstance(await client.health(), Health)
    assert transport.sent == [("GET", "/healthz"), ("GET", "/healthz")]
    assert len(sleeps) == 1
