"""`temporal-order bootstrap` and `temporal-order serve` as a user runs them, on a registry under the test's folder;
`serve` is the installed console script in its own process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service.cli import build_app
from tests.support.registry import make_registry
from tests.support.server import server_environment, wait_until_ready
from training.architectures import ARCHITECTURES
from training.cli.commands import QUICK_ARCHITECTURES
from training.registry import Registry
from training.settings import get_settings

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("temporal-order"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bootstrap_leaves_out_only_the_slow_paper_network() -> None:
    # `make run` trains QUICK_ARCHITECTURES before serving; a new architecture must be placed on purpose.
    assert set(ARCHITECTURES) - set(QUICK_ARCHITECTURES) == {"lstm1997"}
    assert set(QUICK_ARCHITECTURES) <= set(ARCHITECTURES)


def test_bootstrap_refuses_an_unknown_architecture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", f"sqlite:///{tmp_path / 'bootstrap.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(build_app(), ["bootstrap", "--arch", "transformer"])
        assert result.exit_code == 2
        assert "unknown architecture 'transformer'; known: rnn, lstm" in result.stderr
    finally:
        get_settings.cache_clear()


def test_bootstrap_trains_what_is_missing_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (training needs no server; it saves an interpreter start): `make run`'s first step."""
    url = f"sqlite:///{tmp_path / 'bootstrap.db'}"
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(build_app(), ["bootstrap", "--max-sequences", "32"])
        assert first.exit_code == 0, first.output
        assert f"training a default checkpoint for: {', '.join(QUICK_ARCHITECTURES)}" in first.stderr
        assert "not trained by default: lstm1997 (`bootstrap --arch all`, or `train`)" in first.stderr
        registry = Registry(url)
        try:
            for arch in QUICK_ARCHITECTURES:
                active = registry.active_version(arch)
                assert active is not None and active.version == 1, arch
                assert f"{arch}: version 1 active (converged=False, wrong {active.wrong_argmax}/" in first.stderr
            assert registry.active_version("lstm1997") is None
        finally:
            registry.close()
        again = CliRunner().invoke(build_app(), ["bootstrap", "--max-sequences", "32"])
        assert again.exit_code == 0, again.output
        assert "nothing to train" in again.stderr
    finally:
        get_settings.cache_clear()


def test_serve_answers_and_shuts_down_cleanly(tmp_path: Path) -> None:
    url = make_registry(tmp_path / "serve.db", arches=("lstm",))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CONSOLE_SCRIPT, "serve", "--port", str(port), "--log-level", "warning"],
            env=server_environment(url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(base, process, log_path)
        answer = httpx.post(f"{base}/classify", json={"sequence": "EabXcdYaaYB", "arch": "lstm"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == 1 and answer.json()["rule_label"] == "XYY"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    output = log_path.read_text(errors="replace")
    # uvicorn shuts down gracefully, then re-raises the signal it caught (recent versions): either exit is clean.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output
