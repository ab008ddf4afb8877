"""JSON access lines, one per request, kept in memory and written in batches.

A request only appends its raw fields (a tuple) here; the lines are rendered and written together, one `write`
for many lines, `flush_interval_s` after the first unwritten line (a timer on the event loop), at once when
`max_pending` lines are waiting, before any other log line (so the log stays in order) and at shutdown
(RequestLog flushes when the app's lifespan ends, and an atexit hook catches the rest). Only a process killed
outright (SIGKILL) loses lines: those of its last interval.

Why batches: rendered one at a time between requests, a line's few microseconds of formatting grow several-fold,
since every request in between evicts the formatting code and data from the CPU caches; rendered together they
stay warm, and a request only makes a tuple. The line is what `json.dumps` of its fields would give
(tests/service/logs/test_access_lines.py compares them), with the other JSON lines' keys and timestamp form.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import deque
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii  # what json.dumps uses for every string (ensure_ascii)
from typing import IO, TypeAlias

DEFAULT_FLUSH_INTERVAL_S = 0.1
DEFAULT_MAX_PENDING = 1024
_MAX_CACHED_PREFIXES = 512  # distinct (method, path, route) whose rendered start is kept: the routes' paths

# One request's access line as RequestLog hands it over, in this order: method, path, route (template or None),
# status, latency in seconds, arch (or None), request id (ASCII bytes). A tuple: cheapest to make per request.
Access: TypeAlias = tuple[str | None, str | None, str | None, int, float, str | None, bytes]

_PREFIX = '{"method": %s, "path": %s, "route": %s, "status": '
_REST = (
    '%d, "latency_ms": %r, "arch": %s, "request_id": %s, "event": "request", "level": "info", '
    '"logger": "service.access", "timestamp": "%s.%06dZ"}\n'
)


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


class _Renderer:
    """Renders access lines, keeping what repeats: the start of a line per (method, path, route), and the date and
    time of day per second (ISO 8601 UTC with microseconds, as structlog's TimeStamper writes them)."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str | None, str | None, str | None], str] = {}
        self._arches: dict[str | None, str] = {None: "null"}
        self._second = -1
        self._date_time = ""

    def lines(self, entries: Iterable[tuple[int, Access]]) -> str:
        prefixes, arches, rest = self._prefixes, self._arches, _REST
        parts = []
        for when, (method, path, route, status, latency_s, arch, request_id) in entries:
            key = (method, path, route)
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = _PREFIX % (_string(method), _string(path), _string(route))
                if len(prefixes) < _MAX_CACHED_PREFIXES:
                    prefixes[key] = prefix
            arch_json = arches.get(arch)
            if arch_json is None:
                arch_json = arches[arch] = _string(arch)
            second, nanos = divmod(when, 1_000_000_000)
            if second != self._second:
                self._second = second
                self._date_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            parts.append(prefix)
            parts.append(
                rest
                % (
                    status,
                    round(latency_s * 1000, 3),
                    arch_json,
                    encode_basestring_ascii(request_id.decode("ascii")),
                    self._date_time,
                    nanos // 1000,
                )
            )
        return "".join(parts)


def render(entries: Iterable[tuple[int, Access]]) -> str:
    """The JSON lines of requests that ended at the given times (time.time_ns())."""
    return _Renderer().lines(entries)


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
        self._pending: deque[tuple[int, Access]] = deque()
        self._renderer = _Renderer()
        # The loop a flush is scheduled on, until the next flush (a loop closed since lost its timer).
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def add(self, access: Access) -> None:
        pending = self._pending
        pending.append((time.time_ns(), access))
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
            entries = []
            while pending:
                entries.append(pending.popleft())
            if self.stream is not None:
                self.stream.write(self._renderer.lines(entries))


access_lines = AccessLines()
atexit.register(access_lines.flush)
