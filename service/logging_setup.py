"""Logs operators can use: structlog over the standard library, so every logger of the process (ours, uvicorn's,
SQLAlchemy's) writes the same lines.

TEMPORAL_ORDER_LOG_FORMAT=auto|json|console  (auto: JSON lines when stderr is not a terminal, readable on one)
TEMPORAL_ORDER_LOG_LEVEL=INFO                 TEMPORAL_ORDER_ACCESS_LOG=true
TEMPORAL_ORDER_ACCESS_LOG_FLUSH_S=0.1         (JSON access lines are written in batches: service/access_lines.py)

`RequestLog` is the outermost ASGI layer (in front of the fast lane too): it takes the client's X-Request-ID or
makes one, echoes it on the response, binds it to every log line written while the request runs, and writes one
access line per request: method, path, route, status, latency, request id and the architecture that served it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import IO, Any, cast

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.access_lines import DEFAULT_FLUSH_INTERVAL_S, Access, access_lines

REQUEST_ID_HEADER = b"x-request-id"
# What a client may send as its request id: anything else is replaced, so a header can't forge log lines.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_HANDLER_MARK = "_temporal_order_handler"

# The architecture that served the current request, set by InferencePool.resolve (one ContextVar.set per request,
# cheaper than binding a structlog context variable).
served_arch: ContextVar[str | None] = ContextVar("served_arch", default=None)

access_log = structlog.get_logger("service.access")
events = structlog.get_logger("service.events")


def log_access_readably(access: Access) -> None:
    """An access line through structlog (its readable renderer on a terminal), with the JSON line's fields."""
    method, path, route, status, latency_s, arch, request_id = access
    access_log.info(
        "request",
        method=method,
        path=path,
        route=route,
        status=status,
        latency_ms=round(latency_s * 1000, 3),
        arch=arch,
        request_id=request_id.decode("ascii"),
    )


class _OrderedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the waiting access lines before each other line, so the log reads in the order things happened."""

    def emit(self, record: logging.LogRecord) -> None:
        with access_lines.lock:
            access_lines.flush()
            super().emit(record)


class _CurrentStandardError:
    """sys.stderr as it is at each write, not as it was when logging was configured: whoever swaps sys.stderr
    (a test runner, click's CliRunner) may close the old stream, and every later line would then fail."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "INFO",
    log_format: str = "auto",
    stream: IO[str] | None = None,
    *,
    access_flush_s: float = DEFAULT_FLUSH_INTERVAL_S,
) -> None:
    """Route every logger through one handler on `stream` (stderr), as JSON lines or readable ones; JSON access
    lines wait at most `access_flush_s` before they are written."""
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
    handler = _OrderedHandler(stream)
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
    access_lines.flush()  # to the stream they were meant for
    access_lines.stream = stream if as_json and info_enabled else None
    access_lines.flush_interval_s = access_flush_s
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
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                access_lines.flush()  # the app has shut down (or failed to start): no line waits for a timer
            return
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
                access: Access = (
                    scope.get("method"),
                    scope.get("path"),
                    getattr(scope.get("route"), "path", None),
                    status,
                    time.perf_counter() - started,
                    served_arch.get(),
                    request_id,
                )
                if access_lines.stream is not None:  # JSON lines, written in batches
                    access_lines.add(access)
                else:
                    log_access_readably(access)
            served_arch.reset(arch_token)
            structlog.contextvars.reset_contextvars(**tokens)
