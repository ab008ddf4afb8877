"""The fused training step may use 512-bit vectors on an AVX-512 CPU and changes nothing elsewhere. No AVX-512 code
runs here: each check compiles (or only builds) the kernels for a CPU that numba is told to target, in a
subprocess with a cache of its own, and reads the result."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from training import fused_lstm, wide_vectors

ROOT = Path(fused_lstm.__file__).resolve().parents[1]

# The CPU models below are x86 ones: LLVM knows them only where it targets x86.
pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 CPU models")

# An Intel AVX-512 model: LLVM tunes it to prefer 256-bit vectors, so without wide_vectors its loops use ymm.
SKYLAKE_AVX512 = {"NUMBA_CPU_NAME": "skylake-avx512", "NUMBA_CPU_FEATURES": "+avx512f,+avx512bw,+avx512dq,+avx512vl"}
HASWELL = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}  # AVX2 and FMA, no AVX-512

_INSPECT = """
import json, re, sys
import numba
from numba import types
from numba.core.registry import CPUDispatcher
from training import fused_lstm, lstm1997, wide_vectors

kernel = fused_lstm._train_step_on_parameters
found = {
    "wide": sorted(
        name
        for module in (fused_lstm, lstm1997)
        for name, value in vars(module).items()
        if isinstance(value, CPUDispatcher) and value._compiler.pipeline_class is wide_vectors.WideVectorCompiler
    ),
    "cpu_features": numba.config.CPU_FEATURES,
}
if sys.argv[1] == "compile":
    matrix, vector = types.Array(types.float32, 2, "C"), types.Array(types.float32, 1, "C")
    ids, id_vector = types.Array(types.int64, 2, "C"), types.Array(types.int64, 1, "C")
    kernel.compile((matrix, matrix, matrix, vector, ids, id_vector, id_vector))  # compiled, never run
    lines = kernel.inspect_asm(kernel.signatures[0]).splitlines()
    found |= {register: sum(f"%{register}" in line for line in lines) for register in ("zmm", "ymm")}
print(json.dumps(found))
"""


def inspect(target: dict[str, str], tmp_path: Path, *, compile: bool) -> dict[str, object]:
    environment = {**os.environ, **target, "NUMBA_CACHE_DIR": str(tmp_path)}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), environment.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, "-c", _INSPECT, "compile" if compile else "build"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    assert found["cpu_features"] == target["NUMBA_CPU_FEATURES"]  # numba's own setting, as given: untouched
    return found


def test_the_training_step_uses_512_bit_vectors_on_an_avx512_cpu(tmp_path: Path) -> None:
    # Compiling the training step takes ~25 s of CPU: the assembly of the real kernel is what this checks.
    found = inspect(SKYLAKE_AVX512, tmp_path, compile=True)
    assert found["wide"] == ["_train_step_on_parameters"], found  # that kernel alone; the serving ones as before
    zmm, ymm = found["zmm"], found["ymm"]
    assert isinstance(zmm, int) and isinstance(ymm, int)
    assert zmm > ymm, found  # LLVM's default tuning for this CPU gives no zmm at all


def test_a_cpu_without_avx512_gets_numbas_own_kernel(tmp_path: Path) -> None:
    found = inspect(HASWELL, tmp_path, compile=False)
    assert found["wide"] == [], found  # numba's own pipeline for every kernel


@pytest.mark.parametrize(
    ("features", "wide"),
    [("+avx2,+fma,-avx512f", False), ("+avx2,+avx512f,+avx512vl", True), ("", False), ("+avx512vl", False)],
)
def test_avx512_is_read_from_the_feature_string(features: str, wide: bool) -> None:
    assert wide_vectors.has_avx512(features) is wide
