"""What the registry hands out: frozen snapshots of its rows (no live ORM objects escape a session), and
its error tree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from training.models import SequenceClassifier
from training.protocol import TrialOutcome, TrialProgress
from training.task import TaskSpec

# A job's states: queued -> running -> one of the terminal ones. The service's wire contract
# (service.schemas.JobStatus, which its SDK reads without importing training) is checked against this one.
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
ACTIVE_JOB_STATUSES: frozenset[str] = frozenset({"queued", "running"})
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset(JOB_STATUSES) - ACTIVE_JOB_STATUSES


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
        return TrialOutcome.of(self, self)

    @property
    def test_accuracy(self) -> float:
        return 1.0 - self.wrong_argmax / self.n_test if self.n_test else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the timestamp as ISO 8601)."""
        return {**asdict(self), "created_at": self.created_at.isoformat()}


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
class JobParams:
    """What a training job was asked for, as its row stores it (apart from any API's request model)."""

    arch: str  # or "all"
    task: str
    trials: int
    max_sequences: int
    seed: int
    optimizer: str | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    grad_clip: float | None = None
    activate: bool = True
    # Rows stored before these two existed read as their defaults: the gate decides, one attempt.
    force: bool = False  # with activate: serve the best trial without the promotion gate's comparison
    retries: int = 0  # times the job is queued again when its worker dies while running it

    def train_overrides(self) -> dict[str, Any]:
        """What overrides an architecture's training defaults (None keeps the default)."""
        keys = ("optimizer", "learning_rate", "batch_size", "grad_clip", "max_sequences")
        return {key: getattr(self, key) for key in keys}


@dataclass(frozen=True)
class JobTrial:
    """One trial a training job recorded, as the job's row lists it: its outcome, and the version it became."""

    arch: str
    seed: int
    converged: bool
    sequences_to_criterion: int | None
    wrong_argmax: int
    wrong_paper: int
    n_test: int
    model_version: int

    @classmethod
    def of(cls, version: VersionInfo) -> JobTrial:
        return cls(arch=version.arch, model_version=version.version, **asdict(version.outcome))


@dataclass(frozen=True)
class JobInfo:
    id: str
    status: JobStatus
    params: JobParams
    progress: TrialProgress | None  # None until the job starts
    results: list[JobTrial]
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
    # The X-Request-ID of the request that queued it (None for jobs queued otherwise, or before it was stored).
    request_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def trainer_started(self) -> bool:
        """Whether the job's training process has started: it writes its first progress once it has found the job
        its own to run, and polls for a cancel itself from then on. A claimed job is "running" before that."""
        return self.progress is not None
