"""The CLI's client commands: tables for people, --json for scripts, one-line errors and exit status 1."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

import service.client
from service import cli_client

METRICS = {
    "architectures": [
        {
            "arch": "lstm",
            "task": "6b",
            "active_version": 3,
            "run_id": 1,
            "summary": {
                "trials": 10, "converged": 10, "median_sequences_to_criterion": 123456.0,
                "mean_sequences_to_criterion": 130000.0, "mean_wrong_argmax": 0.4, "std_wrong_argmax": 0.5,
                "mean_wrong_paper": 1.2, "std_wrong_paper": 0.9, "n_test": 3000, "mean_test_accuracy": 0.9998,
            },
            "paper": {
                "task": "6b", "sequences_to_criterion": 571100, "wrong_predictions": 2.0, "n_test": 2560,
                "note": "LSTM, 3 memory blocks of size 2; average over 20 trials",
            },
        },
        {"arch": "rnn", "task": None, "active_version": None, "run_id": None, "summary": None, "paper": None},
    ]
}  # fmt: skip


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_client.register(app)
    return app


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch, fakes: Any) -> Any:
    """Route the CLI's SDK client to an in-process fake that answers each endpoint."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/classify":
            body = json.loads(request.content)
            if "Z" in body["sequence"]:
                error = fakes.error_body("invalid_sequence", "unknown symbol 'Z' at position 3", hint="use EabcdXYB")
                return httpx.Response(422, json=error)  # what the real service answers (tests/service/test_errors.py)
            result = fakes.classify_body("XYY")
            if body.get("explain"):
                result["attribution"] = [0.0, 0.1, 0.9, 0.0, 0.05]
                result["attribution_method"] = "gradient_x_input"
            return httpx.Response(200, json=result)
        if path == "/train":
            job = fakes.job_body("job-7", "running", sequences=4200)
            return httpx.Response(200, json={"jobs": [job]})
        if path == "/metrics":
            return httpx.Response(200, json=METRICS)
        return httpx.Response(404, json=fakes.error_body("not_found", f"no route {path}"))

    handler = fakes.Recorder(answer)
    real = service.client.Client

    def client(url: str | None = None, **kwargs: Any) -> service.client.Client:
        return real(url or "http://testserver", transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr(service.client, "Client", client)
    return handler


def run(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "160", "NO_COLOR": "1"})


def test_classify_prints_the_label_and_probability_table(app: typer.Typer, fake_server: Any) -> None:
    result = run(app, "classify", "EaXbYcdYB", "--arch", "lstm")
    assert result.exit_code == 0, result.output
    assert "XYY" in result.stdout
    assert "lstm v1" in result.stdout
    assert "0.9300" in result.stdout
    assert json.loads(fake_server.requests[0].content) == {"sequence": "EaXbYcdYB", "arch": "lstm"}


def test_classify_explain_lists_the_deciding_positions(app: typer.Typer, fake_server: Any) -> None:
    result = run(app, "classify", "EaXbB", "--explain")
    assert result.exit_code == 0, result.output
    assert "gradient_x_input" in result.stdout
    assert "+0.9000" in result.stdout


def test_classify_json_is_the_schema_body(app: typer.Typer, fake_server: Any) -> None:
    result = run(app, "classify", "EaXbYcdYB", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] == "XYY"


def test_a_server_error_is_one_line_and_exit_status_1(app: typer.Typer, fake_server: Any) -> None:
    result = run(app, "classify", "EaZbB")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "422" in lines[0]
    assert "unknown symbol 'Z' at position 3" in lines[0]
    assert "Traceback" not in result.output


def test_jobs_table_and_json(app: typer.Typer, fake_server: Any) -> None:
    table = run(app, "jobs")
    assert table.exit_code == 0, table.output
    assert "job-7" in table.stdout
    assert "running" in table.stdout
    assert "4,200/1,000" in table.stdout
    as_json = run(app, "jobs", "--json")
    assert json.loads(as_json.stdout)["jobs"][0]["id"] == "job-7"


def test_metrics_table_shows_the_paper_beside_the_models(app: typer.Typer, fake_server: Any) -> None:
    table = run(app, "metrics")
    assert table.exit_code == 0, table.output
    assert "10/10" in table.stdout
    assert "123,456" in table.stdout
    assert "571,100" in table.stdout
    assert "no trained model" in table.stdout
    as_json = run(app, "metrics", "--json")
    assert json.loads(as_json.stdout) == METRICS


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("command", ["classify", "jobs", "metrics"])
def test_an_unreachable_server_is_one_line_and_exit_status_1(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(service.client._base, "INITIAL_RETRY_DELAY", 0.01)
    args = [command, "EabB"] if command == "classify" else [command]
    result = run(app, *args, "--url", closed_port_url())
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: could not connect to http://127.0.0.1:")
    assert "Traceback" not in result.output


def test_a_malformed_url_is_one_line_and_exit_status_1(app: typer.Typer) -> None:
    result = run(app, "jobs", "--url", "localhost:8000")
    assert result.exit_code == 1
    assert "http://" in result.stderr
