"""A lane beside FastAPI's routing for the hottest request: POST /classify with a JSON body, no `explain`.

Why: per request, FastAPI's routing, dependency injection and request objects cost about as much as the
whole classification. On the 2-core machine this project is measured on, a bare ASGI handler that
validates the same request body with the same pydantic model answers about 8,900 requests/s under wrk; a
bare FastAPI route doing the same, about 3,500 (bench/serve_bench.py has the service's own figures).

`FastLane` is the outermost ASGI layer, in front of FastAPI and its middleware. It answers only the
successful path, with the body the route would give (`result_dict`, the same
serialiser). Everything else — a body that does not validate, `explain`, a bad symbol, an unknown or
unready architecture, a failed forward — returns None and the caller hands the request to FastAPI with its
body replayed, so every error keeps the route's status, shape and message. `TEMPORAL_ORDER_FAST_LANE=false`
sends every request through the routes; tests/service/test_fast_lane.py compares the two byte for byte.
"""

from __future__ import annotations

import logging
import time

import pydantic_core
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.deps import ServiceState
from service.errors import error_response, too_large_body
from service.middleware import record_request
from service.routes.classify import result_dict
from service.schemas import ClassifyRequest
from service.sequences import parse
from training.task import InvalidSequence

logger = logging.getLogger("service.fast_lane")

PATH = "/classify"


def wants_lane(scope: Scope, max_body_bytes: int) -> bool:
    """POST /classify declared as JSON and not declared too large: the only requests the lane tries."""
    if scope.get("method") != "POST" or scope.get("path") != PATH:
        return False
    is_json = False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            is_json = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif name == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
            return False  # ServiceMiddleware answers 413 without reading the body
    return is_json


JSON_HEADERS = [(b"content-type", b"application/json")]


class FastLane:
    """Answers plain POST /classify requests itself; hands everything else to `app` (FastAPI) untouched."""

    def __init__(self, app: ASGIApp, *, state: ServiceState, max_body_bytes: int) -> None:
        self.app = app
        self.state = state
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not wants_lane(scope, self.max_body_bytes):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body = await self._read_body(receive)
        if body is None:
            await error_response(413, too_large_body(self.max_body_bytes))(scope, receive, send)
            record_request(self.state.metrics, scope, PATH, 413, started)
            return
        try:
            response = await answer(self.state, body)
        except Exception as error:  # never a bare 500 from here: the route answers instead
            logger.warning("fast lane failed, the route answers: %r", error)
            response = None
        if response is None:
            await self.app(scope, _replay(body, receive), send)
            return
        length = [(b"content-length", str(len(response)).encode("ascii"))]
        await send({"type": "http.response.start", "status": 200, "headers": length + JSON_HEADERS})
        await send({"type": "http.response.body", "body": response})
        record_request(self.state.metrics, scope, PATH, 200, started)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None once it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away; the route sees the same
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once as the whole request, then defers to the server's (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


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
