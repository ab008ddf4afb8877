"""`pip install temporal-order` (no extra) is the client: the SDK and the client commands, none of the server's
heavy dependencies, and a live service driven from it; the server commands say which extra to install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.server import LiveServer

from .conftest import SEQUENCE, Venv

pytestmark = pytest.mark.timeout(900)
SERVER_ONLY = ("torch", "numpy", "numba", "fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings")


def test_the_client_install_has_none_of_the_servers_dependencies(client_venv: Venv, tmp_path: Path) -> None:
    present = [name for name in SERVER_ONLY if client_venv.has_module(name, cwd=tmp_path)]
    assert present == []
    for name in ("httpx", "pydantic", "service.client", "service.schemas", "service.cli"):
        assert client_venv.has_module(name, cwd=tmp_path), name


def test_the_sdk_of_a_client_install_drives_a_live_service(
    client_venv: Venv, project_server: LiveServer, tmp_path: Path
) -> None:
    script = (
        "import json, sys\n"
        "from service.client import Client\n"
        "with Client(sys.argv[1]) as client:\n"
        "    result = client.classify(sys.argv[2], arch='rnn')\n"
        "    heavy = [m for m in ('torch', 'fastapi', 'sqlalchemy') if m in sys.modules]\n"
        "    print(json.dumps({'arch': result.arch, 'label': result.label, 'rule': result.rule_label,\n"
        "                      'total': sum(result.probabilities.values()), 'server_modules': heavy}))\n"
    )
    result = client_venv.run(client_venv.python, "-c", script, project_server.url, SEQUENCE, cwd=tmp_path, check=True)
    answer = json.loads(result.stdout)
    assert answer["arch"] == "rnn" and answer["server_modules"] == []
    assert answer["rule"] is not None and answer["total"] == pytest.approx(1.0, abs=1e-4)


def test_the_client_commands_of_a_client_install_drive_a_live_service(
    client_venv: Venv, project_server: LiveServer, tmp_path: Path
) -> None:
    url = ("--url", project_server.url)
    classified = client_venv.run(
        client_venv.script, "classify", SEQUENCE, "--arch", "rnn", "--json", *url, cwd=tmp_path, check=True
    )
    assert json.loads(classified.stdout)["arch"] == "rnn"
    metrics = client_venv.run(client_venv.script, "metrics", "--json", *url, cwd=tmp_path, check=True)
    by_arch = {entry["arch"]: entry for entry in json.loads(metrics.stdout)["architectures"]}
    assert by_arch["rnn"]["active_version"] == 1
    jobs = client_venv.run(client_venv.script, "jobs", "--json", *url, cwd=tmp_path, check=True)
    assert json.loads(jobs.stdout)["jobs"] == []


@pytest.mark.parametrize("command", [["train", "--arch", "lstm"], ["db", "upgrade"], ["serve", "--port", "0"]])
def test_a_server_command_in_a_client_install_names_the_extra(
    client_venv: Venv, tmp_path: Path, command: list[str]
) -> None:
    result = client_venv.run(client_venv.script, *command, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: `temporal-order {command[0]}` needs the server extra (torch is not installed): "
        "pip install 'temporal-order[server]'"
    ]
