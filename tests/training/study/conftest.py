"""Support for the study tests (the registry fixtures are tests/training/conftest.py's): a grid small enough to train in
seconds (T=20 and 24, a few hundred sequences per trial)."""

from __future__ import annotations

from training.study.grid import StudyGrid


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
