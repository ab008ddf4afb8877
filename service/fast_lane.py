"""A lane beside FastAPI's routing for the hottest request: POST /classify with a JSON body, no `explain`.

Why: per request, FastAPI's routing, dependency injection and request objects cost about as much as the
whole classification. On the 2-core machine this project is measured on, a bare ASGI handler that
validates the same request body with the same pydantic model answers about 8,900 requests/s under wrk; a
bare FastAPI route doing the same, about 3,500 (bench/serve_bench.py has the service's own figures).

The lane answers only the successful path, with the body the route would give (`result_dict`, the same
serialiser). Everything else — a body that does not validate, `explain`, a bad symbol, an unknown or
unready architecture, a failed forward — returns None and the caller hands the request to FastAPI with its
body replayed, so every error keeps the route's status, shape and message. `TEMPORAL_ORDER_FAST_LANE=false`
sends every request through the routes; tests/service/test_fast_lane.py compares the two byte for byte.
"""

from __future__ import annotations

import logging

import pydantic_core
from pydantic import ValidationError
from starlette.types import Scope

from service.deps import ServiceState
from service.routes.classify import result_dict
from service.schemas import ClassifyRequest
from service.sequences import parse
from training.task import InvalidSequence

logger = logging.getLogger("service.fast_lane")

PATH = "/classify"


def wants_lane(scope: Scope) -> bool:
    """POST /classify declared as JSON: the only requests the lane tries (others never reach it)."""
    if scope.get("method") != "POST" or scope.get("path") != PATH:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


async def answer(state: ServiceState, body: bytes) -> bytes | None:
    """The JSON response of POST /classify for `body` when it is a plain success, else None."""
    pool = state.pool
    if pool is None or not state.ready:
        return None
    try:
        request = ClassifyRequest.model_validate_json(body)
    except ValidationError:
        return None
    if request.explain:
        return None
    try:
        sequence = parse(request.sequence)
    except InvalidSequence:
        return None
    try:
        served, row = await pool.classify_one(request.arch, sequence)
    except Exception as error:  # the route repeats the call and answers with the error's proper response
        logger.debug("fast lane hands over to the route: %s", error)
        return None
    return pydantic_core.to_json(result_dict(served, sequence, row))
