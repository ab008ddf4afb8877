"""A wheel install with the `server` extra does what a checkout does: migrate, train, serve; the default
registry is created on first use; a PostgreSQL URL without the `postgres` extra is one line naming it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.server import wait_until_ready

from .conftest import REPO_ROOT, SEQUENCE, Venv, free_port, user_environment

# Installing the server extra (torch first) takes minutes on a loaded two-core machine.
pytestmark = pytest.mark.timeout(1200)
READY_TIMEOUT_S = 120


def test_the_wheel_ships_every_migration(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = "training/registry/migration_scripts"
    assert {f"{packaged}/env.py", f"{packaged}/script.py.mako"} <= names
    migrations = {path.name for path in (REPO_ROOT / "alembic" / "versions").glob("*.py")}
    assert migrations and {f"{packaged}/versions/{name}" for name in migrations} <= names
    assert not any(name.startswith("alembic/") for name in names)  # the library's name stays the library's


def test_the_wheel_ships_no_test_support(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    modules = [name for name in archive.namelist() if name.endswith(".py")]
    assert not [name for name in modules if name.startswith("tests/") or name.endswith("/testing.py")]
    test_import = re.compile(rb"^\s*(from|import)\s+(tests|service\.testing)\b", re.MULTILINE)
    assert [name for name in modules if test_import.search(archive.read(name))] == []


def test_a_wheel_install_migrates_trains_and_serves(server_venv: Venv, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    settings = {"TEMPORAL_ORDER_DATABASE_URL": url, "TEMPORAL_ORDER_DEVICE": "cpu"}

    upgraded = server_venv.run(server_venv.script, "db", "upgrade", cwd=tmp_path, env=settings, check=True)
    assert upgraded.stdout.startswith(f"registry {url} at revision ")

    tiny = ["--arch", "rnn", "--trials", "1", "--max-sequences", "64", "--n-test", "16", "--workers", "1"]
    trained = server_venv.run(server_venv.script, "train", *tiny, "--json", cwd=tmp_path, env=settings, check=True)
    assert json.loads(trained.stdout)["versions"] == [1]

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [server_venv.script, "serve", "--port", str(port), "--log-level", "warning"],
            cwd=tmp_path,
            env=user_environment(server_venv, settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base, server, log_path, timeout_s=READY_TIMEOUT_S)
        answer = httpx.post(f"{base}/classify", json={"sequence": SEQUENCE, "arch": "rnn"}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["arch"] == "rnn" and body["model_version"] == 1 and len(body["probabilities"]) == 8
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_the_default_registry_is_created_on_first_use(server_venv: Venv, tmp_path: Path) -> None:
    first = server_venv.run(server_venv.script, "models", "--json", cwd=tmp_path, check=True)
    assert first.stdout.strip() == "[]"
    assert first.stderr.splitlines() == [
        f"created the embedded default registry sqlite:///var/registry.db (schema revision {_head()})"
    ]
    assert (tmp_path / "var" / "registry.db").is_file()


def _head() -> str:
    from training.registry.migrations import head_revisions

    return ", ".join(sorted(head_revisions()))


def test_postgresql_without_the_postgres_extra_is_one_line_naming_it(server_venv: Venv, tmp_path: Path) -> None:
    settings = {"TEMPORAL_ORDER_DATABASE_URL": "postgresql://registry:secret@127.0.0.1:1/registry"}
    assert not server_venv.has_module("psycopg", cwd=tmp_path)
    result = server_venv.run(server_venv.script, "models", cwd=tmp_path, env=settings)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: registry postgresql://registry:***@127.0.0.1:1/registry: its database driver is not "
        "installed (psycopg): pip install 'temporal-order[postgres]'"
    ]
