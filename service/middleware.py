"""A pure ASGI middleware (no per-request task or copy): the body size limit and request metrics."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response, too_large_body
from service.metrics import ServiceMetrics
from service.schemas import ErrorBody


class ServiceMiddleware:
    """Rejects bodies over `max_body_bytes` with 413 and records count and latency per route template."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> ErrorBody:
        return too_large_body(self.max_body_bytes)

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

        try:
            await self.app(scope, limited_receive, send_with_status)
        finally:
            self._record(scope, status, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        record_request(self.metrics, scope, template, status, started)


def record_request(metrics: ServiceMetrics, scope: Scope, template: str, status: int, started: float) -> None:
    metrics.observe_request(scope.get("method", ""), template, status, time.perf_counter() - started)
