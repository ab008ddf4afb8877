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
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


RUNS = 6


def test_a_writer_and_a_reader_process_at_once(registry: Registry, db_url: str) -> None:
    """The writer is a child process; this test process is the reader, as the service would be. The writer
    pauses after its first run until the reader has seen it, then writes the rest while the reader reads."""
    writer = _start("write", db_url, str(RUNS))
    assert writer.stdout is not None and writer.stdin is not None
    first = writer.stdout.readline()
    assert first.split() == ["committed", "1", "2"], first + (writer.stderr.read() if writer.stderr else "")
    seen_counts: set[int] = set()
    loads = 0

    def read() -> None:
        nonlocal loads
        versions = registry.versions("lstm")
        seen_counts.add(len(versions))
        if versions:
            loaded = registry.load_model("lstm", versions[0].version)
            loaded.model(torch.zeros(1, 5, 8), torch.tensor([5]))
            loads += 1

    read()
    assert seen_counts == {2}, "the reader sees the first run while the writer waits"
    writer.stdin.write("go on\n")
    writer.stdin.flush()
    while writer.poll() is None:
        read()
    read()
    writer_out, writer_err = writer.communicate(timeout=60)

    assert writer.returncode == 0, writer_err
    assert first.count("committed") + writer_out.count("committed") == RUNS
    assert [v.version for v in registry.versions("lstm")] == list(range(2 * RUNS, 0, -1))
    # Every count the reader saw, before, during and after the writes, was whole runs.
    assert {2, 2 * RUNS} <= seen_counts and loads >= 2
    assert all(count % 2 == 0 for count in seen_counts), seen_counts


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
