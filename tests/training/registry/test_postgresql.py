"""The registry on a real PostgreSQL (a throwaway server on a loopback port) through a plain `postgresql://` URL:
refused until migrated, `db upgrade`, runs recorded and listed, activation; the checkpoint loads back intact."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
from training.registry import Registry
from training.registry.migrations import head_revisions
from training.settings import get_settings
from training.task import get_task

from .conftest import MakeRecord

runner = CliRunner()


def _postgres_bin() -> Path | None:
    """The server's binaries: on PATH, or Debian's versioned folder (the newest)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return installed[-1].parent if installed else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL cluster (trust auth, loopback only), stopped and deleted afterwards."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server here (Debian: apt-get install postgresql)")
    # PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="temporal-order-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(directory, pwd.getpwnam("postgres").pw_uid, -1)
    data, port = directory / "data", _free_port()
    try:
        subprocess.run(
            [*as_user, bindir / "initdb", "-D", data, "--auth=trust", "-U", "registry", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", directory / "log", "-w", "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://registry@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def test_a_postgresql_registry_through_the_cli(
    postgres_url: str, make_record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ORDER_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    try:
        refused = runner.invoke(app, ["models"])
        assert refused.exit_code == 1 and "is not migrated: run `temporal-order db upgrade`" in refused.output

        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert f"registry {postgres_url} at revision {', '.join(sorted(head_revisions()))}" in upgraded.output

        registry = Registry(postgres_url)
        try:
            assert registry.engine.dialect.driver == "psycopg"
            run = registry.record_run("lstm", get_task("6b"), [make_record(wrong_argmax=1), make_record(seed=1)])
            assert run.version_numbers == [1, 2]
        finally:
            registry.close()

        listed = runner.invoke(app, ["models", "--json"])
        assert listed.exit_code == 0, listed.output
        # stdout alone: an earlier test's in-process `alembic` may have left a logging handler writing to stderr.
        assert [(row["version"], row["active"]) for row in json.loads(listed.stdout)] == [(2, False), (1, True)]
        activated = runner.invoke(app, ["activate", "lstm", "2"])
        assert activated.exit_code == 0 and "lstm version 2 is active" in activated.output

        registry = Registry(postgres_url)
        try:
            loaded = registry.load_model("lstm")
            assert loaded.info.version == 2 and loaded.info.created_at.tzinfo is not None
        finally:
            registry.close()
    finally:
        get_settings.cache_clear()
