"""`bench/heldout_bench.py --resume`: a long held-out run that was stopped goes on where it stopped. It keeps every
row already in the file (untouched, still naming its run), runs only the planned seeds that lack one, and when
none lacks one it trains nothing and leaves the file exactly as it was (no record of a run that ran nothing).

A real run of the script on the smallest architecture (`attn_rnn_seed`, 81 parameters) with a tiny budget: the
rows' figures do not matter here, only which seeds ran and what the file keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "heldout_bench.py"

pytestmark = pytest.mark.timeout(600)


def _heldout(out: Path, *extra: str) -> str:
    command = [sys.executable, str(SCRIPT), "--arches", "attn_rnn_seed", "--seed", "1000", "--budget", "64"]
    command += ["--workers", "1", "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=500, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_resume_runs_only_the_missing_seeds_and_nothing_when_none_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "heldout.json"
    _heldout(out, "--trials", "1")
    first = json.loads(out.read_text())
    [kept] = first["arches"]["attn_rnn_seed"]["trials"]
    assert kept["seed"] == 1000 and kept["run"] == 0

    printed = _heldout(out, "--trials", "2", "--resume")
    assert "1 rows kept, 1 trials to run" in printed
    second = json.loads(out.read_text())
    rows = second["arches"]["attn_rnn_seed"]["trials"]
    assert [row["seed"] for row in rows] == [1000, 1001]
    assert rows[0] == kept, "a kept row was changed"
    assert rows[1]["run"] == 1 and len(second["runs"]) == 2

    before = out.read_bytes()
    printed = _heldout(out, "--trials", "2", "--resume")
    assert "nothing to run" in printed
    assert out.read_bytes() == before, "a resume with nothing to run changed the file"
