"""Everything the two clients share that does no I/O.

Configuration (base URL, API key, timeouts, retries), the request each endpoint sends, the retry decision,
the capped and jittered backoff, the status → exception mapping and parsing responses into the schema
models. `Client` and `AsyncClient` only add sending and sleeping.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from service import __version__
from service.client.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from service.schemas import (
    Arch,
    ClassifyBatchResult,
    ClassifyResult,
    ErrorBody,
    GenerateResult,
    Health,
    MetricsPublic,
    ModelList,
    ModelPublic,
    Readiness,
    StudyList,
    StudyPublic,
    TaskName,
    TrainJobList,
    TrainJobPublic,
    VersionCurve,
)

T = TypeVar("T")

ENV_URL: Final = "TEMPORAL_ORDER_URL"
ENV_API_KEY: Final = "TEMPORAL_ORDER_API_KEY"
DEFAULT_BASE_URL: Final = "http://127.0.0.1:8000"

# Inference answers in milliseconds; a long read timeout covers a cold model load or a big batch.
DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=5.0)
DEFAULT_MAX_RETRIES: Final = 2
INITIAL_RETRY_DELAY: Final = 0.5  # seconds before the first retry; doubles on each further one
MAX_RETRY_DELAY: Final = 8.0  # cap of the computed backoff
MAX_RETRY_AFTER: Final = 60.0  # cap of a server's Retry-After, so a bad header can't stall a caller
RETRYABLE_STATUS_CODES: Final = frozenset({408, 429, 503})
DEFAULT_POLL_INTERVAL: Final = 1.0  # seconds between job polls in `wait()`

USER_AGENT: Final = f"temporal-order-python/{__version__}"

_STATUS_ERRORS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


class NotGiven:
    """Marks an argument the caller did not pass; `None` can't, because `timeout=None` means 'no timeout'."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

TimeoutTypes = float | httpx.Timeout | None


@dataclass(frozen=True)
class RequestSpec(Generic[T]):
    """One API call, described without sending it. `cast_to=str` returns the body as text."""

    method: str
    path: str
    cast_to: type[T]
    idempotent: bool  # safe to send twice: only then is it retried
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    ok_statuses: frozenset[int] = frozenset()  # error statuses whose body is still a `cast_to` answer


def segment(value: str | int) -> str:
    """Quote one path segment, so an id like '../x' can't address another route."""
    return quote(str(value), safe="")


def _without_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def resolve_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get(ENV_URL) or DEFAULT_BASE_URL
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    return url


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key if api_key is not None else (os.environ.get(ENV_API_KEY) or None)


def retry_after_seconds(response: httpx.Response | None, *, now: float | None = None) -> float | None:
    """The server's Retry-After (seconds or an HTTP date) in seconds, or None when absent or unreadable."""
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(retries_done: int, response: httpx.Response | None = None) -> float:
    """Seconds to wait before retry number `retries_done + 1`.

    The server's Retry-After when it sent one (capped at MAX_RETRY_AFTER); otherwise exponential backoff
    from INITIAL_RETRY_DELAY, capped at MAX_RETRY_DELAY, minus up to 25% jitter so that many clients
    failing together don't retry in lockstep.
    """
    retry_after = retry_after_seconds(response)
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    delay = min(INITIAL_RETRY_DELAY * 2.0**retries_done, MAX_RETRY_DELAY)
    return delay * (1.0 - 0.25 * random.random())


def should_retry(spec: RequestSpec[Any], retries_left: int, *, response: httpx.Response | None = None) -> bool:
    """Retry only calls that are safe to repeat, only while retries are left, and only on transient
    failures: no answer at all (`response is None`) or 408, 429, 503."""
    if not spec.idempotent or retries_left <= 0:
        return False
    if response is None:
        return True
    if response.status_code in spec.ok_statuses:
        return False
    return response.status_code in RETRYABLE_STATUS_CODES


def error_from_httpx(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    """httpx's transport error as ours (the caller raises it `from exc`)."""
    target = str(request.url.copy_with(query=None))
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"request to {target} timed out ({type(exc).__name__})", request=request)
    reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"could not connect to {target}: {reason}", request=request)


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The exception for an error response: the class by status, the message from the ErrorBody."""
    body: ErrorBody | None = None
    try:
        body = ErrorBody.model_validate_json(response.content)
        message = body.message
    except (pydantic.ValidationError, ValueError):
        message = _fallback_message(response)
    status = response.status_code
    cls = _STATUS_ERRORS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return cls(message, response=response, body=body)


def _fallback_message(response: httpx.Response) -> str:
    """A message for an error that isn't an ErrorBody (a proxy's page, FastAPI's bare {"detail": ...})."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return str(data["detail"])
    text = response.text.strip() if response.content else ""
    if text and len(text) <= 200 and "\n" not in text:
        return text
    return response.reason_phrase or f"HTTP {response.status_code}"


def parse_response(spec: RequestSpec[T], response: httpx.Response) -> T:
    """The response body as `spec.cast_to`; raises the mapped APIStatusError for an error status."""
    if response.is_error and response.status_code not in spec.ok_statuses:
        raise make_status_error(response)
    if spec.cast_to is str:
        return response.text  # type: ignore[return-value]
    adapter: pydantic.TypeAdapter[T] = pydantic.TypeAdapter(spec.cast_to)
    try:
        return adapter.validate_json(response.content)
    except pydantic.ValidationError as exc:
        if response.is_error:  # an ok_status whose body is not the documented answer: a real error
            raise make_status_error(response) from exc
        first = exc.errors()[0] if exc.errors() else {"msg": str(exc), "loc": ()}
        where = ".".join(str(part) for part in first.get("loc", ()))
        expected = getattr(spec.cast_to, "__name__", str(spec.cast_to))
        problem = f"{where}: {first['msg']}" if where else str(first["msg"])
        raise APIResponseValidationError(
            f"{spec.method} {spec.path} answered {response.status_code} with a body that is not a "
            f"{expected}: {problem}",
            response=response,
        ) from exc


