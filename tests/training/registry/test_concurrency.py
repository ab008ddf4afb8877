"""Real processes against one SQLite file: a writer and a reader at once, and a writer killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
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
    """The writer is a child process; this test process is the reader, as the service would be."""
    writer = _start("write", db_url, "1.5")  # seconds of back-to-back writes
    seen_counts: set[int] = set()
    loads = 0
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        finished = writer.poll() is not None
        versions = registry.versions("lstm")
        seen_counts.add(len(versions))
        if versions:
            loaded = registry.load_model("lstm", versions[0].version)
            loaded.model(torch.zeros(1, 5, 8), torch.tensor([5]))
            loads += 1
        if finished:
            break
        time.sleep(0.02)  # leave the writer CPU to start and write: a test machine may have two cores
    writer_out, writer_err = writer.communicate(timeout=30)

    assert writer.returncode == 0, writer_err
    runs = writer_out.count("committed")
    assert runs >= 3
    assert [v.version for v in registry.versions("lstm")] == list(range(2 * runs, 0, -1))
    # The reader saw the registry grow while the writer wrote, and every count it saw was whole runs.
    assert len(seen_counts - {0, 2 * runs}) >= 1 and loads >= 1
    assert all(count % 2 == 0 for count in seen_counts)


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
