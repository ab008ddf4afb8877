"""Every benchmark figure names the machine it came from: results differ between CPUs (AVX2 and AVX-512 above all),
so each bench/results/*.json carries bench/machine.py's block with the CPU's flags, and every script that writes
one builds that block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "bench" / "results").glob("*.json"))
# The scripts that write bench/results/*.json (they name the folder): the benches, and deploy/'s image check.
WRITERS = sorted(
    path
    for path in [*(ROOT / "bench").glob("*.py"), *(ROOT / "deploy").glob("*.py")]
    if '"bench" / "results"' in path.read_text()
)


def test_there_are_results_and_writers_to_check() -> None:
    assert RESULTS and len(WRITERS) >= 4, "the checks below would be (nearly) empty"


@pytest.mark.parametrize("path", RESULTS, ids=lambda path: path.name)
def test_a_result_names_its_cpu_and_flags(path: Path) -> None:
    machine = json.loads(path.read_text()).get("machine")
    assert isinstance(machine, dict), f"{path.name}: no machine block"
    assert machine.get("cpu_model"), f"{path.name}: no CPU model"
    flags = machine.get("cpu_flags")
    assert isinstance(flags, list), f"{path.name}: no CPU flags"
    for flag in ("avx2", "avx512f"):
        assert machine.get(flag) is (flag in flags), f"{path.name}: '{flag}' missing or disagreeing with cpu_flags"


@pytest.mark.parametrize("path", WRITERS, ids=lambda path: path.name)
def test_a_script_writing_results_records_the_machine(path: Path) -> None:
    assert "describe_machine()" in path.read_text(), f"{path.relative_to(ROOT)} writes results without its machine"
