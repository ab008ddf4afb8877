"""What a recorded study holds, read one way for every reader: its progress (trials planned by its grid, trials
recorded) and its figures per architecture and T (`study_points`). The report, `temporal-order study lags` and
the service's GET /studies read them here, so they can never show different figures.

    python -c "from training.registry import Registry; from training.study.overview import overviews; \
print(overviews(Registry()))"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from training.registry import Registry
from training.registry.studies import Studies, StudyInfo
from training.study.stats import PointSummary, summarize_study

# A study's name: what `--name` accepts and what the service's /studies/{name} matches.
STUDY_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


@dataclass(frozen=True)
class StudyOverview:
    study: StudyInfo
    planned: int  # trials the grid asks for: every architecture at every T, `trials` seeds each
    recorded: int  # trials the registry holds


def planned_trials(grid: Mapping[str, Any]) -> int:
    """How many trials a stored grid document asks for."""
    return len(grid["lags"]) * len(grid["arches"]) * int(grid["trials"])


def overviews(registry: Registry) -> list[StudyOverview]:
    """Every study, oldest first, with its progress."""
    studies = Studies(registry)
    counts = studies.recorded_counts()
    return [StudyOverview(study, planned_trials(study.grid), counts.get(study.id, 0)) for study in studies.all()]


def overview(registry: Registry, name: str) -> StudyOverview:
    """One study with its progress; `StudyNotFound` when the registry has none of that name."""
    studies = Studies(registry)
    study = studies.get(name)
    return StudyOverview(study, planned_trials(study.grid), studies.recorded_counts().get(study.id, 0))


def study_points(registry: Registry, study: StudyInfo) -> list[PointSummary]:
    """The study's figures, one per architecture and T it has recorded trials of, ordered by T, then
    architecture: sequences to criterion (median, mean, 95% CI), success fraction and wall time per trial."""
    return summarize_study(Studies(registry).trials(study.id))
