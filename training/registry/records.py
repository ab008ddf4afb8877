"""What the registry hands out: frozen snapshots of its rows (no live ORM objects escape a session), and
its error tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from training.evaluate import TrialOutcome
from training.models import SequenceClassifier
from training.task import TaskSpec

JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
ACTIVE_JOB_STATUSES: frozenset[str] = frozenset({"queued", "running"})


class RegistryError(Exception):
    """Base of every error the registry raises on purpose; the message is meant for a user."""


class SchemaNotMigrated(RegistryError):
    pass


class MissingDatabaseDriver(RegistryError):
    """The URL names a database whose Python driver is not installed (PostgreSQL without the `postgres` extra)."""


class RegistryMissing(SchemaNotMigrated):
    """The registry's SQLite file is not there (deleted, or never created): nothing to migrate or use."""


class VersionNotFound(RegistryError):
    pass


class NoActiveVersion(RegistryError):
    pass


class CorruptCheckpoint(RegistryError):
    pass


class JobNotFound(RegistryError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    """One model version (one trial): everything but the checkpoint bytes."""

    arch: str
    version: int
    active: bool
    task: str
    task_spec: dict[str, Any]
    run_id: int
    seed: int
    converged: bool
    sequences_seen: int
    sequences_to_criterion: int | None
    wrong_argmax: int
    wrong_paper: int
    n_test: int
    parameter_count: int
    sha256: str
    size_bytes: int
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    curve: list[dict[str, Any]]
    wall_seconds: float
    created_at: datetime

    @property
    def outcome(self) -> TrialOutcome:
        return TrialOutcome(
            seed=self.seed,
            converged=self.converged,
            sequences_to_criterion=self.sequences_to_criterion,
            wrong_argmax=self.wrong_argmax,
            wrong_paper=self.wrong_paper,
            n_test=self.n_test,
        )

    @property
    def test_accuracy(self) -> float:
        return 1.0 - self.wrong_argmax / self.n_test if self.n_test else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the timestamp as ISO 8601)."""
        return {
            "arch": self.arch,
            "version": self.version,
            "active": self.active,
            "task": self.task,
            "task_spec": self.task_spec,
            "run_id": self.run_id,
            "seed": self.seed,
            "converged": self.converged,
            "sequences_seen": self.sequences_seen,
            "sequences_to_criterion": self.sequences_to_criterion,
            "wrong_argmax": self.wrong_argmax,
            "wrong_paper": self.wrong_paper,
            "n_test": self.n_test,
            "parameter_count": self.parameter_count,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "model_config": self.model_config,
            "train_config": self.train_config,
            "curve": self.curve,
            "wall_seconds": self.wall_seconds,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class RunInfo:
    """One recorded training run: an architecture's trials, trained together."""

    id: int
    arch: str
    task: str
    trials: int
    seed: int
    job_id: str | None
    created_at: datetime
    wall_seconds: float
    version_numbers: list[int]


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint rebuilt into its module (eval mode, on the device asked for), with its record."""

    model: SequenceClassifier
    info: VersionInfo
    task: TaskSpec


@dataclass(frozen=True)
class JobInfo:
    id: str
    status: str
    params: dict[str, Any]
    progress: dict[str, Any]
    results: list[dict[str, Any]]
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # The queue's view (training/registry/queue.py): who runs it, until when its claim holds, claims so far.
    owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    max_attempts: int = 1
    # The promotion gate's decision per architecture (training/promotion.py), once made.
    promotion: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES
