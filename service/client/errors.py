"""The SDK's one error tree.

TemporalOrderError
├── APIConnectionError            the server could not be reached (raised from httpx's error)
│   └── APITimeoutError           connect/read/write/pool timeout (raised from httpx's error)
├── APIResponseValidationError    a 2xx answer whose body is not the documented schema
├── JobWaitTimeoutError           `TrainJob.wait(timeout=...)` ran out before the job finished
└── APIStatusError                the server answered 4xx/5xx; carries status, message, ErrorBody
    ├── BadRequestError           400
    ├── AuthenticationError       401
    ├── PermissionDeniedError     403
    ├── NotFoundError             404
    ├── ConflictError             409
    ├── PayloadTooLargeError      413
    ├── UnprocessableEntityError  422
    ├── RateLimitError            429
    └── InternalServerError       5xx
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from service.schemas import ErrorBody

if TYPE_CHECKING:
    from service.schemas import TrainJobPublic

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "JobWaitTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "TemporalOrderError",
    "UnprocessableEntityError",
]


class TemporalOrderError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(TemporalOrderError):
    """No HTTP answer came back: refused connection, DNS failure, dropped socket, ..."""

    def __init__(self, message: str | None = None, *, request: httpx.Request) -> None:
        super().__init__(message or f"could not connect to {request.url.copy_with(query=None)}")
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""

    def __init__(self, message: str | None = None, *, request: httpx.Request) -> None:
        super().__init__(message or f"request to {request.url.copy_with(query=None)} timed out", request=request)


class APIResponseValidationError(TemporalOrderError):
    """The server answered 2xx but the body does not match the schema this SDK expects."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.request = response.request
        self.status_code = response.status_code


class JobWaitTimeoutError(TemporalOrderError, TimeoutError):
    """`wait(timeout=...)` gave up; the job keeps running on the server. `.job` is its last known state."""

    def __init__(self, message: str, *, job: TrainJobPublic) -> None:
        super().__init__(message)
        self.job = job


class APIStatusError(TemporalOrderError):
    """The server answered with an error status. `.body` is the parsed ErrorBody, or None if it had none."""

    status_code: int

    def __init__(self, message: str, *, response: httpx.Response, body: ErrorBody | None) -> None:
        super().__init__(message)
        self.response = response
        self.request = response.request
        self.status_code = response.status_code
        self.body = body

    def __str__(self) -> str:
        text = f"{self.status_code} {self.response.reason_phrase}: {self.message}".rstrip()
        if self.body is not None:
            located = [d for d in self.body.details if d.msg and d.msg not in self.message]
            if located:
                text += " (" + "; ".join(_describe_detail(d.loc, d.msg) for d in located[:3]) + ")"
            if self.body.hint:
                text += f" Hint: {self.body.hint}"
        return text


def _describe_detail(loc: list[str | int], msg: str) -> str:
    where = ".".join(str(part) for part in loc if part != "body")
    return f"{where}: {msg}" if where else msg


class BadRequestError(APIStatusError):
    """400: the request is malformed (for example a sequence with an unknown symbol)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong (set `api_key=` or TEMPORAL_ORDER_API_KEY)."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but not allowed to do this."""


class NotFoundError(APIStatusError):
    """404: no such job, architecture, model version or route."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (e.g. cancelling a finished job)."""


class PayloadTooLargeError(APIStatusError):
    """413: the body or batch is larger than the server accepts."""


class UnprocessableEntityError(APIStatusError):
    """422: the body is well-formed JSON but a field is invalid; `.body.details` says which."""


class RateLimitError(APIStatusError):
    """429: too many requests; idempotent calls are retried after Retry-After."""


class InternalServerError(APIStatusError):
    """5xx: the server failed or is not ready (503)."""
