"""`bench/ablation_bench.py`'s budgets: without `--budget` each rung trains under its own (the paper network's
rungs 5,000,000, the rest 100,000: what keeps one run of the whole ladder within an hour on 2 cores), `--budget`
sets one for every rung, and the JSON says per rung which budget its trials had and whether that is reduced
against the Table 9 run's. The report's "converged within" column cuts every rung at the smallest budget.

Real runs of the script with the cheapest rungs: `lstm1997` taken from paper.json (`--reuse-paper`, no training)
and `adam` at a tiny `--budget`, so the test checks the bookkeeping, not the figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "ablation_bench.py"
sys.path.insert(0, str(ROOT / "bench"))

from paper_report import within_common_budget  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def _ablation(out: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, str(SCRIPT), "--trials", "1", "--workers", "1", "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=500, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def test_each_rung_keeps_its_own_budget_unless_one_is_given(tmp_path: Path) -> None:
    out = tmp_path / "ablation.json"
    figures = _ablation(out, "--rungs", "lstm1997", "--reuse-paper")
    entry = figures["rungs"]["lstm1997"]
    assert entry["budget"] == 5_000_000
    assert figures["runs"][0]["budget"] == {"lstm1997": 5_000_000}
    assert entry["reduced"] and figures["runs"][0]["reduced"], "1 trial of the issue's 10 is a reduced rung"

    figures = _ablation(out, "--rungs", "adam", "--budget", "300", "--merge")
    adam = figures["rungs"]["adam"]
    assert adam["budget"] == 300 and adam["trials"][0]["budget"] == 300
    assert adam["trials"][0]["sequences_seen"] <= 300
    assert figures["rungs"]["lstm1997"]["budget"] == 5_000_000, "--merge dropped the other rung"


def test_the_common_budget_column_cuts_every_rung_at_the_smallest_budget() -> None:
    runs = [{"budget": 100_000, "trials": 3}]
    rows = [
        {"converged": True, "sequences_to_criterion": 40_000},
        {"converged": True, "sequences_to_criterion": 250_000},  # met, but only beyond the common budget
        {"converged": False, "sequences_to_criterion": None},
    ]
    long_rung = {"budget": 5_000_000, "run": 0, "trials": rows}
    assert within_common_budget(long_rung, runs, 100_000) == "1/3"
    short_rung = {"budget": 50_000, "run": 0, "trials": rows}
    assert within_common_budget(short_rung, runs, 100_000) == "—", "a rung cut below the common budget says nothing"
