"""The registry's repository: record trials, list and activate versions, load checkpoints, track jobs.

    python -c "from training.registry import Registry; print(Registry().versions())"

Every public method opens its own short session, so one `Registry` is safe to share between threads; what
comes back is a frozen snapshot (`VersionInfo`, `RunInfo`, `JobInfo`), never a live ORM row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager

from alembic import command
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from training.checkpoint import Checkpoint, CheckpointError, from_checkpoint, read_config, to_checkpoint
from training.models import config_to_dict, parameter_count
from training.protocol import Summary, TrialOutcome, TrialRecord, best_trial, summarize
from training.registry.activations import ActivationsMixin, set_active
from training.registry.db import file_identity, make_engine, sqlite_file
from training.registry.migrations import alembic_config, current_revisions, head_revisions
from training.registry.orm import ActiveModel, ModelVersion, TrainingRun, utcnow
from training.registry.queue import JobQueueMixin
from training.registry.records import (
    CorruptCheckpoint,
    LoadedModel,
    NoActiveVersion,
    RegistryMissing,
    RunInfo,
    SchemaNotMigrated,
    VersionInfo,
    VersionNotFound,
)
from training.settings import get_settings, resolve_device
from training.task import TaskSpec

logger = logging.getLogger("training.registry")

# Two writers may pick the same next version number; the unique (arch, version) constraint turns that
# into an IntegrityError, and the loser simply tries again with fresh numbers.
VERSION_RACE_RETRIES = 5


class RunNotFound(VersionNotFound):
    """No training run with that id (a `VersionNotFound`, so callers mapping that to 404 catch it too)."""


def _recorded_by(job_id: str | None) -> str:
    """Who activated a run's best trial, as the activation history names it."""
    return "train" if job_id is None else f"job {job_id}"


def _version_info(row: ModelVersion, *, active: bool) -> VersionInfo:
    return VersionInfo(
        arch=row.arch,
        version=row.version,
        active=active,
        task=row.run.task,
        task_spec=dict(row.run.task_spec),
        run_id=row.run_id,
        seed=row.seed,
        converged=row.converged,
        sequences_seen=row.sequences_seen,
        sequences_to_criterion=row.sequences_to_criterion,
        wrong_argmax=row.wrong_argmax,
        wrong_paper=row.wrong_paper,
        n_test=row.n_test,
        parameter_count=row.parameter_count,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        model_config=dict(row.model_config),
        train_config=dict(row.train_config),
        curve=[dict(point) for point in row.curve],
        wall_seconds=row.wall_seconds,
        created_at=row.created_at,
    )


def new_run(arch: str, task: TaskSpec, first: TrialRecord, *, job_id: str | None) -> TrainingRun:
    """A run of `arch` with no trials yet; its first trial supplies the seed and the configuration."""
    return TrainingRun(
        arch=arch,
        task=task.name,
        task_spec=task.to_dict(),
        trials=0,
        seed=first.trial.seed,
        model_config=config_to_dict(first.trial.model_config),
        train_config=first.trial.train_config.to_dict(),
        job_id=job_id,
        wall_seconds=0.0,
        created_at=utcnow(),
    )


def _run_info(row: TrainingRun, version_numbers: list[int]) -> RunInfo:
    return RunInfo(
        id=row.id,
        arch=row.arch,
        task=row.task,
        trials=row.trials,
        seed=row.seed,
        job_id=row.job_id,
        created_at=row.created_at,
        wall_seconds=row.wall_seconds,
        version_numbers=version_numbers,
    )


