"""`python -m training.warm_kernels` (run at image build) must reach every compiled kernel, or a container's first
request or training job compiles one (tens of seconds)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest
from numba.core.registry import CPUDispatcher

import training
from training import warm_kernels

# The architectures whose training or serving runs numba kernels; the others run on torch alone.
ARCHITECTURES_WITH_KERNELS = ("lstm", "lstm1997")


def compiled_kernels() -> dict[str, CPUDispatcher]:
    """Every numba kernel of the training package that Python calls: compiled on its own, not inlined."""
    # Every module imported here, so what is checked does not depend on what other tests in this process imported
    # (a worker of `make test` runs only some of the test files).
    for module in pkgutil.walk_packages(training.__path__, "training."):
        importlib.import_module(module.name)
    found: dict[str, CPUDispatcher] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("training.") and module is not None:
            for attribute, value in vars(module).items():
                if isinstance(value, CPUDispatcher) and value.targetoptions.get("inline", "never") != "always":
                    found[f"{name}.{attribute}"] = value
    # A kernel that other kernels call is compiled into them (and cached with them), not on its own.
    called_by_kernels = {name for kernel in found.values() for name in kernel.py_func.__code__.co_names}
    return {name: kernel for name, kernel in found.items() if name.rsplit(".", 1)[1] not in called_by_kernels}


@pytest.mark.usefixtures("one_thread")
def test_warming_the_kernel_architectures_compiles_every_kernel() -> None:
    for arch in ARCHITECTURES_WITH_KERNELS:
        warm_kernels.warm_architecture(arch)
    kernels = compiled_kernels()
    assert "training.fused_lstm._probabilities_parallel" in kernels and len(kernels) >= 6
    untouched = sorted(name for name, kernel in kernels.items() if not kernel.signatures)
    assert not untouched, f"not compiled by warm_kernels: {untouched}"
