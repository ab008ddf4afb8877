"""Buffered access lines (service/access_lines.py): the same JSON as json.dumps of the fields, written whole, in
order, once the flush interval has passed, at once when many wait, before any other line, and all at shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import structlog

from service.access_lines import Access, AccessLines, access_lines, render
from service.logging_setup import configure_logging
from tests.support.registry import make_registry
from tests.support.server import start_server


def access(request_id: str = "r-1") -> Access:
    return ("POST", "/classify", "/classify", 200, 0.000413, "lstm", request_id.encode())


@pytest.mark.parametrize(
    ("path", "route", "arch"),
    [
        ("/classify", "/classify", "lstm"),
        ('/a"b\\c/\u00e9\u2603\n\t\x01', None, None),  # escapes as json.dumps does (ensure_ascii)
        (None, None, "attn_rnn"),
    ],
)
def test_a_line_is_what_json_dumps_writes(path: str | None, route: str | None, arch: str | None) -> None:
    when = 1_796_000_000_123_456_789  # ns
    line = render([(when, ("GET", path, route, 404, 0.0125004, arch, b"abc-1"))])
    moment = datetime.fromtimestamp(when // 10**9, UTC).replace(microsecond=when // 1000 % 10**6)
    timestamp = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    fields = {
        "method": "GET",
        "path": path,
        "route": route,
        "status": 404,
        "latency_ms": 12.5,
        "arch": arch,
        "request_id": "abc-1",
        "event": "request",
        "level": "info",
        "logger": "service.access",
        "timestamp": timestamp,
    }
    assert line == json.dumps(fields) + "\n"
    # Twice: the second time from what the renderer kept (the line's start, the second's date and time).
    again = render([(when, ("GET", path, route, 404, 0.0125004, arch, b"abc-1"))] * 2)
    assert again == 2 * line


def test_off_an_event_loop_a_line_is_written_at_once() -> None:
    lines = AccessLines()
    lines.stream = io.StringIO()
    lines.add(access())
    assert json.loads(lines.stream.getvalue())["request_id"] == "r-1"


def test_on_an_event_loop_lines_wait_for_the_interval_then_go_in_one_write() -> None:
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    lines = AccessLines(flush_interval_s=0.01)
    lines.stream = Stream()

    async def requests() -> None:
        for n in range(3):
            lines.add(access(f"r-{n}"))
        assert writes == []  # nothing yet: the timer has not run
        deadline = time.monotonic() + 60  # a guard against a hang only
        while not writes:
            assert time.monotonic() < deadline, "the flush timer never wrote the lines"
            await asyncio.sleep(0.01)

    asyncio.run(requests())
    assert len(writes) == 1
    assert [json.loads(line)["request_id"] for line in writes[0].splitlines()] == ["r-0", "r-1", "r-2"]


def test_many_waiting_lines_are_written_without_waiting_for_the_timer() -> None:
    lines = AccessLines(flush_interval_s=3600, max_pending=10)
    lines.stream = io.StringIO()

    async def requests() -> None:
        for n in range(25):
            lines.add(access(f"r-{n}"))

    asyncio.run(requests())
    written = [json.loads(line)["request_id"] for line in lines.stream.getvalue().splitlines()]
    assert written == [f"r-{n}" for n in range(20)]  # two full batches; the last five wait
    lines.flush()
    assert len(lines.stream.getvalue().splitlines()) == 25


@pytest.mark.usefixtures("restore_logging")
def test_waiting_access_lines_come_before_a_later_log_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream, access_flush_s=3600)
    try:

        async def request_then_event() -> None:
            access_lines.add(access("before-the-event"))
            structlog.get_logger("service.test").info("model swapped", arch="lstm")
            logging.getLogger("service.test").warning("a stdlib line")

        asyncio.run(request_then_event())
        events = [
            json.loads(line).get("request_id") or json.loads(line)["event"] for line in stream.getvalue().splitlines()
        ]
        assert events == ["before-the-event", "model swapped", "a stdlib line"]
    finally:
        access_lines.flush()
        access_lines.stream = None


def test_a_server_writes_every_waiting_line_at_shutdown(tmp_path: Path) -> None:
    # A flush interval longer than the test: the lines can only come from the shutdown.
    server = start_server(make_registry(tmp_path / "r.db", arches=("lstm",)), tmp_path, access_log_flush_s=3600)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            sequence = http.post("/generate", json={"n": 1, "seed": 3}).json()["sequences"][0]["sequence"]
            for n in range(40):  # the fast lane and the routes
                http.post("/classify", json={"sequence": sequence}, headers={"X-Request-ID": f"lane-{n}"})
                http.get("/models", headers={"X-Request-ID": f"route-{n}"})
        assert '"logger": "service.access"' not in server.log()  # still waiting
    finally:
        server.stop()
    access = [json.loads(line) for line in server.log().splitlines() if '"logger": "service.access"' in line]
    ids = [line["request_id"] for line in access]
    expected = [id_ for n in range(40) for id_ in (f"lane-{n}", f"route-{n}")]
    assert [i for i in ids if i in expected] == expected  # each once, whole, in order
