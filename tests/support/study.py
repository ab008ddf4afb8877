"""Studies for tests: a grid small enough to train in seconds (T = 20 and 24, `rnn`, 2 trials of 100 sequences,
20 test sequences each), and a registry holding it recorded for real.

record_tiny_study(registry)        # the study 'tiny', 4 trials, as `temporal-order study lags` records them
"""

from __future__ import annotations

from training.registry import Registry
from training.study.grid import StudyGrid
from training.study.runner import StudyRun, run_study


def tiny_grid(**changes: object) -> StudyGrid:
    settings: dict[str, object] = {
        "lags": (20, 24),
        "arches": ("rnn",),
        "trials": 2,
        "budget": 100,
        "n_test": 20,
    }
    settings.update(changes)
    return StudyGrid(**settings)  # type: ignore[arg-type]


def record_tiny_study(registry: Registry, name: str = "tiny", **changes: object) -> StudyRun:
    """Train and record the tiny grid (with `changes`) as the study `name`, in this process."""
    return run_study(registry, tiny_grid(**changes), name=name)
