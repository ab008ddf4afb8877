"""The OpenAPI document against the service's real answers: every request below goes to a real uvicorn, and
each answer's status must be documented for its operation and its body must match the documented schema; every
documented error status is provoked by some request; every request-body example is accepted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest

from service.openapi import REQUEST_EXAMPLES, RESPONSE_EXAMPLES
from tests.support.registry import record_untrained
from tests.support.server import LiveServer
from tests.support.study import record_tiny_study
from training.registry import Registry

BAD_SEQUENCE = "EabZcdXB"

# Documented 503s that only a starting service or a failing registry gives: no request here can provoke them.
UNPROVOKED = {
    ("POST", "/train", 503),
    ("GET", "/train", 503),
    ("GET", "/train/{job_id}", 503),
    ("DELETE", "/train/{job_id}", 503),
    ("GET", "/metrics", 503),
    ("GET", "/models", 503),
    ("GET", "/models/{arch}", 503),
    ("POST", "/models/{arch}/activate", 503),
    ("POST", "/models/{arch}/rollback", 503),
    ("GET", "/models/{arch}/versions/{version}/curve", 503),
    ("GET", "/studies", 503),
    ("GET", "/studies/{name}", 503),
    ("GET", "/readyz", 503),  # needs a service with no ready architecture at all
    ("GET", "/v2/health/ready", 400),  # the same
    # Needs a version whose checkpoint fails to load: tests/faults/test_hostile_input.py provokes it.
    ("POST", "/models/{arch}/activate", 409),
}


@dataclass
class Exchange:
    method: str
    template: str
    status: int
    response: httpx.Response = field(repr=False)


@pytest.fixture(scope="module")
def document(server: LiveServer) -> dict[str, Any]:
    return httpx.get(f"{server.url}/openapi.json", timeout=30).json()  # type: ignore[no-any-return]


def documented_statuses(document: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {
        (method.upper(), path, int(status))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
        if status.isdigit()
    }


def exchanges(server: LiveServer) -> list[Exchange]:
    """Requests that provoke every answer the document promises."""
    key = server.auth
    done: list[Exchange] = []
    with httpx.Client(base_url=server.url, timeout=60) as http:

        def send(template: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = http.request(method, path, **kwargs)
            done.append(Exchange(method, template, response.status_code, response))
            return response

        sequence = send("/generate", "POST", "/generate", json={"n": 1, "seed": 3}).json()["sequences"][0]["sequence"]
        too_big = {"sequences": ["E" + "a" * 100 + "B"] * 60}
        for template in ("/classify", "/classify/batch", "/generate", "/train", "/models/{arch}/activate"):
            path = template.replace("{arch}", "lstm")
            send(template, "POST", path, content=b"{not json", headers={"content-type": "application/json", **key})
            send(template, "POST", path, json=too_big, headers=key)
            send(template, "POST", path, content=b"{}", headers={"content-type": "text/plain", **key})
        send("/classify", "POST", "/classify", json={"sequence": sequence, "explain": True})
        send("/classify", "POST", "/classify", json={"sequence": BAD_SEQUENCE})
        send("/classify", "POST", "/classify", json={"sequence": sequence, "arch": "attn_rnn_seed"})
        send("/classify/batch", "POST", "/classify/batch", json={"sequences": [sequence, sequence]})
        send("/classify/batch", "POST", "/classify/batch", json={"sequences": [sequence, BAD_SEQUENCE]})
        send("/classify/batch", "POST", "/classify/batch", json={"sequences": [sequence], "arch": "attn_rnn_seed"})
        send("/generate", "POST", "/generate", json={"n": 0})
        send("/train", "POST", "/train", json={"arch": "lstm"})
        send("/train", "POST", "/train", json={"arch": "lstm", "trials": 0}, headers=key)
        job = {"arch": "lstm", "trials": 1, "max_sequences": 100, "activate": False}
        job_id = send("/train", "POST", "/train", json=job, headers=key).json()["id"]
        send("/train", "GET", "/train")
        send("/train", "GET", "/train", params={"limit": 0})
        send("/train/{job_id}", "GET", f"/train/{job_id}")
        send("/train/{job_id}", "GET", "/train/no-such-job")
        send("/train/{job_id}", "DELETE", f"/train/{job_id}")
        send("/train/{job_id}", "DELETE", "/train/no-such-job", headers=key)
        first = send("/train/{job_id}", "DELETE", f"/train/{job_id}", headers=key)
        if first.status_code == 200:  # a cancel asked for; once the job has ended, a second cancel is refused
            # A liveness bound: a queued job is cancelled at once, a claimed one by its trainer within seconds.
            deadline = time.monotonic() + 300
            while http.get(f"/train/{job_id}").json()["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, "the cancelled job never ended"
                time.sleep(0.2)
            send("/train/{job_id}", "DELETE", f"/train/{job_id}", headers=key)
        send("/metrics", "GET", "/metrics")
        send("/models", "GET", "/models")
        send("/models/{arch}", "GET", "/models/lstm")
        send("/models/{arch}", "GET", "/models/transformer")
        activate = "/models/{arch}/activate"
        send(activate, "POST", "/models/lstm/activate", json={"version": 1})
        send(activate, "POST", "/models/lstm/activate", json={"version": 1}, headers={"X-API-Key": "wrong" * 4})
        send(activate, "POST", "/models/lstm/activate", json={"version": 1}, headers=key)
        send(activate, "POST", "/models/lstm/activate", json={"version": 99}, headers=key)
        send(activate, "POST", "/models/lstm/activate", json={"version": 0}, headers=key)
        rollback = "/models/{arch}/rollback"
        send(rollback, "POST", "/models/lstm/rollback")
        send(rollback, "POST", "/models/transformer/rollback", headers=key)
        send(rollback, "POST", "/models/lstm/rollback", headers=key)  # served since the start: nothing before it
        registry = Registry(server.database_url)
        try:
            version = record_untrained(registry, "lstm", seed=7, activate=False)
            record_tiny_study(registry, "tiny", lags=(20,), trials=1)
        finally:
            registry.close()
        send(activate, "POST", "/models/lstm/activate", json={"version": version}, headers=key)
        send(rollback, "POST", "/models/lstm/rollback", headers=key)  # back to the version served before
        curve = "/models/{arch}/versions/{version}/curve"
        send(curve, "GET", "/models/lstm/versions/1/curve")
        send(curve, "GET", "/models/lstm/versions/99/curve")
        send(curve, "GET", "/models/lstm/versions/0/curve")
        send("/studies", "GET", "/studies")
        for name in ("tiny", "nope", "a%20b"):  # recorded, unknown (404), not a study name (422)
            send("/studies/{name}", "GET", f"/studies/{name}")
        send("/healthz", "GET", "/healthz")
        send("/readyz", "GET", "/readyz")
        for template in ("/v2", "/v2/health/live", "/v2/health/ready"):
            send(template, "GET", template)
        for model in ("lstm", "transformer"):
            send("/v2/models/{model}", "GET", f"/v2/models/{model}")
        for model in ("lstm", "attn_rnn_seed", "transformer"):
            send("/v2/models/{model}/ready", "GET", f"/v2/models/{model}/ready")
        tensor = {"name": "SEQUENCE", "datatype": "BYTES", "shape": [1], "data": [sequence]}
        infer = "/v2/models/{model}/infer"
        for model, tensors in (
            ("lstm", [tensor]),
            ("lstm", [{**tensor, "data": [BAD_SEQUENCE]}]),
            ("attn_rnn_seed", [tensor]),
            ("transformer", [tensor]),
        ):
            send(infer, "POST", f"/v2/models/{model}/infer", json={"inputs": tensors})
        send(infer, "POST", "/v2/models/lstm/infer", json={"inputs": [{**tensor, "data": ["E" * 5000]}]})
    return done


def response_schema(document: dict[str, Any], exchange: Exchange) -> dict[str, Any]:
    operation = document["paths"][exchange.template][exchange.method.lower()]
    documented = operation["responses"].get(str(exchange.status))
    assert documented is not None, f"{exchange.method} {exchange.template} answered an undocumented {exchange.status}"
    schema = documented["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def test_every_answer_is_documented_and_matches_its_schema(server: LiveServer, document: dict[str, Any]) -> None:
    seen = exchanges(server)
    for exchange in seen:
        schema = response_schema(document, exchange)
        errors = [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(exchange.response.json())]
        assert not errors, f"{exchange.method} {exchange.template} {exchange.status}: {errors[:3]}"
    provoked = {(exchange.method, exchange.template, exchange.status) for exchange in seen}
    assert documented_statuses(document) - provoked == UNPROVOKED


def test_every_request_body_has_an_example_the_service_accepts(server: LiveServer, document: dict[str, Any]) -> None:
    bodies = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            bodies += 1
            example = operation["requestBody"]["content"]["application/json"]["example"]
            target = path.replace("{arch}", "lstm").replace("{model}", "lstm")
            if path == "/train":
                example = {**example, "max_sequences": 100, "activate": False}  # a job that ends at once
            response = httpx.request(method, f"{server.url}{target}", json=example, headers=server.auth, timeout=60)
            assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
    assert bodies == len(REQUEST_EXAMPLES) + 1  # the native API's request models, and v2's infer


def test_the_job_answers_have_examples_that_match_their_schema(document: dict[str, Any]) -> None:
    for (method, path, status), example in RESPONSE_EXAMPLES.items():
        documented = document["paths"][path][method.lower()]["responses"][str(status)]["content"]["application/json"]
        assert documented["example"] == example
        schema = {**documented["schema"], "components": document["components"]}
        errors = [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(example)]
        assert not errors, f"{method} {path} {status}: {errors[:3]}"
    # A client reads from the document when a claimed job's trainer has started.
    field = document["components"]["schemas"]["TrainJobPublic"]["properties"]["trainer_started"]
    assert field["type"] == "boolean" and "first progress" in field["description"]
    assert RESPONSE_EXAMPLES[("GET", "/train/{job_id}", 200)]["trainer_started"] is True


def test_the_api_key_is_a_security_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    guarded = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert guarded == {
        ("POST", "/train"),
        ("DELETE", "/train/{job_id}"),
        ("POST", "/models/{arch}/activate"),
        ("POST", "/models/{arch}/rollback"),
    }
    for method, path in guarded:
        operation = document["paths"][path][method.lower()]
        assert operation["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]  # either one
        assert "401" in operation["responses"]
        names = {parameter["name"].lower() for parameter in operation.get("parameters", [])}
        assert not names & {"x-api-key", "authorization"}  # no loose header parameters any more


def test_every_error_is_documented_as_error_body(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(document)  # FastAPI's {"detail": ...}, which the service never sends
    for path, operations in document["paths"].items():
        if path.startswith("/v2"):  # the inference protocol's own {"error": ...}: test_open_inference_protocol.py
            continue
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45" and (method, path) != ("get", "/readyz"):  # /readyz's 503 is a Readiness
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                    assert response["content"]["application/json"]["example"]["error"]
