"""Real processes against one SQLite file: a writer and a reader at once, and a writer killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from training.registry import Registry

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("registry_worker.py")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_and_a_reader_process_at_once(registry: Registry, db_url: str) -> None:
    runs = 8  # two versions each
    writer = _start("write", db_url, str(runs))
    reader = _start("read", db_url, str(2 * runs))
    writer_out, writer_err = writer.communicate(timeout=150)
    reader_out, reader_err = reader.communicate(timeout=150)

    assert writer.returncode == 0, writer_err
    assert reader.returncode == 0, reader_err
    assert writer_out.count("committed") == runs
    assert "loaded" in reader_out
    assert [v.version for v in registry.versions("lstm")] == list(range(2 * runs, 0, -1))


def test_a_writer_killed_mid_write_leaves_a_sound_database(registry: Registry, db_url: str) -> None:
    writer = _start("write-forever", db_url, "256")  # ~1 MB checkpoints: writes take long enough to hit
    committed: list[int] = []
    assert writer.stdout is not None
    deadline = time.monotonic() + 120
    while len(committed) < 6 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        committed += [int(v) for v in line.split()[1:]]
    assert len(committed) >= 6, writer.stderr.read() if writer.stderr else ""
    time.sleep(0.05)  # into the next run's serialisation or commit
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    with registry.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    versions = sorted(v.version for v in registry.versions("lstm"))
    assert set(committed) <= set(versions)
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) % 2 == 0, "a run is all of its trials or none of them"
    for version in versions:
        assert registry.load_model("lstm", version).info.version == version
