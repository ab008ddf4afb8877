"""Logs operators can use: structlog over the standard library, so every logger of the process (ours, uvicorn's,
SQLAlchemy's) writes the same lines.

TEMPORAL_ORDER_LOG_FORMAT=auto|json|console  (auto: JSON lines when stderr is not a terminal, readable on one)
TEMPORAL_ORDER_LOG_LEVEL=INFO                 TEMPORAL_ORDER_ACCESS_LOG=true

`RequestLog` is the outermost ASGI layer (in front of the fast lane too): it takes the client's X-Request-ID or
makes one, echoes it on the response, binds it to every log line written while the request runs, and writes one
access line per request: method, path, route, status, latency, request id and the architecture that served it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, cast

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# What a client may send as its request id: anything else is replaced, so a header can't forge log lines.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_HANDLER_MARK = "_temporal_order_handler"

# The architecture that served the current request, set by InferencePool.resolve (one ContextVar.set per request,
# cheaper than binding a structlog context variable).
served_arch: ContextVar[str | None] = ContextVar("served_arch", default=None)

access_log = structlog.get_logger("service.access")
events = structlog.get_logger("service.events")


class _AccessWriter:
    """JSON access lines written straight to the stream: the same fields as every other JSON line, without the
    structlog → logging → formatter path, whose per-line cost (bench/serve_bench.py --logging) was a large share
    of a fast-lane request. On a terminal the lines go through structlog's readable renderer instead."""

    stream: IO[str] | None = None  # None: not JSON, or access lines below the configured level

    def write(self, fields: dict[str, Any]) -> None:
        stream = self.stream
        if stream is None:
            access_log.info("request", **fields)
            return
        fields["event"] = "request"
        fields["level"] = "info"
        fields["logger"] = "service.access"
        fields["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        stream.write(json.dumps(fields) + "\n")  # one write: lines from several threads never interleave


access_writer = _AccessWriter()


class _CurrentStandardError:
    """sys.stderr as it is at each write, not as it was when logging was configured: whoever swaps sys.stderr
    (a test runner, click's CliRunner) may close the old stream, and every later line would then fail."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "INFO", log_format: str = "auto", stream: IO[str] | None = None) -> None:
    """Route every logger through one handler on `stream` (stderr), as JSON lines or readable ones."""
    stream = stream or cast(IO[str], _CurrentStandardError())
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if as_json:
        final.append(structlog.processors.format_exc_info)  # the traceback as one string field
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[*final, renderer])
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):  # through our handler, not uvicorn's own format
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # RequestLog writes the access lines
    logging.getLogger("service.access").setLevel(logging.NOTSET)
    info_enabled = logging.getLogger("service.access").isEnabledFor(logging.INFO)
    access_writer.stream = stream if as_json and info_enabled else None
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_id_from(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.fullmatch(value):
            return bytes(value)
    return uuid.uuid4().hex.encode("ascii")


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


class RequestLog:
    """X-Request-ID in and out, bound to the request's log lines, and one access line per request."""

    def __init__(self, app: ASGIApp, *, access: bool = True) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id.decode("ascii"))
        arch_token = served_arch.set(None)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access:
                route = getattr(scope.get("route"), "path", None)
                access_writer.write(
                    {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "route": route,
                        "status": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                        "arch": served_arch.get(),
                        "request_id": request_id.decode("ascii"),
                    }
                )
            served_arch.reset(arch_token)
            structlog.contextvars.reset_contextvars(**tokens)
