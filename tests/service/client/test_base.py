"""The SDK's I/O-free parts: configuration, retry decision, backoff bounds, error mapping, parsing."""

from __future__ import annotations

import email.utils
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from service import client as sdk
from service.client import _base
from service.schemas import ClassifyResult, Readiness

REQUEST = httpx.Request("POST", "http://testserver/classify")


def response(status: int, body: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers, request=REQUEST)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=REQUEST)
    return httpx.Response(status, json=body, headers=headers, request=REQUEST)


# ---- configuration --------------------------------------------------------------------------------


def test_base_url_comes_from_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sdk.ENV_URL, raising=False)
    assert sdk.Client().base_url == "http://127.0.0.1:8000"
    monkeypatch.setenv(sdk.ENV_URL, "http://env-host:9000/")
    assert sdk.Client().base_url == "http://env-host:9000"
    assert sdk.Client("https://arg-host").base_url == "https://arg-host"


def test_api_key_comes_from_argument_then_env_and_is_sent_but_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sdk.ENV_API_KEY, raising=False)
    assert sdk.Client().api_key is None
    assert "X-API-Key" not in sdk.Client().default_headers()
    monkeypatch.setenv(sdk.ENV_API_KEY, "from-env")
    client = sdk.Client()
    assert client.api_key == "from-env"
    assert client.default_headers()["X-API-Key"] == "from-env"
    assert sdk.Client(api_key="from-arg").api_key == "from-arg"
    assert "from-env" not in repr(client)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "localhost"])
def test_a_base_url_without_http_scheme_is_rejected_up_front(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        sdk.Client(url)


def test_negative_max_retries_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        sdk.Client(max_retries=-1)


def test_timeout_and_retries_have_named_defaults_and_per_client_overrides() -> None:
    assert sdk.Client().timeout == sdk.DEFAULT_TIMEOUT
    assert sdk.Client().max_retries == sdk.DEFAULT_MAX_RETRIES
    client = sdk.Client(timeout=1.5, max_retries=5)
    assert client.timeout == 1.5
    assert client.max_retries == 5
    assert sdk.Client(timeout=None).timeout is None  # None means "no timeout", not "default"


def test_path_segments_are_quoted() -> None:
    assert _base.BaseClient._get_job("../models").path == "/train/..%2Fmodels"
    assert _base.BaseClient._model("lstm").path == "/models/lstm"


def test_optional_arguments_left_unset_are_not_sent() -> None:
    assert _base.BaseClient._classify("EB", None, False).json == {"sequence": "EB"}
    assert _base.BaseClient._classify("EB", "rnn", True).json == {"sequence": "EB", "arch": "rnn", "explain": True}
    assert _base.BaseClient._generate(3, "6a", None).json == {"n": 3, "task": "6a"}


def test_classify_batch_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError, match="list"):
        _base.BaseClient._classify_batch("EabXB", None)  # type: ignore[arg-type]


# ---- retry decision -------------------------------------------------------------------------------

IDEMPOTENT: list[_base.RequestSpec[Any]] = [
    _base.BaseClient._classify("EB", None, False),
    _base.BaseClient._classify_batch(["EB"], None),
    _base.BaseClient._generate(1, "6b", 1),
    _base.BaseClient._jobs(),
    _base.BaseClient._get_job("x"),
    _base.BaseClient._metrics(),
    _base.BaseClient._models(),
    _base.BaseClient._health(),
]
NOT_IDEMPOTENT: list[_base.RequestSpec[Any]] = [
    _base.BaseClient._train({"arch": "lstm"}),
    _base.BaseClient._cancel_job("x"),
    _base.BaseClient._activate("lstm", 2),
]


@pytest.mark.parametrize("spec", IDEMPOTENT, ids=lambda s: f"{s.method} {s.path}")
@pytest.mark.parametrize("status", [408, 429, 503])
def test_idempotent_calls_retry_transient_statuses(spec: _base.RequestSpec[Any], status: int) -> None:
    assert _base.should_retry(spec, 1, response=response(status))
    assert not _base.should_retry(spec, 0, response=response(status))  # no retries left


