"""The OpenAPI document as a contract clients can be generated from.

FastAPI documents each operation's success and, for validation, its own `{"detail": ...}` body, which this
service never sends. `install_openapi` rewrites the document once, when it is first asked for:

- every error status an operation can answer is documented with the one body the service sends,
  `ErrorBody`, and an example: derived from what the route depends on (a body: 400 invalid JSON, 413, 415
  not JSON, 422; a parameter that can fail validation: 422; the API key: 401; the registry, the models or the
  job workers: 503), plus `EXTRA_ERRORS` for what only the route's own logic raises (404 for a missing job or
  version, 409);
- every request body has an example (`REQUEST_EXAMPLES`, one per request model), and the training job's answers
  one each (`RESPONSE_EXAMPLES`: a job queued, and one whose trainer has started);
- the API key is a security scheme, `APIKeyHeader` (X-API-Key) or `HTTPBearer`, so Swagger UI has "Authorize"
  (declared by `service.deps.require_api_key`).

Operations tagged `OWN_ERRORS_TAG` (the Open Inference Protocol's, which has its own error shape) document
their errors themselves. tests/service/contracts/ checks the document against the answers the service gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from service.deps import get_jobs, get_pool, get_registry, require_api_key
from service.schemas import (
    ActivateRequest,
    ClassifyBatchRequest,
    ClassifyRequest,
    ErrorBody,
    ErrorDetail,
    GenerateRequest,
    TrainJobCreate,
    TrainJobProgress,
    TrainJobPublic,
)

OWN_ERRORS_TAG = "open inference protocol"

EXAMPLE_SEQUENCE = (
    "EdbdbdaabadbacbcaXbcadacabccaddbbdcacbbbdYbcbbaabaabddcbacddcbbbdaabXacaabdbcdaabdcddcbacbddcdbadbbB"
)

REQUEST_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    ClassifyRequest: {"sequence": EXAMPLE_SEQUENCE, "arch": "lstm", "explain": True},
    ClassifyBatchRequest: {"sequences": [EXAMPLE_SEQUENCE, EXAMPLE_SEQUENCE[:-1] + "B"], "arch": "lstm"},
    GenerateRequest: {"n": 3, "task": "6b", "seed": 1},
    TrainJobCreate: {"arch": "lstm", "task": "6b", "trials": 1, "max_sequences": 50_000, "seed": 0},
    ActivateRequest: {"version": 1},
}

_EXAMPLE_JOB = TrainJobPublic(
    id="5f1c2a9e0b7d4c3f8e6a1d2b3c4e5f60",
    status="queued",
    params=TrainJobCreate.model_validate({**REQUEST_EXAMPLES[TrainJobCreate], "retries": 1}),
    progress=TrainJobProgress(),
    created_at=datetime(2026, 12, 1, 20, 0, 0, tzinfo=UTC),
    status_url="/train/5f1c2a9e0b7d4c3f8e6a1d2b3c4e5f60",
)
# Answers of one job, keyed by operation and status: POST /train's (queued) and GET /train/{job_id}'s (claimed by a
# worker, its trainer started and training).
RESPONSE_EXAMPLES: dict[tuple[str, str, int], dict[str, Any]] = {
    ("POST", "/train", 202): _EXAMPLE_JOB.model_dump(mode="json"),
    ("GET", "/train/{job_id}", 200): _EXAMPLE_JOB.model_copy(
        update={
            "status": "running",
            "progress": TrainJobProgress(
                arch="lstm",
                trial=1,
                trials=1,
                sequences=12_000,
                max_sequences=50_000,
                train_error=0.41,
                train_accuracy=0.62,
            ),
            "started_at": datetime(2026, 12, 1, 20, 0, 1, tzinfo=UTC),
            "worker": "trainer-host:4242:9c1e2f3a",
            "attempts": 1,
            "trainer_started": True,
        }
    ).model_dump(mode="json"),
}

ERRORS: dict[int, tuple[str, ErrorBody]] = {
    400: (
        "The body is not valid JSON.",
        ErrorBody(
            error="invalid_json",
            message="the request body is not valid JSON",
            details=[ErrorDetail(loc=["body", 1], msg="JSON decode error", type="json_invalid")],
            hint="send a JSON object with Content-Type: application/json",
        ),
    ),
    415: (
        "The body is not JSON: send Content-Type: application/json.",
        ErrorBody(
            error="unsupported_media_type",
            message="the body must be JSON, not 'text/plain'",
            hint="send a JSON object with Content-Type: application/json",
        ),
    ),
    401: (
        "The API key is missing or wrong (send X-API-Key or Authorization: Bearer).",
        ErrorBody(
            error="unauthorized",
            message="this endpoint needs the API key",
            hint="send it as X-API-Key: <key> or Authorization: Bearer <key> (TEMPORAL_ORDER_API_KEY)",
        ),
    ),
    404: (
        "No such training job, model version or study.",
        ErrorBody(error="not_found", message="no version 99 of 'lstm' in the registry"),
    ),
    409: (
        "The job has already ended, the version to activate cannot be served (its checkpoint does not load), or "
        "there is no earlier activation to roll back to.",
        ErrorBody(error="conflict", message="training job '5f1c…' already ended with status 'succeeded'"),
    ),
    413: (
        "The request body exceeds the service's limit (TEMPORAL_ORDER_MAX_BODY_BYTES).",
        ErrorBody(
            error="body_too_large",
            message="the request body exceeds the limit of 2097152 bytes",
            hint="split the sequences over several /classify/batch requests",
        ),
    ),
    422: (
        "A field is invalid; `details` say which (`loc`) and, for a sequence, at which symbol (`position`).",
        ErrorBody(
            error="validation_error",
            message="sequence: unknown symbol 'Z' at position 4; allowed symbols: E a b c d X Y B",
            details=[
                ErrorDetail(
                    loc=["body", "sequence"],
                    msg="unknown symbol 'Z' at position 4; allowed symbols: E a b c d X Y B",
                    type="invalid_sequence",
                    position=4,
                )
            ],
            hint="use only the symbols E a b c d X Y B (position 4)",
        ),
    ),
    503: (
        "Not ready: the architecture has no usable checkpoint, the service is starting, or the registry does not "
        "answer. Retry later.",
        ErrorBody(
            error="model_not_ready",
            message="architecture 'lstm' is not available: no active version",
            hint="train one: POST /train with arch='lstm', or run `temporal-order bootstrap`",
        ),
    ),
}

# Statuses only a route's own logic raises, by (method, path template).
EXTRA_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/train/{job_id}"): (404,),
    ("DELETE", "/train/{job_id}"): (404, 409),
    ("POST", "/models/{arch}/activate"): (404, 409),
    ("POST", "/models/{arch}/rollback"): (409,),
    ("GET", "/models/{arch}/versions/{version}/curve"): (404,),
    ("GET", "/studies/{name}"): (404,),
}

NEEDS_STATE: tuple[Callable[..., Any], ...] = (get_registry, get_pool, get_jobs)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _params(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _can_fail_validation(field: Any) -> bool:
    """A bare `str` parameter takes any value; anything typed or constrained can be rejected with 422."""
    return field.field_info.annotation is not str or bool(field.field_info.metadata)


def error_statuses(route: APIRoute, method: str) -> list[int]:
    """Every error status `route` answers with an ErrorBody."""
    calls = set(_calls(route.dependant))
    statuses: set[int] = set(EXTRA_ERRORS.get((method, route.path_format), ()))
    if route.body_field is not None:
        statuses |= {400, 413, 415, 422}
    if any(_can_fail_validation(field) for field in _params(route.dependant)):
        statuses.add(422)
    if require_api_key in calls:
        statuses.add(401)
    if calls & set(NEEDS_STATE):
        statuses.add(503)
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    description, example = ERRORS[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorBody"},
                "example": example.model_dump(mode="json"),
            }
        },
    }


def _add_error_schemas(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas["ErrorBody"] = schema
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, never sent here
        schemas.pop(unused, None)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (newer FastAPI keeps them whole, as `original_router`;
    this app includes them without a prefix, so a route's own path is its full path)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def _document(app: FastAPI, document: dict[str, Any]) -> None:
    _add_error_schemas(document)
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        own_errors = OWN_ERRORS_TAG in route.tags
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path_format][method.lower()]
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422")):  # FastAPI's, added to any route with params
                del responses["422"]
            if own_errors:
                continue
            for status in error_statuses(route, method):
                # A route that answers a status with its own model (GET /readyz's 503) keeps it.
                responses.setdefault(str(status), _error_response(status))
            for (example_method, path, status), example in RESPONSE_EXAMPLES.items():
                if (example_method, path) == (method, route.path_format):
                    responses[str(status)]["content"]["application/json"]["example"] = example
            body_type = route.body_field.field_info.annotation if route.body_field is not None else None
            if body_type in REQUEST_EXAMPLES:
                content = operation["requestBody"]["content"]["application/json"]
                content["example"] = REQUEST_EXAMPLES[body_type]


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the documented contract (built once, then cached by FastAPI's convention)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            _document(app, document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
