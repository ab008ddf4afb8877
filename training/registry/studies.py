"""Studies in the registry: a study owns one training run per architecture and task, and keeps each trial it
recorded under the trial's identity, so a trial is recorded at most once however often it ran.

    python -c "from training.registry import Registry; from training.registry.studies import Studies; \
print(Studies(Registry()).all())"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from training.checkpoint import to_checkpoint
from training.protocol import TrialRecord
from training.registry.orm import ModelVersion, Study, StudyTrial, TrainingRun, utcnow
from training.registry.records import RegistryError
from training.registry.store import VERSION_RACE_RETRIES, Registry, new_run


class StudyNotFound(RegistryError):
    pass


class StudyMismatch(RegistryError):
    """A study of that name exists with another grid: resuming it would mix two different studies."""


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    kind: str
    grid: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class StudyTrialInfo:
    """One recorded trial of a study, as the study's summaries read it."""

    arch: str
    length: int
    seed: int
    version: int
    converged: bool
    sequences_seen: int
    sequences_to_criterion: int | None
    wall_seconds: float
    wrong_paper: int
    wrong_argmax: int
    n_test: int


def _study_info(row: Study) -> StudyInfo:
    return StudyInfo(id=row.id, name=row.name, kind=row.kind, grid=dict(row.grid), created_at=row.created_at)


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [
        f"{key}: recorded {stored.get(key)!r}, asked {wanted.get(key)!r}"
        for key in keys
        if stored.get(key) != wanted.get(key)
    ]


class Studies:
    """The study tables of one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def open(self, name: str, kind: str, grid: dict[str, Any]) -> StudyInfo:
        """The study `name`, created with `grid` if new; a study recorded with another grid is refused."""
        with self.registry.transaction() as session:
            row = session.scalar(select(Study).where(Study.name == name))
            if row is None:
                row = Study(name=name, kind=kind, grid=dict(grid), created_at=utcnow())
                session.add(row)
                session.flush()
            elif row.kind != kind or dict(row.grid) != grid:
                differences = _differences({"kind": row.kind, **row.grid}, {"kind": kind, **grid})
                raise StudyMismatch(
                    f"study {name!r} was recorded with another grid ({'; '.join(differences)}): "
                    "rerun it with the same options to resume it, or give a new --name"
                )
            return _study_info(row)

    def get(self, name: str) -> StudyInfo:
        with self.registry.session() as session:
            row = session.scalar(select(Study).where(Study.name == name))
            if row is None:
                raise StudyNotFound(f"no study named {name!r} in the registry")
            return _study_info(row)

    def all(self) -> list[StudyInfo]:
        with self.registry.session() as session:
            return [_study_info(row) for row in session.scalars(select(Study).order_by(Study.id))]

    def recorded_counts(self) -> dict[int, int]:
        """How many trials each study has recorded, by study id (a study with none is absent)."""
        statement = select(StudyTrial.study_id, func.count(StudyTrial.id)).group_by(StudyTrial.study_id)
        with self.registry.session() as session:
            return {study_id: count for study_id, count in session.execute(statement)}

    def recorded_keys(self, study_id: int) -> set[str]:
        with self.registry.session() as session:
            return set(session.scalars(select(StudyTrial.trial_key).where(StudyTrial.study_id == study_id)))

    def record_trial(self, study_id: int, key: str, length: int, record: TrialRecord) -> int | None:
        """Record one finished trial under its identity `key`, in one transaction with its model version; the
        version number, or None when the study already holds that trial (nothing is written then)."""
        trial = record.trial
        arch, task = trial.model_config.arch, trial.task
        checkpoint = to_checkpoint(trial.model)  # CPU work before the write lock, as store.py does
        for attempt in range(VERSION_RACE_RETRIES):
            try:
                with self.registry.transaction() as session:
                    taken = select(StudyTrial.id).where(StudyTrial.study_id == study_id, StudyTrial.trial_key == key)
                    if session.scalar(taken) is not None:
                        return None
                    run = session.scalar(
                        select(TrainingRun).where(
                            TrainingRun.study_id == study_id, TrainingRun.arch == arch, TrainingRun.task == task.name
                        )
                    )
                    if run is None:
                        run = new_run(arch, task, record, job_id=None)
                        run.study_id = study_id
                        session.add(run)
                        session.flush()
                    row = self.registry.append_version(session, run, len(run.versions), record, checkpoint)
                    session.add(StudyTrial(study_id=study_id, trial_key=key, length=length, version_id=row.id))
                    session.flush()
                    run_id, version = run.id, row.version
                break
            except IntegrityError:
                if attempt == VERSION_RACE_RETRIES - 1:
                    raise
        # The run's trial count from every trial it now holds; never activated: a
        # study measures, it does not choose what is served.
        self.registry.finish_run(run_id, activate=False)
        return version

    def trials(self, study_id: int) -> list[StudyTrialInfo]:
        """Every trial the study recorded, by T, then architecture, then seed."""
        statement = (
            select(StudyTrial.length, ModelVersion)
            .join(ModelVersion, ModelVersion.id == StudyTrial.version_id)
            .where(StudyTrial.study_id == study_id)
            .order_by(StudyTrial.length, ModelVersion.arch, ModelVersion.seed)
        )
        with self.registry.session() as session:
            return [
                StudyTrialInfo(
                    arch=row.arch,
                    length=length,
                    seed=row.seed,
                    version=row.version,
                    converged=row.converged,
                    sequences_seen=row.sequences_seen,
                    sequences_to_criterion=row.sequences_to_criterion,
                    wall_seconds=row.wall_seconds,
                    wrong_paper=row.wrong_paper,
                    wrong_argmax=row.wrong_argmax,
                    n_test=row.n_test,
                )
                for length, row in session.execute(statement)
            ]
