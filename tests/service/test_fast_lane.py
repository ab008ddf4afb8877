"""The fast lane for POST /classify answers exactly what the FastAPI route answers.

Two real servers on the same registry, one with the lane and one without (TEMPORAL_ORDER_FAST_LANE=false),
get the same requests; status, content type and body must match byte for byte, for successes, for every error
and for every kind of request the lane hands over to the route. In process: a failing forward runs once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.settings import ServiceSettings
from tests.support.registry import make_registry
from tests.support.server import API_KEY, LiveServer, start_server
from training.task import decode_batch, generate, get_task, make_generator

SEQUENCES = decode_batch(generate(get_task("6b"), 6, make_generator(11)))
LIMIT = 4096  # bytes of body


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    directory = tmp_path_factory.mktemp("lane")
    url = make_registry(directory / "registry.db", arches=("lstm", "rnn"))
    # Started side by side: each start imports torch, and neither needs the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        starts = [
            pool.submit(start_server, url, directory, max_body_bytes=LIMIT),
            pool.submit(start_server, url, directory, fast_lane=False, max_body_bytes=LIMIT),
        ]
    started = [start.result() for start in starts if start.exception() is None]
    try:
        with_lane, without = (start.result() for start in starts)  # raises a failed start, once both are in
        yield with_lane, without
    finally:
        for server in started:
            server.stop()


JSON = {"Content-Type": "application/json"}
CASES: list[tuple[str, bytes, dict[str, str]]] = [
    *[(f"valid {i}", json.dumps({"sequence": s}).encode(), JSON) for i, s in enumerate(SEQUENCES[:3])],
    ("named arch", json.dumps({"sequence": SEQUENCES[3], "arch": "rnn"}).encode(), JSON),
    ("whitespace", json.dumps({"sequence": " ".join(SEQUENCES[4])}).encode(), JSON),
    ("charset", json.dumps({"sequence": SEQUENCES[5]}).encode(), {"Content-Type": "application/json; charset=utf-8"}),
    ("out of distribution", json.dumps({"sequence": "EabXcdYaYB"}).encode(), JSON),
    ("explain", json.dumps({"sequence": SEQUENCES[0], "explain": True}).encode(), JSON),
    ("explain, rnn", json.dumps({"sequence": SEQUENCES[1], "arch": "rnn", "explain": True}).encode(), JSON),
    ("bad symbol", json.dumps({"sequence": "EabZB"}).encode(), JSON),
    ("empty sequence", json.dumps({"sequence": ""}).encode(), JSON),
    ("missing field", json.dumps({"seq": "EabB"}).encode(), JSON),
    ("unknown field", json.dumps({"sequence": "EabB", "extra": 1}).encode(), JSON),
    ("wrong type", json.dumps({"sequence": 12}).encode(), JSON),
    ("unknown arch", json.dumps({"sequence": "EabB", "arch": "gpt"}).encode(), JSON),
    ("arch not loaded", json.dumps({"sequence": SEQUENCES[0], "arch": "attn_rnn"}).encode(), JSON),
    ("not json", b"{sequence: EabB", JSON),
    ("json array", b"[1, 2]", JSON),
    ("no content type", json.dumps({"sequence": SEQUENCES[1]}).encode(), {}),
    ("text content type", json.dumps({"sequence": SEQUENCES[1]}).encode(), {"Content-Type": "text/plain"}),
    ("declared too large", json.dumps({"sequence": "E" + "a" * LIMIT + "B"}).encode(), JSON),
]


@pytest.mark.parametrize(("name", "body", "headers"), CASES, ids=[case[0] for case in CASES])
def test_lane_and_route_answer_the_same(
    servers: tuple[LiveServer, LiveServer], name: str, body: bytes, headers: dict[str, str]
) -> None:
    with_lane, without = servers
    fast = httpx.post(f"{with_lane.url}/classify", content=body, headers=headers, timeout=30)
    routed = httpx.post(f"{without.url}/classify", content=body, headers=headers, timeout=30)
    assert fast.status_code == routed.status_code, name
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.content == routed.content
    assert fast.status_code != 500


def test_lane_requests_are_counted_under_the_route(servers: tuple[LiveServer, LiveServer]) -> None:
    with_lane, _ = servers
    before = _classify_count(with_lane)
    for sequence in SEQUENCES:
        assert httpx.post(f"{with_lane.url}/classify", json={"sequence": sequence}, timeout=30).status_code == 200
    assert _classify_count(with_lane) == before + len(SEQUENCES)


def test_a_streamed_oversized_body_gets_the_one_413(servers: tuple[LiveServer, LiveServer]) -> None:
    big = json.dumps({"sequence": "E" + "a" * 2 * LIMIT + "B"}).encode()

    def chunks() -> Iterator[bytes]:  # no content-length: the limit must hold while reading
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    answers = [httpx.post(f"{server.url}/classify", content=chunks(), headers=JSON, timeout=30) for server in servers]
    assert answers[0].content == answers[1].content
    assert answers[0].status_code == answers[1].status_code == 413
    assert answers[0].json() == {
        "error": "body_too_large",
        "message": f"the request body exceeds the limit of {LIMIT} bytes",
        "details": [],
        "hint": "split the sequences over several /classify/batch requests",
    }
    fine = httpx.post(f"{servers[0].url}/classify", json={"sequence": SEQUENCES[0]}, timeout=30)
    assert fine.status_code == 200


@pytest.mark.parametrize("fast_lane", [True, False], ids=["lane", "route"])
def test_a_failing_forward_runs_once_and_answers_500(tmp_path: Path, fast_lane: bool) -> None:
    url = make_registry(tmp_path / "registry.db", arches=("lstm",))
    app = create_app(ServiceSettings(database_url=url, api_key=API_KEY, reload_interval_s=0, fast_lane=fast_lane))
    forwards = 0

    def failing_forward(*args: Any) -> None:
        nonlocal forwards
        forwards += 1
        raise RuntimeError("injected: the forward failed")

    async def post() -> httpx.Response:
        async with app.router.lifespan_context(app):
            app.state.service.pool.forward = failing_forward
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.post("/classify", json={"sequence": SEQUENCES[0]})

    answer = asyncio.run(post())
    assert (answer.status_code, answer.json()["error"]) == (500, "internal_error")
    assert forwards == 1


def _classify_count(server: LiveServer) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Accept": "text/plain"}, timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("temporal_order_http_requests_total{")
            and 'route="/classify"' in line
            and 'status="200"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total
