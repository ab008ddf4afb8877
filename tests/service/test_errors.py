"""Bad input: each kind is answered with its 4xx, the one error shape, and a message that says what and where."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

GOOD = "E" + "a" * 10 + "X" + "b" * 22 + "Y" + "c" * 32 + "X" + "d" * 30 + "B"
NO_KEY: dict[str, str] = {}
WRONG_KEY = {"X-API-Key": "not-the-right-key-at-all"}
BAD_BEARER = {"Authorization": "Basic dXNlcjpwYXNz"}

# (id, method, path, json body or raw bytes, headers, status, text the message must contain, position)
CASES: list[tuple[str, str, str, Any, dict[str, str] | None, int, str, int | None]] = [
    ("unknown-symbol", "POST", "/classify", {"sequence": "EabZcdB"}, None, 422, "unknown symbol 'Z'", 4),
    ("lowercase-x", "POST", "/classify", {"sequence": "Eabx"}, None, 422, "unknown symbol 'x'", 4),
    ("digit", "POST", "/classify", {"sequence": "E1B"}, None, 422, "unknown symbol '1'", 2),
    ("unicode-symbol", "POST", "/classify", {"sequence": "EaéB"}, None, 422, "unknown symbol", 3),
    ("symbol-after-space", "POST", "/classify", {"sequence": "E a b ? B"}, None, 422, "position 4", 4),
    ("empty-sequence", "POST", "/classify", {"sequence": ""}, None, 422, "empty sequence", None),
    ("blank-sequence", "POST", "/classify", {"sequence": "   "}, None, 422, "empty sequence", None),
    ("too-long-sequence", "POST", "/classify", {"sequence": "a" * 10_001}, None, 422, "longer than the limit", None),
    ("sequence-number", "POST", "/classify", {"sequence": 5}, None, 422, "sequence", None),
    ("sequence-list", "POST", "/classify", {"sequence": ["E", "B"]}, None, 422, "sequence", None),
    ("sequence-null", "POST", "/classify", {"sequence": None}, None, 422, "sequence", None),
    ("missing-sequence", "POST", "/classify", {}, None, 422, "sequence: Field required", None),
    ("unknown-field", "POST", "/classify", {"sequence": GOOD, "temperature": 1}, None, 422, "temperature", None),
    ("unknown-arch", "POST", "/classify", {"sequence": GOOD, "arch": "transformer"}, None, 422, "arch", None),
    ("explain-not-bool", "POST", "/classify", {"sequence": GOOD, "explain": "maybe"}, None, 422, "explain", None),
    ("body-array", "POST", "/classify", [GOOD], None, 422, "", None),
    ("not-json", "POST", "/classify", b"sequence=EabB", None, 400, "not valid JSON", None),
    ("truncated-json", "POST", "/classify", b'{"sequence": "Ea', None, 400, "not valid JSON", None),
    ("empty-batch", "POST", "/classify/batch", {"sequences": []}, None, 422, "sequences", None),
    ("batch-not-list", "POST", "/classify/batch", {"sequences": GOOD}, None, 422, "sequences", None),
    ("batch-bad-item", "POST", "/classify/batch", {"sequences": [GOOD, "EQB"]}, None, 422, "sequences.1", 2),
    ("batch-number-item", "POST", "/classify/batch", {"sequences": [GOOD, 7]}, None, 422, "sequences.1", None),
    ("oversized-batch", "POST", "/classify/batch", {"sequences": ["EB"] * 1025}, None, 422, "limit of 1024", None),
    ("huge-body", "POST", "/classify", {"sequence": "a" * 3_000_000}, None, 413, "exceeds the limit", None),
    ("generate-zero", "POST", "/generate", {"n": 0}, None, 422, "n: Input should be greater than or equal to 1", None),
    ("generate-negative", "POST", "/generate", {"n": -3}, None, 422, "n:", None),
    ("generate-huge", "POST", "/generate", {"n": 10_001}, None, 422, "less than or equal to 10000", None),
    ("generate-float", "POST", "/generate", {"n": 2.5}, None, 422, "n:", None),
    ("generate-string", "POST", "/generate", {"n": "five"}, None, 422, "n:", None),
    ("generate-task", "POST", "/generate", {"task": "6c"}, None, 422, "task", None),
    ("generate-negative-seed", "POST", "/generate", {"seed": -1}, None, 422, "seed", None),
    ("generate-nan", "POST", "/generate", b'{"n": NaN}', None, 422, "n:", None),
    ("train-no-key", "POST", "/train", {"arch": "lstm"}, NO_KEY, 401, "needs the API key", None),
    ("train-wrong-key", "POST", "/train", {"arch": "lstm"}, WRONG_KEY, 401, "API key is wrong", None),
    ("train-wrong-scheme", "POST", "/train", {"arch": "lstm"}, BAD_BEARER, 401, "needs the API key", None),
    ("train-nan-rate", "POST", "/train", b'{"learning_rate": NaN}', "key", 422, "learning_rate", None),
    ("train-negative-rate", "POST", "/train", {"learning_rate": -0.1}, "key", 422, "learning_rate", None),
    ("train-zero-trials", "POST", "/train", {"trials": 0}, "key", 422, "trials", None),
    ("train-budget-small", "POST", "/train", {"max_sequences": 5}, "key", 422, "max_sequences", None),
    ("train-optimizer", "POST", "/train", {"optimizer": "rmsprop"}, "key", 422, "optimizer", None),
    ("train-unknown-arch", "POST", "/train", {"arch": "transformer"}, "key", 422, "arch", None),
    ("unknown-job", "GET", "/train/0123456789abcdef", None, None, 404, "no training job", None),
    ("cancel-unknown-job", "DELETE", "/train/0123456789abcdef", None, "key", 404, "no training job", None),
    ("cancel-no-key", "DELETE", "/train/0123456789abcdef", None, NO_KEY, 401, "API key", None),
    ("jobs-limit", "GET", "/train?limit=0", None, None, 422, "limit", None),
    ("unknown-model", "GET", "/models/transformer", None, None, 422, "arch", None),
    ("activate-no-key", "POST", "/models/lstm/activate", {"version": 1}, NO_KEY, 401, "API key", None),
    ("activate-missing-version", "POST", "/models/lstm/activate", {"version": 999}, "key", 404, "no version 999", None),
    ("activate-zero", "POST", "/models/lstm/activate", {"version": 0}, "key", 422, "version", None),
    ("unknown-route", "GET", "/predict", None, None, 404, "no route GET /predict", None),
    ("wrong-method", "GET", "/classify", None, None, 405, "GET is not allowed", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "says", "position"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_a_4xx_with_a_useful_message(
    live_server: Any,
    method: str,
    path: str,
    body: Any,
    headers: Any,
    status: int,
    says: str,
    position: int | None,
) -> None:
    sent_headers = live_server.auth if headers == "key" else (headers or {})
    options: dict[str, Any] = {"headers": dict(sent_headers)}
    if isinstance(body, bytes):
        options["content"] = body
        options["headers"]["Content-Type"] = "application/json"
    elif body is not None:
        options["json"] = body
    response = httpx.request(method, live_server.url + path, timeout=30, **options)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error", "message", "details"}
    assert says in error["message"], error
    assert "Traceback" not in response.text
    if position is not None:
        assert any(detail.get("position") == position for detail in error["details"]), error
    if status == 401:
        assert "WWW-Authenticate" in response.headers


def test_there_are_at_least_thirty_kinds_of_bad_input() -> None:
    assert len({case[0] for case in CASES}) >= 30


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(live_server: Any) -> None:
    def body() -> Any:
        yield b'{"sequence": "'
        for _ in range(300):
            yield b"a" * 10_000
        yield b'"}'

    response = httpx.post(
        f"{live_server.url}/classify", content=body(), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
