"""JSON access lines, one per request, kept in memory and written in batches.

A request only appends its raw fields (a tuple) here; the lines are rendered and written together, one `write`
for many lines, `flush_interval_s` after the first unwritten line (a timer on the event loop), at once when
`max_pending` lines are waiting, before any other log line (so the log stays in order) and at shutdown
(RequestLog flushes when the app's lifespan ends, and an atexit hook catches the rest). Only a process killed
outright (SIGKILL) loses lines: those of its last interval.

Why batches: rendered one at a time between requests, a line's few microseconds of formatting grow several-fold,
since every request in between evicts the formatting code and data from the CPU caches; rendered together they
stay warm. The line is the same as `json.dumps` of its fields would give (tests/service/logs/test_access_lines.py
compares them), with the other JSON lines' keys and timestamp form.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import deque
from json.encoder import encode_basestring_ascii  # what json.dumps uses for every string (ensure_ascii)
from typing import IO, NamedTuple

DEFAULT_FLUSH_INTERVAL_S = 0.1
DEFAULT_MAX_PENDING = 1024

_LINE = (
    '{"method": %s, "path": %s, "route": %s, "status": %d, "latency_ms": %r, "arch": %s, "request_id": %s, '
    '"event": "request", "level": "info", "logger": "service.access", "timestamp": "%s.%06dZ"}\n'
)


class Access(NamedTuple):
    """One request's access line, as RequestLog saw it."""

    method: str | None
    path: str | None
    route: str | None
    status: int
    latency_ms: float
    arch: str | None
    request_id: str


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


class _Timestamps:
    """ISO 8601 UTC with microseconds, as structlog's TimeStamper writes them; the date and time of day are
    formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def split(self, when: float) -> tuple[str, int]:
        second = int(when)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix, int((when - second) * 1_000_000)


def render(access: Access, when: float, timestamps: _Timestamps | None = None) -> str:
    """The JSON line of one request that ended at `when` (time.time())."""
    prefix, micros = (timestamps or _Timestamps()).split(when)
    return _LINE % (
        _string(access.method),
        _string(access.path),
        _string(access.route),
        access.status,
        access.latency_ms,
        _string(access.arch),
        _string(access.request_id),
        prefix,
        micros,
    )


class AccessLines:
    """The process's buffered access lines; `stream` None means they are not written this way (see
    logging_setup.configure_logging). Requests may end on any thread: appends need no lock, writes take `lock`."""

    def __init__(
        self, *, flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S, max_pending: int = DEFAULT_MAX_PENDING
    ) -> None:
        self.stream: IO[str] | None = None
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.lock = threading.RLock()  # held while lines are written: whole lines, in order
        self._pending: deque[tuple[float, Access]] = deque()
        self._timestamps = _Timestamps()
        # The loop a flush is scheduled on, until the next flush (a loop closed since lost its timer).
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def add(self, access: Access) -> None:
        pending = self._pending
        pending.append((time.time(), access))
        if len(pending) >= self.max_pending:
            self.flush()
        elif self._timer_loop is None or self._timer_loop.is_closed():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop on this thread to flush later: write now
                self.flush()
                return
            self._timer_loop = loop
            loop.call_later(self.flush_interval_s, self.flush)

    def flush(self) -> None:
        """Write every waiting line, in one write."""
        with self.lock:
            self._timer_loop = None
            pending = self._pending
            if not pending:
                return
            timestamps = self._timestamps
            lines = []
            while pending:
                when, access = pending.popleft()
                lines.append(render(access, when, timestamps))
            if self.stream is not None:
                self.stream.write("".join(lines))


access_lines = AccessLines()
atexit.register(access_lines.flush)