@pytest.mark.parametrize("spec", IDEMPOTENT, ids=lambda s: f"{s.method} {s.path}")
def test_idempotent_calls_retry_when_no_answer_came(spec: _base.RequestSpec[Any]) -> None:
    assert _base.should_retry(spec, 1, response=None)


@pytest.mark.parametrize("status", [200, 400, 401, 404, 409, 413, 422, 500, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not _base.should_retry(IDEMPOTENT[0], 3, response=response(status))


@pytest.mark.parametrize("spec", NOT_IDEMPOTENT, ids=lambda s: f"{s.method} {s.path}")
@pytest.mark.parametrize("status", [None, 408, 429, 503])
def test_calls_with_side_effects_are_never_retried(spec: _base.RequestSpec[Any], status: int | None) -> None:
    assert not _base.should_retry(spec, 10, response=None if status is None else response(status))


def test_readyz_503_is_an_answer_not_a_retry() -> None:
    assert not _base.should_retry(_base.BaseClient._ready(), 3, response=response(503))


# ---- backoff --------------------------------------------------------------------------------------


@pytest.mark.parametrize("retries_done", range(8))
def test_backoff_is_exponential_capped_and_jittered_down_by_at_most_a_quarter(retries_done: int) -> None:
    ceiling = min(sdk.INITIAL_RETRY_DELAY * 2**retries_done, sdk.MAX_RETRY_DELAY)
    delays = {_base.backoff_delay(retries_done) for _ in range(200)}
    assert all(0.75 * ceiling <= d <= ceiling for d in delays)
    assert len(delays) > 1  # jittered


def test_backoff_honours_retry_after_seconds() -> None:
    assert _base.backoff_delay(0, response(429, headers={"Retry-After": "3"})) == 3.0
    assert _base.backoff_delay(5, response(503, headers={"Retry-After": "0"})) == 0.0


def test_backoff_caps_a_huge_retry_after() -> None:
    assert _base.backoff_delay(0, response(429, headers={"Retry-After": "86400"})) == sdk.MAX_RETRY_AFTER


def test_retry_after_as_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 10, usegmt=True)
    seconds = _base.retry_after_seconds(response(503, headers={"Retry-After": header}), now=now)
    assert seconds is not None
    assert 9.0 <= seconds <= 10.0
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert _base.retry_after_seconds(response(503, headers={"Retry-After": past}), now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "nan", "inf"])
def test_unreadable_retry_after_falls_back_to_backoff(value: str) -> None:
    assert _base.retry_after_seconds(response(503, headers={"Retry-After": value})) is None
    assert _base.backoff_delay(0, response(503, headers={"Retry-After": value})) <= sdk.INITIAL_RETRY_DELAY


# ---- status → exception ---------------------------------------------------------------------------

MAPPING = [
    (400, sdk.BadRequestError),
    (401, sdk.AuthenticationError),
    (403, sdk.PermissionDeniedError),
    (404, sdk.NotFoundError),
    (409, sdk.ConflictError),
    (413, sdk.PayloadTooLargeError),
    (422, sdk.UnprocessableEntityError),
    (429, sdk.RateLimitError),
    (500, sdk.InternalServerError),
    (502, sdk.InternalServerError),
    (503, sdk.InternalServerError),
    (418, sdk.APIStatusError),
]


