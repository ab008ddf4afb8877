"""The Python SDK of the temporal-order service (sync and asyncio, over httpx).

    from service.client import Client

    with Client() as client:  # TEMPORAL_ORDER_URL / TEMPORAL_ORDER_API_KEY, or pass them
        result = client.classify("EabXcd…B")
        print(result.label, result.probabilities[result.label])

Imports only httpx, pydantic, the standard library and `service.schemas`.
"""

from __future__ import annotations

from service.client._async_client import AsyncClient
from service.client._base import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    ENV_API_KEY,
    ENV_URL,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    NOT_GIVEN,
    RETRYABLE_STATUS_CODES,
    NotGiven,
    __version__,
)
from service.client._client import Client
from service.client._jobs import AsyncTrainJob, TrainJob
from service.client.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    JobWaitTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    TemporalOrderError,
    UnprocessableEntityError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_URL",
    "INITIAL_RETRY_DELAY",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "NOT_GIVEN",
    "RETRYABLE_STATUS_CODES",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncTrainJob",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "JobWaitTimeoutError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "TemporalOrderError",
    "TrainJob",
    "UnprocessableEntityError",
    "__version__",
]
