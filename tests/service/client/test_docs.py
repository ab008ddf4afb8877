"""docs/sdk.md works exactly as written: every Python block and every CLI line, run against a real uvicorn
serving a copy of the live server's registry (so the training example changes nothing shared)."""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from service import cli_client
from service import client as sdk

DOC = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


@pytest.fixture
def doc_server(live_server: Any, server_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    source = sqlite3.connect(live_server.database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(tmp_path / "registry.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    server = server_factory(f"sqlite:///{tmp_path / 'registry.db'}", warmup=False)
    monkeypatch.setenv(sdk.ENV_URL, server.url)
    monkeypatch.setenv(sdk.ENV_API_KEY, server.api_key)
    return server


def test_the_doc_has_examples() -> None:
    assert len(blocks("python")) >= 5
    assert any("temporal-order jobs" in block for block in blocks("bash"))


def test_every_example_runs(doc_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # One test for both kinds, so that the (slow) server start is paid once.
    for index, code in enumerate(blocks("python")):
        exec(compile(code, f"{DOC.name}[python block {index}]", "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    assert "most relevant positions" in out
    assert "started" in out
    assert "succeeded" in out
    assert "correct" in out
    assert "422" in out

    app = typer.Typer()
    cli_client.register(app)
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("temporal-order ")]
    assert len(lines) >= 5
    for line in lines:
        args = shlex.split(line)[1:]
        if "--url" in args:  # the doc's URL is the default port; this server listens elsewhere
            args[args.index("--url") + 1] = doc_server.url
        result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
        assert result.exit_code == 0, f"{line}\n{result.output}"
        assert result.stdout.strip()