@pytest.mark.parametrize(("status", "cls"), MAPPING)
def test_status_maps_to_its_error_class_carrying_the_server_message(status: int, cls: type[sdk.APIStatusError]) -> None:
    body = {
        "error": "some_kind",
        "message": "unknown symbol 'Z' at position 17",
        "details": [{"loc": ["body", "sequence"], "msg": "unknown symbol", "position": 17}],
        "hint": "use E a b c d X Y B",
    }
    exc = _base.make_status_error(response(status, body))
    assert type(exc) is cls
    assert isinstance(exc, sdk.APIStatusError)
    assert isinstance(exc, sdk.TemporalOrderError)
    assert exc.status_code == status
    assert exc.message == "unknown symbol 'Z' at position 17"
    assert exc.body is not None
    assert exc.body.details[0].position == 17
    assert exc.request is REQUEST
    assert exc.response.status_code == status
    text = str(exc)
    assert text.startswith(f"{status} ")
    assert "position 17" in text
    assert "Hint: use E a b c d X Y B" in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Not Found"}, "Not Found"),  # FastAPI's own shape, e.g. from a proxy in front
        ("upstream connect error", "upstream connect error"),
        ("<html>\n<body>Bad gateway</body>\n</html>", "Bad Gateway"),
        (None, "Bad Gateway"),
    ],
)
def test_an_error_without_error_body_still_gets_a_message(body: Any, message: str) -> None:
    exc = _base.make_status_error(response(502, body))
    assert isinstance(exc, sdk.InternalServerError)
    assert exc.body is None
    assert exc.message == message


def test_transport_errors_become_connection_and_timeout_errors() -> None:
    request = httpx.Request("GET", "http://testserver/healthz?x=1")
    refused = _base.error_from_httpx(httpx.ConnectError("Connection refused"), request)
    assert type(refused) is sdk.APIConnectionError
    assert "Connection refused" in str(refused)
    assert "http://testserver/healthz" in str(refused)
    timeout = _base.error_from_httpx(httpx.ReadTimeout("read timed out"), request)
    assert type(timeout) is sdk.APITimeoutError
    assert isinstance(timeout, sdk.APIConnectionError)
    assert timeout.request is request


# ---- parsing --------------------------------------------------------------------------------------


def test_parse_response_returns_the_schema_model(fakes: Any) -> None:
    spec = _base.BaseClient._classify("EB", None, False)
    result = _base.parse_response(spec, response(200, fakes.classify_body("YYX")))
    assert isinstance(result, ClassifyResult)
    assert result.label == "YYX"


def test_a_2xx_body_of_the_wrong_shape_is_a_response_validation_error() -> None:
    spec = _base.BaseClient._classify("EB", None, False)
    with pytest.raises(sdk.APIResponseValidationError, match="ClassifyResult") as info:
        _base.parse_response(spec, response(200, {"label": "XXX"}))
    assert info.value.status_code == 200
    with pytest.raises(sdk.APIResponseValidationError):
        _base.parse_response(spec, response(200, "not json"))


def test_readiness_503_parses_as_readiness_unless_it_is_not_one() -> None:
    spec = _base.BaseClient._ready()
    body = {"ready": False, "registry": True, "models": {"lstm": "missing"}}
    readiness = _base.parse_response(spec, response(503, body))
    assert isinstance(readiness, Readiness)
    assert readiness.ready is False
    with pytest.raises(sdk.InternalServerError):
        _base.parse_response(spec, response(503, "Service Unavailable"))


def test_prometheus_text_is_returned_as_is() -> None:
    spec = _base.BaseClient._metrics_prometheus()
    assert spec.headers["Accept"] == "text/plain"
    assert _base.parse_response(spec, response(200, "# HELP x\nx 1\n")) == "# HELP x\nx 1\n"


# ---- surface --------------------------------------------------------------------------------------


def test_public_surface_is_what_all_lists() -> None:
    for name in sdk.__all__:
        assert hasattr(sdk, name), name
    for name in ["Client", "AsyncClient", "TrainJob", "AsyncTrainJob", "TemporalOrderError", "APIStatusError"]:
        assert name in sdk.__all__


def test_importing_the_sdk_imports_no_heavy_or_server_side_package() -> None:
    code = (
        "import sys, service.client\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'fastapi', 'sqlalchemy', 'training',"
        " 'numpy', 'uvicorn', 'starlette', 'alembic'})\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
