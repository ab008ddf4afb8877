"""Run a study: plan its grid, skip the trials the registry already holds, run the rest on the local process
pool or a Ray cluster, and record each one as it arrives.

    temporal-order study lags --lags 100,200 --arch lstm --trials 3 --budget 100000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from training.experiment import run_trials
from training.protocol import TrialRecord
from training.registry import Registry
from training.registry.studies import Studies, StudyInfo
from training.study.grid import StudyGrid, StudyTrial, plan_study
from training.trial import TrialSpec

LAG_STUDY = "lags"
OnRecorded = Callable[[StudyTrial, TrialRecord, int | None], None]


@dataclass(frozen=True)
class StudyRun:
    study: StudyInfo
    planned: int
    skipped: int  # recorded by an earlier run of the same study
    recorded: int  # by this run


def grid_document(grid: StudyGrid) -> dict[str, object]:
    """The grid as the registry stores it (lists, not tuples, so a stored grid compares equal)."""
    document = asdict(grid)
    document["lags"] = list(grid.lags)
    document["arches"] = list(grid.arches)
    return document


def run_study(
    registry: Registry,
    grid: StudyGrid,
    *,
    name: str = LAG_STUDY,
    workers: int = 1,
    ray_address: str | None = None,
    on_recorded: OnRecorded | None = None,
) -> StudyRun:
    """Run every trial of `grid` the study `name` has not recorded yet; rerunning an interrupted study resumes it."""
    studies = Studies(registry)
    study = studies.open(name, LAG_STUDY, grid_document(grid))
    planned = plan_study(grid)
    recorded = studies.recorded_keys(study.id)
    todo = [trial for trial in planned if trial.key not in recorded]
    # Specs hold dicts, so they are not hashable: find a spec's trial by what identifies it within the grid.
    by_spec = {(t.spec.arch, t.length, t.spec.seed): t for t in todo}
    count = [0]

    def record(spec: TrialSpec, result: TrialRecord) -> None:
        trial = by_spec[(spec.arch, int(spec.task["min_length"]), spec.seed)]
        version = studies.record_trial(study.id, trial.key, trial.length, result)
        count[0] += version is not None
        if on_recorded is not None:
            on_recorded(trial, result, version)

    specs = [trial.spec for trial in todo]
    if specs:
        run_trials(specs, workers=workers, ray_address=ray_address, on_trial=record)
    return StudyRun(study=study, planned=len(planned), skipped=len(planned) - len(todo), recorded=count[0])
