"""Imported once by the fork server that a worker's trainers are forked from (service/worker.py, TRAINER_PRELOAD):
builds numba's CPU typing and target contexts there, so that a forked trainer only loads its cached kernels.

Without it every trainer builds both contexts at its first kernel call, which costs more than a small job's whole
training. Building them compiles nothing, runs no kernel and starts no thread (numba's threading layer starts at a
process's first parallel launch, in the trainer), so a fork of the server stays as clean as a spawn.
"""

from __future__ import annotations

from numba.core.registry import cpu_target

cpu_target.typing_context.refresh()
cpu_target.target_context.refresh()
