"""Structured logs of a real server: one JSON access line per request (the fast lane's too) with its request id,
X-Request-ID accepted or made and echoed, model loads and job events, the request id carried into a job's lines."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from service.logging_setup import configure_logging
from service.settings import ServiceSettings
from tests.support.registry import make_registry
from tests.support.server import LiveServer, start_server


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("logs")
    url = make_registry(directory / "registry.db", arches=("rnn", "lstm"))
    server = start_server(url, directory, job_progress_log_s=0.2, job_concurrency=2)
    answers: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            sequence = http.post("/generate", json={"n": 1, "seed": 2}).json()["sequences"][0]["sequence"]
            answers["lane"] = http.post("/classify", json={"sequence": sequence}, headers={"X-Request-ID": "lane-1"})
            # Access lines are written in batches (service/access_lines.py): this one once its flush interval has
            # passed, with no other request or log line to push it out.
            wait_for_line(server, lambda line: line.get("request_id") == "lane-1", "the access line of lane-1")
            answers["batch"] = http.post("/classify/batch", json={"sequences": [sequence], "arch": "rnn"})
            answers["forged"] = http.get("/models", headers={"X-Request-ID": "x" * 200})
            answers["bad"] = http.post("/classify", json={"sequence": "EabZ"}, headers={"X-Request-ID": "bad-1"})
            job = {"arch": "lstm", "trials": 1, "max_sequences": 100, "activate": False}
            headers = {**server.auth, "X-Request-ID": "job-request-1"}
            answers["job_id"] = http.post("/train", json=job, headers=headers).json()["id"]
            # Beside it (two job slots), a job of the seed's attention, which never meets the criterion: it trains
            # until it is cancelled, once its progress has been logged.
            long_job = {"arch": "attn_rnn_seed", "trials": 1, "max_sequences": 5_000_000, "activate": False}
            headers = {**server.auth, "X-Request-ID": "job-request-2"}
            long_id = http.post("/train", json=long_job, headers=headers).json()["id"]
            wait_for_event(server, long_id, "job progress")
            assert http.delete(f"/train/{long_id}", headers=server.auth).status_code == 200
            # the service logs a job's end once it has seen its process exit, after the status is written
            wait_for_event(server, long_id, "job ended")
            wait_for_event(server, answers["job_id"], "job ended")
            answers["long_job_id"] = long_id
    finally:
        server.stop()  # the log is complete once the process has exited
    yield server, answers


def wait_for_event(server: LiveServer, job_id: str, event: str) -> None:
    wait_for_line(
        server, lambda line: line["event"] == event and line.get("job_id") == job_id, f"{event!r} of {job_id}"
    )


def wait_for_line(server: LiveServer, wanted: Callable[[dict[str, Any]], bool], what: str) -> None:
    deadline = time.monotonic() + 300  # a guard against a hang only: a cold numba cache compiles for minutes here
    while not any(wanted(line) for line in lines(server)):
        assert time.monotonic() < deadline, f"{what} was not logged"
        time.sleep(0.05)


def lines(server: LiveServer) -> list[dict[str, Any]]:
    text = server.log_path.read_text()
    parsed = []
    for line in text.splitlines():
        if line.startswith("{"):
            parsed.append(json.loads(line))
    return parsed


def test_every_log_line_is_json_off_a_terminal(logged: tuple[LiveServer, dict[str, Any]]) -> None:
    server, _ = logged
    written = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    assert written and all(line.startswith("{") for line in written), [x for x in written if x[0] != "{"][:3]
    assert all({"event", "level", "timestamp", "logger"} <= set(line) for line in lines(server))


def test_one_access_line_per_request_with_its_id(logged: tuple[LiveServer, dict[str, Any]]) -> None:
    server, answers = logged
    assert answers["lane"].headers["x-request-id"] == "lane-1"
    made = answers["batch"].headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert answers["forged"].headers["x-request-id"] != "x" * 200  # replaced, not echoed
    access = {line["request_id"]: line for line in lines(server) if line["logger"] == "service.access"}
    lane = access["lane-1"]  # answered by the fast lane, in front of FastAPI
    assert (lane["method"], lane["path"], lane["status"]) == ("POST", "/classify", 200)
    assert lane["arch"] in ("rnn", "lstm") and lane["latency_ms"] > 0
    batch = access[made]
    assert (batch["route"], batch["arch"], batch["status"]) == ("/classify/batch", "rnn", 200)
    assert access["bad-1"]["status"] == 422
    assert sum(1 for line in lines(server) if line.get("request_id") == "lane-1" and line["event"] == "request") == 1


def test_model_loads_and_job_events_are_logged(logged: tuple[LiveServer, dict[str, Any]]) -> None:
    server, answers = logged
    written = lines(server)
    loads = [line["event"] for line in written if line["logger"] == "service.inference"]
    assert any(event.startswith("lstm: serving version 1") for event in loads)
    job = [line for line in written if line.get("job_id") == answers["job_id"]]
    job_events = [line for line in job if line["logger"] == "service.events"]
    assert [line["event"] for line in job_events if line["event"] != "job progress"] == [
        "job queued",
        "job started",
        "job ended",
    ]
    assert {line["request_id"] for line in job} == {"job-request-1"}  # the request that queued it
    assert job_events[-1]["status"] == "succeeded" and job_events[-1]["sequences"] == 100
    assert len(job_events[-1]["versions"]) == 1  # its one trial, recorded


def test_a_running_jobs_progress_is_logged_until_its_cancel(logged: tuple[LiveServer, dict[str, Any]]) -> None:
    server, answers = logged
    job = [line for line in lines(server) if line.get("job_id") == answers["long_job_id"]]
    assert {line["request_id"] for line in job} == {"job-request-2"}
    progress = [line for line in job if line["event"] == "job progress"]
    assert progress and all(line["arch"] == "attn_rnn_seed" and line["trial"] == 1 for line in progress)
    seen = [line["sequences"] for line in progress]
    assert seen[0] > 0 and seen == sorted(seen) and len(set(seen)) == len(seen)  # only when it moved
    assert all(line["max_sequences"] == 5_000_000 for line in progress)
    assert [line["event"] for line in job if line["event"] != "job progress"] == [
        "job queued",
        "job started",
        "job ended",
    ]
    assert job[-1]["event"] == "job ended" and job[-1]["status"] == "cancelled"


@pytest.mark.usefixtures("restore_logging")
def test_formats_and_levels(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    configure_logging("INFO", "auto", stream=terminal)
    structlog.get_logger("service.test").info("model swapped", arch="lstm")
    readable = terminal.getvalue()
    assert "model swapped" in readable and "arch" in readable and not readable.startswith("{")
    piped = io.StringIO()
    configure_logging("warning", "auto", stream=piped)
    structlog.get_logger("service.test").info("hidden below the level")
    logging.getLogger("service.test").warning("a %s line", "stdlib")
    assert [json.loads(line)["event"] for line in piped.getvalue().splitlines()] == ["a stdlib line"]
    assert ServiceSettings(log_level="debug", log_format="json").log_level == "DEBUG"
