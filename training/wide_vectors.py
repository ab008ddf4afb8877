"""numba kernels that may use the full 512-bit vectors of an AVX-512 CPU.

LLVM tunes its Intel AVX-512 CPU models (skylake-avx512, icelake-server, ...) with `prefer-256-bit`: the
vectoriser stops at 256-bit (ymm) registers even where zmm registers exist, because 512-bit instructions lower
the clock of some Intel parts. numba compiles for the host's model, so without help a fused kernel whose loops
are 64 float32 lanes wide (the LSTM's gates x cells at 16 cells) runs them as eight ymm operations, not four zmm
ones. (LLVM's AMD Zen 4 model has no such preference: there numba's code uses zmm already.)

`njit` here is numba's `njit`, except where the CPU numba compiles for has AVX-512 (the host, or the one that
NUMBA_CPU_NAME / NUMBA_CPU_FEATURES name): there the kernel is compiled through a pipeline that marks its LLVM
function `"prefer-vector-width"="512"`, LLVM's per-function form of clang's `-mprefer-vector-width=512`. Only
that function changes: numba's configuration, its code generator and every other kernel stay as they were, and
on a CPU without AVX-512 this module changes nothing at all.

    NUMBA_CPU_NAME=skylake-avx512 NUMBA_CPU_FEATURES=+avx512f .venv/bin/pytest tests/training/test_wide_vectors.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
from numba.core import codegen, config, lowering
from numba.core.compiler import Compiler, DefaultPassBuilder
from numba.core.compiler_machinery import PassManager, register_pass
from numba.core.typed_passes import NativeLowering

# An LLVM function attribute in its text form, which llvmlite writes into the function's definition as given.
PREFER_512_BIT_VECTORS = '"prefer-vector-width"="512"'


def target_features() -> str:
    """The features numba compiles for: NUMBA_CPU_FEATURES when set, else the host's as LLVM reports them."""
    pinned: str | None = config.CPU_FEATURES  # type: ignore[attr-defined]
    return pinned if pinned is not None else codegen.get_host_cpu_features()


def has_avx512(features: str) -> bool:
    return "+avx512f" in features.split(",")


class _WideLower(lowering.Lower):  # type: ignore[misc]
    def pre_lower(self) -> None:
        super().pre_lower()
        # llvmlite's attribute set admits only the flags it knows by name (set.add skips that check); a key="value"
        # pair is valid LLVM text where those flags go.
        set.add(self.builder.function.attributes, PREFER_512_BIT_VECTORS)


@register_pass(mutates_CFG=True, analysis_only=False)
class _WideNativeLowering(NativeLowering):  # type: ignore[misc]
    _name = "wide_native_lowering"

    @property
    def lowering_class(self) -> type[lowering.Lower]:
        return _WideLower


class WideVectorCompiler(Compiler):  # type: ignore[misc]
    """numba's nopython pipeline, with the lowering above in place of its own."""

    def define_pipelines(self) -> list[PassManager]:
        pipeline = DefaultPassBuilder.define_nopython_pipeline(self.state)
        lowering_passes = [
            index for index, (pass_class, _) in enumerate(pipeline.passes) if pass_class is NativeLowering
        ]
        if len(lowering_passes) != 1:
            raise RuntimeError(f"numba's nopython pipeline has {len(lowering_passes)} lowering passes, not one")
        pipeline.passes[lowering_passes[0]] = (_WideNativeLowering, "native lowering, 512-bit vectors preferred")
        pipeline.finalize()
        return [pipeline]


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """numba.njit(**options), with 512-bit vectors preferred where the target CPU has AVX-512."""
    if has_avx512(target_features()):
        options = {**options, "pipeline_class": WideVectorCompiler}
    return numba.njit(**options)  # type: ignore[no-any-return]