class BaseClient:
    """Configuration and request descriptions shared by `Client` and `AsyncClient`."""

    base_url: str
    api_key: str | None
    timeout: TimeoutTypes
    max_retries: int

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_retries is None:
            max_retries = DEFAULT_MAX_RETRIES
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = resolve_base_url(base_url)
        self.api_key = resolve_api_key(api_key)
        self.timeout = DEFAULT_TIMEOUT if isinstance(timeout, NotGiven) else timeout
        self.max_retries = max_retries
        self._custom_headers = dict(headers or {})

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key})"

    # ---- what goes on the wire ------------------------------------------------------------------

    def default_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        headers.update(self._custom_headers)
        return headers

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, spec: RequestSpec[Any], timeout: Any, retries_done: int
    ) -> httpx.Request:
        headers = dict(spec.headers)
        if retries_done:
            headers["X-Retry-Count"] = str(retries_done)
        return http.build_request(
            spec.method,
            spec.path,
            json=spec.json,
            headers=headers,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
        )

    def _retries_for(self, max_retries: int | None) -> int:
        return self.max_retries if max_retries is None else max(0, max_retries)

    # ---- the endpoints, described ---------------------------------------------------------------

    @staticmethod
    def _classify(sequence: str, arch: Arch | None, explain: bool) -> RequestSpec[ClassifyResult]:
        body = _without_none(sequence=sequence, arch=arch, explain=explain or None)
        return RequestSpec("POST", "/classify", ClassifyResult, idempotent=True, json=body)

    @staticmethod
    def _classify_batch(sequences: list[str], arch: Arch | None) -> RequestSpec[ClassifyBatchResult]:
        if isinstance(sequences, str):
            raise TypeError("classify_batch takes a list of sequences; use classify() for one")
        body = _without_none(sequences=list(sequences), arch=arch)
        return RequestSpec("POST", "/classify/batch", ClassifyBatchResult, idempotent=True, json=body)

    @staticmethod
    def _generate(n: int, task: TaskName, seed: int | None) -> RequestSpec[GenerateResult]:
        # Safe to retry: without a seed the server picks one, but any answer is as good as another.
        body = _without_none(n=n, task=task, seed=seed)
        return RequestSpec("POST", "/generate", GenerateResult, idempotent=True, json=body)

    @staticmethod
    def _train(params: dict[str, Any]) -> RequestSpec[TrainJobPublic]:
        # Never idempotent: a second POST would start a second job.
        return RequestSpec("POST", "/train", TrainJobPublic, idempotent=False, json=_without_none(**params))

    @staticmethod
    def _get_job(job_id: str) -> RequestSpec[TrainJobPublic]:
        return RequestSpec("GET", f"/train/{segment(job_id)}", TrainJobPublic, idempotent=True)

    @staticmethod
    def _cancel_job(job_id: str) -> RequestSpec[TrainJobPublic]:
        return RequestSpec("DELETE", f"/train/{segment(job_id)}", TrainJobPublic, idempotent=False)

    @staticmethod
    def _jobs() -> RequestSpec[TrainJobList]:
        return RequestSpec("GET", "/train", TrainJobList, idempotent=True)

    @staticmethod
    def _metrics() -> RequestSpec[MetricsPublic]:
        return RequestSpec("GET", "/metrics", MetricsPublic, idempotent=True)

    @staticmethod
    def _metrics_prometheus() -> RequestSpec[str]:
        return RequestSpec("GET", "/metrics", str, idempotent=True, headers={"Accept": "text/plain"})

    @staticmethod
    def _models() -> RequestSpec[ModelList]:
        return RequestSpec("GET", "/models", ModelList, idempotent=True)

    @staticmethod
    def _model(arch: str) -> RequestSpec[ModelPublic]:
        return RequestSpec("GET", f"/models/{segment(arch)}", ModelPublic, idempotent=True)

    @staticmethod
    def _curve(arch: str, version: int) -> RequestSpec[VersionCurve]:
        path = f"/models/{segment(arch)}/versions/{segment(version)}/curve"
        return RequestSpec("GET", path, VersionCurve, idempotent=True)

    @staticmethod
    def _studies() -> RequestSpec[StudyList]:
        return RequestSpec("GET", "/studies", StudyList, idempotent=True)

    @staticmethod
    def _study(name: str) -> RequestSpec[StudyPublic]:
        return RequestSpec("GET", f"/studies/{segment(name)}", StudyPublic, idempotent=True)

    @staticmethod
    def _activate(arch: str, version: int) -> RequestSpec[ModelPublic]:
        # Not retried: activation is idempotent in effect, but it changes what every caller is served.
        path = f"/models/{segment(arch)}/activate"
        return RequestSpec("POST", path, ModelPublic, idempotent=False, json={"version": version})

    @staticmethod
    def _health() -> RequestSpec[Health]:
        return RequestSpec("GET", "/healthz", Health, idempotent=True)

    @staticmethod
    def _ready() -> RequestSpec[Readiness]:
        # 503 is an answer here (not ready, and why), not a transient failure to retry.
        return RequestSpec("GET", "/readyz", Readiness, idempotent=True, ok_statuses=frozenset({503}))


def dumps_for_log(spec: RequestSpec[Any]) -> str:
    """A short description of a call for debug logs (never the headers, which hold the API key)."""
    return f"{spec.method} {spec.path}" + (f" {json.dumps(spec.json)[:120]}" if spec.json else "")
