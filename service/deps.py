"""What route handlers receive: the service's state, built once in the lifespan, as `Annotated` aliases.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a worker thread, a hop per request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.errors import ModelNotReady, Unauthorized
from service.inference import InferencePool
from service.job_queue import JobQueue
from service.metrics import ServiceMetrics
from service.settings import ServiceSettings
from training.registry import Registry


@dataclass
class ServiceState:
    """Heavy objects of one running app. `pool` and `jobs` exist once startup has got that far."""

    settings: ServiceSettings
    api_key: str
    metrics: ServiceMetrics
    registry: Registry | None = None
    pool: InferencePool | None = None
    jobs: JobQueue | None = None
    ready: bool = False


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_registry(request: Request) -> Registry:
    # Reads the state directly rather than through StateDep: one dependency to solve per request, not two.
    value = request.app.state.service.registry
    if value is None:
        raise ModelNotReady("the service is still starting", hint="retry once /readyz answers 200")
    return value  # type: ignore[no-any-return]


async def get_pool(request: Request) -> InferencePool:
    # Reads the state directly rather than through StateDep: one dependency to solve per request, not two.
    value = request.app.state.service.pool
    if value is None:
        raise ModelNotReady("the service is still starting", hint="retry once /readyz answers 200")
    return value  # type: ignore[no-any-return]


async def get_jobs(request: Request) -> JobQueue:
    # Reads the state directly rather than through StateDep: one dependency to solve per request, not two.
    value = request.app.state.service.jobs
    if value is None:
        raise ModelNotReady("the service is still starting", hint="retry once /readyz answers 200")
    return value  # type: ignore[no-any-return]


async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.service.settings  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.service.metrics  # type: ignore[no-any-return]


RegistryDep = Annotated[Registry, Depends(get_registry)]
PoolDep = Annotated[InferencePool, Depends(get_pool)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The service's API key (TEMPORAL_ORDER_API_KEY)."
)
BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`, instead of X-API-Key.")


async def require_api_key(
    state: StateDep,
    x_api_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """Accept the key from `X-API-Key` or `Authorization: Bearer`; compare in constant time.

    Declared as security schemes, so the OpenAPI document lists both and Swagger UI offers "Authorize"."""
    given = x_api_key
    if given is None and bearer is not None and bearer.credentials.strip():
        given = bearer.credentials.strip()
    challenge = {"WWW-Authenticate": 'Bearer realm="temporal-order"'}
    if given is None:
        raise Unauthorized(
            "this endpoint needs the API key",
            hint="send it as X-API-Key: <key> or Authorization: Bearer <key> (TEMPORAL_ORDER_API_KEY)",
            headers=challenge,
        )
    if not secrets.compare_digest(given.encode("utf-8", "surrogateescape"), state.api_key.encode()):
        raise Unauthorized(
            "the API key is wrong", hint="use the key the service printed or TEMPORAL_ORDER_API_KEY", headers=challenge
        )


ApiKeyDep = Depends(require_api_key)
