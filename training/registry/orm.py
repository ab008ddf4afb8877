"""The registry's tables as a typed SQLAlchemy 2.0 ORM. Alembic migrations (`alembic/versions/`) create them;
`alembic check` in the tests keeps the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps the zone; SQLite stores text and hands back naive values, which are UTC because this
    type converts on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - read by SQLAlchemy at class creation, never mutated
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[dict[str, Any]]: JSON(),
    }


class TrainingRun(Base):
    """One `train` invocation for one architecture: its trials are the run's model versions."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch: Mapped[str] = mapped_column(String(32), index=True)
    task: Mapped[str] = mapped_column(String(64))
    task_spec: Mapped[dict[str, Any]]
    trials: Mapped[int]
    seed: Mapped[int]
    model_config: Mapped[dict[str, Any]]
    train_config: Mapped[dict[str, Any]]
    # Not a foreign key: a run may be recorded by a worker (a process pool, later Ray) whose job row lives
    # in the same registry, or by the CLI with no job at all.
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # The study this run is one point of (training/study/); deleting the study deletes its runs.
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    wall_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ModelVersion.version",
    )


class ModelVersion(Base):
    """One trial: its checkpoint (safetensors bytes), how it trained and how it tested."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("arch", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int]
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    trial_index: Mapped[int]
    seed: Mapped[int]
    converged: Mapped[bool] = mapped_column(Boolean)
    sequences_seen: Mapped[int]
    sequences_to_criterion: Mapped[int | None]
    curve: Mapped[list[dict[str, Any]]]
    wall_seconds: Mapped[float] = mapped_column(Float)
    n_test: Mapped[int]
    wrong_argmax: Mapped[int]
    wrong_paper: Mapped[int]
    parameter_count: Mapped[int]
    model_config: Mapped[dict[str, Any]]
    train_config: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    # Deferred: listing versions must not read megabytes of weights.
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    run: Mapped[TrainingRun] = relationship(back_populates="versions")


class ActiveModel(Base):
    """The version the service serves, one per architecture."""

    __tablename__ = "active_models"

    arch: Mapped[str] = mapped_column(String(32), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)

    model_version: Mapped[ModelVersion] = relationship()


class TrainingJob(Base):
    """A training request accepted by the service (`POST /train`) and its live progress."""

    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict[str, Any]]
    progress: Mapped[dict[str, Any]]
    results: Mapped[list[dict[str, Any]]]
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The job queue (training/registry/queue.py): the worker that claimed the job, until when its claim holds
    # unless renewed, its last renewal, how many times it was claimed and how many claims it may have (a job
    # whose worker died is queued again while attempts < max_attempts, else marked interrupted).
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The promotion gate's decision per architecture (training/promotion.py), once the job has made it.
    promotion: Mapped[dict[str, Any] | None]
    # The X-Request-ID of the request that queued the job, for its log lines wherever it runs.
    request_id: Mapped[str | None] = mapped_column(String(128))


class Study(Base):
    """A named grid of trials (training/study/): it owns one training run per architecture and task."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    grid: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StudyTrial(Base):
    """A trial recorded for a study, by its identity (`trial_key`): the unique constraint is what makes a
    trial recorded at most once, however often it ran."""

    __tablename__ = "study_trials"
    __table_args__ = (UniqueConstraint("study_id", "trial_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    trial_key: Mapped[str] = mapped_column(String(64))
    length: Mapped[int]
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Activation(Base):
    """One change of an architecture's active version: from which, to which, by what, when. Rolling back adds
    a row too, naming the activation it undoes."""

    __tablename__ = "activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch: Mapped[str] = mapped_column(String(32), index=True)
    from_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    by: Mapped[str] = mapped_column(String(64))
    undoes_id: Mapped[int | None] = mapped_column(ForeignKey("activations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    from_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[from_version_id])
    to_version: Mapped[ModelVersion] = relationship(foreign_keys=[to_version_id])