class Registry(JobQueueMixin, ActivationsMixin):
    """Model versions, training runs and training jobs in one database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str | None = None, *, must_exist: bool = False) -> None:
        """`must_exist`: refuse a SQLite file that is not there, rather than let the first connection create
        an empty one (a job must never train into a fresh, un-migrated file)."""
        self.url = url if url is not None else get_settings().database_url
        self.file = sqlite_file(self.url)
        if must_exist and self.file is not None and not self.file.exists():
            raise RegistryMissing(
                f"the registry file {self.file} does not exist: run `temporal-order db upgrade` to create it"
            )
        # The SQLite file this registry opened, as (device, inode), pinned once it is known to be migrated; from
        # then on no connection creates the file again.
        self._identity: tuple[int, int] | None = None
        self.engine: Engine = make_engine(self.url, may_create=lambda: self._identity is None and not must_exist)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Registry({self.display_url!r})"

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        return ", ".join(sorted(current_revisions(self.engine))) or None

    def ensure_migrated(self) -> None:
        """Raise `SchemaNotMigrated` unless the database is at the migrations' head."""
        current, expected = current_revisions(self.engine), head_revisions()
        if current != expected:
            found = ", ".join(sorted(current)) or "none"
            raise SchemaNotMigrated(
                f"registry {self.display_url} is not migrated: run `temporal-order db upgrade` "
                f"(schema revision {found}, expected {', '.join(sorted(expected))})"
            )
        if self.file is not None and self._identity is None:
            self._identity = file_identity(self.file)

    def problem(self) -> str | None:
        """Why this registry cannot be used right now, in words for a caller, or None when it answers a real
        query and (for SQLite) its file is still the one it migrated, not deleted or replaced since."""
        if self.file is not None and self._identity is not None:
            identity = file_identity(self.file)
            if identity is None:
                return "the registry's database file was deleted while the service ran"
            if identity != self._identity:
                return "the registry's database file was replaced while the service ran"
        try:
            with self._sessions() as session:
                session.execute(select(ActiveModel.arch).limit(1)).all()
        except SQLAlchemyError:
            logger.exception("the registry %s failed a readiness query", self.display_url)
            return "the registry does not answer queries"
        return None

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to `revision` (programmatic `alembic upgrade head`)."""
        with self.engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)

    def downgrade(self, revision: str = "base") -> None:
        with self.engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)

    # -- sessions, for the repositories of further tables in the same database (training/registry/studies.py) --

    def session(self) -> Session:
        """A short read session, to use as a context manager; no row read in it may outlive it."""
        return self._sessions()

    def transaction(self) -> AbstractContextManager[Session]:
        """A session in one transaction: committed when the block ends, rolled back when it raises."""
        return self._sessions.begin()

    def append_version(
        self, session: Session, run: TrainingRun, index: int, record: TrialRecord, checkpoint: Checkpoint
    ) -> ModelVersion:
        """Add trial `index` of `run` as the next version of its architecture, inside `session`'s transaction.
        Two writers may take the same number: the commit then fails with IntegrityError, and the caller retries
        the transaction (up to VERSION_RACE_RETRIES times)."""
        latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.arch == run.arch))
        row = self._version_row(run.arch, (latest or 0) + 1, index, record, checkpoint)
        run.versions.append(row)
        session.flush()
        return row

    # -- writes ---------------------------------------------------------------------------------------

    def record_run(
        self,
        arch: str,
        task: TaskSpec,
        records: Sequence[TrialRecord],
        *,
        activate: bool = True,
        job_id: str | None = None,
    ) -> RunInfo:
        """Store every trial of one run as a new version, all in one transaction; optionally activate the
        best trial."""
        if not records:
            raise ValueError("a run needs at least one trial")
        for record in records:
            if record.trial.model_config.arch != arch:
                raise ValueError(f"trial of {record.trial.model_config.arch!r} recorded under {arch!r}")
        # Serialising is CPU work: do it before the transaction, so the write lock is held only for I/O.
        checkpoints = [to_checkpoint(record.trial.model) for record in records]
        best = best_trial([record.outcome for record in records])
        for attempt in range(VERSION_RACE_RETRIES):
            try:
                with self._sessions.begin() as session:
                    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.arch == arch))
                    run = new_run(arch, task, records[0], job_id=job_id)
                    run.trials = len(records)
                    run.wall_seconds = sum(record.trial.wall_seconds for record in records)
                    for index, (record, checkpoint) in enumerate(zip(records, checkpoints, strict=True)):
                        version = (latest or 0) + 1 + index
                        run.versions.append(self._version_row(arch, version, index, record, checkpoint))
                    session.add(run)
                    session.flush()
                    if activate:
                        set_active(session, arch, run.versions[best].id, by=_recorded_by(job_id))
                    return _run_info(run, [row.version for row in run.versions])
            except IntegrityError:
                if attempt == VERSION_RACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- a run recorded trial by trial (a training job: a later fault never loses an earlier trial) ------

    def start_run(self, arch: str, task: TaskSpec, first: TrialRecord, *, job_id: str | None = None) -> int:
        """Open a run for `arch` (no trials yet); `first` supplies its configuration."""
        with self._sessions.begin() as session:
            run = new_run(arch, task, first, job_id=job_id)
            session.add(run)
            session.flush()
            return run.id

    def add_trial(self, run_id: int, index: int, record: TrialRecord) -> VersionInfo:
        """Store one finished trial of run `run_id` as a new version, in its own transaction."""
        checkpoint = to_checkpoint(record.trial.model)
        for attempt in range(VERSION_RACE_RETRIES):
            try:
                with self._sessions.begin() as session:
                    run = session.get(TrainingRun, run_id)
                    if run is None:
                        raise RunNotFound(f"no training run {run_id} in the registry")
                    if record.trial.model_config.arch != run.arch:
                        raise ValueError(f"trial of {record.trial.model_config.arch!r} recorded under {run.arch!r}")
                    row = self.append_version(session, run, index, record, checkpoint)
                    return _version_info(row, active=False)
            except IntegrityError:
                if attempt == VERSION_RACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def finish_run(self, run_id: int, *, activate: bool) -> RunInfo:
        """Close a run: count the trials recorded, and optionally activate the best of them."""
        with self._sessions.begin() as session:
            run = session.get(TrainingRun, run_id)
            if run is None:
                raise RunNotFound(f"no training run {run_id} in the registry")
            rows = sorted(run.versions, key=lambda row: row.trial_index)
            run.trials = len(rows)
            run.wall_seconds = sum(row.wall_seconds for row in rows)
            if activate and rows:
                best = best_trial([TrialOutcome.of(row, row) for row in rows])
                set_active(session, run.arch, rows[best].id, by=_recorded_by(run.job_id))
            return _run_info(run, sorted(row.version for row in rows))

    def job_versions(self, job_id: str) -> list[VersionInfo]:
        """Every version a training job recorded, oldest first."""
        statement = (
            select(ModelVersion)
            .join(TrainingRun, TrainingRun.id == ModelVersion.run_id)
            .options(joinedload(ModelVersion.run))
            .where(TrainingRun.job_id == job_id)
            .order_by(ModelVersion.id)
        )
        with self._sessions() as session:
            active = self._active_ids(session)
            return [_version_info(row, active=row.id in active) for row in session.scalars(statement)]

    @staticmethod
    def _version_row(arch: str, version: int, index: int, record: TrialRecord, checkpoint: Checkpoint) -> ModelVersion:
        trial, test = record.trial, record.test
        return ModelVersion(
            arch=arch,
            version=version,
            trial_index=index,
            seed=trial.seed,
            converged=trial.converged,
            sequences_seen=trial.sequences_seen,
            sequences_to_criterion=trial.sequences_to_criterion,
            curve=[
                {"sequences": p.sequences, "train_error": p.train_error, "train_accuracy": p.train_accuracy}
                for p in trial.curve
            ],
            wall_seconds=trial.wall_seconds,
            n_test=test.n_test,
            wrong_argmax=test.wrong_argmax,
            wrong_paper=test.wrong_paper,
            parameter_count=parameter_count(trial.model),
            model_config=config_to_dict(trial.model_config),
            train_config=trial.train_config.to_dict(),
            sha256=checkpoint.sha256,
            size_bytes=checkpoint.size_bytes,
            checkpoint=checkpoint.data,
            created_at=utcnow(),
        )

    def activate(self, arch: str, version: int, *, by: str = "activate") -> VersionInfo:
        """Make `arch` version `version` the one the service serves; `by` names who did, in the history."""
        with self._sessions.begin() as session:
            row = self._find(session, arch, version)
            set_active(session, arch, row.id, by=by)
            return _version_info(row, active=True)

    # -- reads ----------------------------------------------------------------------------------------

    @staticmethod
    def _find(session: Session, arch: str, version: int) -> ModelVersion:
        row = session.scalar(
            select(ModelVersion)
            .options(joinedload(ModelVersion.run))
            .where(ModelVersion.arch == arch, ModelVersion.version == version)
        )
        if row is None:
            raise VersionNotFound(f"no version {version} of {arch!r} in the registry")
        return row

    @staticmethod
    def _active_ids(session: Session) -> set[int]:
        return set(session.scalars(select(ActiveModel.version_id)))

    def versions(self, arch: str | None = None) -> list[VersionInfo]:
        """Every version (of `arch`, or of all architectures), newest first; checkpoints are not read."""
        statement = select(ModelVersion).options(joinedload(ModelVersion.run)).order_by(ModelVersion.id.desc())
        if arch is not None:
            statement = statement.where(ModelVersion.arch == arch)
        with self._sessions() as session:
            active = self._active_ids(session)
            return [_version_info(row, active=row.id in active) for row in session.scalars(statement)]

    def version(self, arch: str, version: int) -> VersionInfo:
        with self._sessions() as session:
            row = self._find(session, arch, version)
            return _version_info(row, active=row.id in self._active_ids(session))

    def active_version(self, arch: str) -> VersionInfo | None:
        with self._sessions() as session:
            row = session.scalar(
                select(ModelVersion)
                .options(joinedload(ModelVersion.run))
                .join(ActiveModel, ActiveModel.version_id == ModelVersion.id)
                .where(ActiveModel.arch == arch)
            )
            return None if row is None else _version_info(row, active=True)

    def load_model(self, arch: str, version: int | None = None, *, device: str = "cpu") -> LoadedModel:
        """Rebuild a version's model (the active one when `version` is None) after checking its sha256."""
        if version is None:
            active = self.active_version(arch)
            if active is None:
                raise NoActiveVersion(
                    f"{arch!r} has no active version: train one, or run `temporal-order activate {arch} VERSION`"
                )
            version = active.version
        with self._sessions() as session:
            row = self._find(session, arch, version)
            info = _version_info(row, active=row.id in self._active_ids(session))
            data = session.scalar(select(ModelVersion.checkpoint).where(ModelVersion.id == row.id))
        name = f"{arch} version {version}"
        try:
            if data is None:
                raise CheckpointError("no checkpoint bytes stored")
            model = from_checkpoint(data, sha256=info.sha256, device=resolve_device(device))
            stored_arch = read_config(data).get("arch")
        except CheckpointError as error:
            raise CorruptCheckpoint(f"checkpoint of {name} is corrupt: {error}") from None
        if stored_arch != arch:
            raise CorruptCheckpoint(f"checkpoint of {name} holds a {stored_arch!r} model")
        return LoadedModel(model=model, info=info, task=TaskSpec.from_dict(info.task_spec))

    def run(self, run_id: int) -> RunInfo:
        with self._sessions() as session:
            row = session.get(TrainingRun, run_id)
            if row is None:
                raise RunNotFound(f"no training run {run_id} in the registry")
            numbers = session.scalars(
                select(ModelVersion.version).where(ModelVersion.run_id == run_id).order_by(ModelVersion.version)
            )
            return _run_info(row, list(numbers))

    def run_versions(self, run_id: int) -> list[VersionInfo]:
        """Every trial of a run, in trial order, with its learning curve."""
        statement = (
            select(ModelVersion)
            .options(joinedload(ModelVersion.run))
            .where(ModelVersion.run_id == run_id)
            .order_by(ModelVersion.version)
        )
        with self._sessions() as session:
            active = self._active_ids(session)
            rows = list(session.scalars(statement))
            if not rows and session.get(TrainingRun, run_id) is None:
                raise RunNotFound(f"no training run {run_id} in the registry")
            return [_version_info(row, active=row.id in active) for row in rows]

    def active_summary(self, arch: str) -> tuple[VersionInfo, RunInfo, Summary] | None:
        """The paper's protocol over the run that produced `arch`'s active version, or None if none is."""
        active = self.active_version(arch)
        if active is None:
            return None
        trials = self.run_versions(active.run_id)
        return active, self.run(active.run_id), summarize([trial.outcome for trial in trials])
