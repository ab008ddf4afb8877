"""POST /classify without FastAPI's routing: per request, route matching, dependency injection and request objects
cost about as much as the classification itself (bench/serve_bench.py measures the service with the lane).

`FastLane` is the innermost of the service's middleware, so the body limit and the request metrics hold for it as
for any route (ServiceMiddleware), and it calls the route's own use-case (service/classify.py) with the route's
own error bodies. It takes only a JSON body of declared length (the limit was checked on the header); a streamed
body, whose size is checked as it is read, takes the route. A body that does not validate as `ClassifyRequest`
goes to the route too, replayed, so FastAPI's validation errors keep their form.
`TEMPORAL_ORDER_FAST_LANE=false` sends every request through the routes; tests/service/test_fast_lane.py
compares the two byte for byte.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.classify import classify_one
from service.deps import ServiceState
from service.errors import ServiceError, service_error_response
from service.routes.classify import json_response, router
from service.schemas import ClassifyRequest

PATH = "/classify"


def wants_lane(scope: Scope) -> bool:
    """POST /classify declared as JSON, with a declared length: the only requests the lane takes."""
    if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != PATH:
        return False
    is_json = has_length = False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            is_json = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif name == b"content-length":
            has_length = True
    return is_json and has_length


def classify_route() -> APIRoute:
    """The route the lane stands in for, as routing would put it in the request's scope."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ()))


class FastLane:
    """Answers POST /classify requests itself; hands everything else to `app` (the routes) untouched."""

    def __init__(self, app: ASGIApp, *, state: ServiceState) -> None:
        self.app = app
        self.state = state
        self.route = classify_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool = self.state.pool
        if pool is None or not wants_lane(scope):  # no pool yet: the route's dependency says the service is starting
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            request = ClassifyRequest.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route  # the request metrics and the access log name the route that answered
        try:
            response = json_response(await classify_one(pool, request))
        except ServiceError as error:
            response = service_error_response(error)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)  # all of it, or what came before the client went away (the route sees the same)


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
