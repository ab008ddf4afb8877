"""A pure ASGI middleware (no per-request task or copy): the body size limit, request metrics, and the fast
lane for plain POST /classify requests (service/fast_lane.py)."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import fast_lane
from service.deps import ServiceState
from service.errors import error_response
from service.metrics import ServiceMetrics
from service.schemas import ErrorBody

JSON_HEADERS = [(b"content-type", b"application/json")]


class ServiceMiddleware:
    """Rejects bodies over `max_body_bytes` with 413 and records count and latency per route template."""

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int, lane_state: ServiceState | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.lane_state = lane_state  # None: no fast lane

    def _too_large(self) -> ErrorBody:
        return ErrorBody(
            error="body_too_large",
            message=f"the request body exceeds the limit of {self.max_body_bytes} bytes",
            hint="split the sequences over several /classify/batch requests",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body_bytes

        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = False
                if too_large:
                    await error_response(413, self._too_large())(scope, receive, send)
                    self._record(scope, 413, started)
                    return
                break

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._too_large().message)
            return message

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        app_receive: Receive = limited_receive
        if self.lane_state is not None and fast_lane.wants_lane(scope):
            body = await self._read_body(limited_receive)
            if body is None:
                await error_response(413, self._too_large())(scope, receive, send)
                self._record(scope, 413, started, route=fast_lane.PATH)
                return
            response = await fast_lane.answer(self.lane_state, body)
            if response is not None:
                length = [(b"content-length", str(len(response)).encode("ascii"))]
                await send({"type": "http.response.start", "status": 200, "headers": length + JSON_HEADERS})
                await send({"type": "http.response.body", "body": response})
                self._record(scope, 200, started, route=fast_lane.PATH)
                return
            app_receive = _replay(body, receive)

        try:
            await self.app(scope, app_receive, send_with_status)
        finally:
            self._record(scope, status, started)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None once it exceeds the limit."""
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except HTTPException:
                return None
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return b"".join(chunks)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _record(self, scope: Scope, status: int, started: float, route: str | None = None) -> None:
        template = route or getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.requests.labels(method=scope.get("method", ""), route=template, status=str(status)).inc()
        self.metrics.latency.labels(route=template).observe(time.perf_counter() - started)


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
