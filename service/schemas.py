"""The HTTP API's request and response bodies: the contract shared by the service and the SDK.

Imports only pydantic and the standard library, so `service.client` can use it without torch or fastapi.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# The API's architecture names. The SDK ships this module without the training package, so it cannot read
# training.architectures; tests/training/test_architectures.py holds the two lists equal.
Arch = Literal["rnn", "lstm", "attn_rnn", "attn_rnn_seed", "lstm1997", "gru"]
TaskName = Literal["6a", "6b"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
TERMINAL_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

MAX_GENERATE = 10_000
# The largest integer every database the registry runs on stores in an INTEGER column (PostgreSQL's is 32-bit):
# a request integer that reaches the registry is bounded by it, so it is a 422, never an overflow.
MAX_DB_INT = 2**31 - 1
# Characters of one sequence string, whitespace between symbols included: refused before parsing. The parser
# bounds the symbols themselves (training.sequences.MAX_SEQUENCE_LENGTH, 10,000).
MAX_SEQUENCE_CHARS = 40_000


class Strict(BaseModel):
    """Requests reject unknown fields, so a typo is an error rather than a silently ignored option, and take
    JSON types as they are: "yes" is not a bool, "1" not an int, true not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---- errors ---------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """One problem: `loc` is where (e.g. ["body", "sequences", 3]), `position` the 1-based symbol."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str = "value_error"
    position: int | None = None


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: str  # a short machine-readable kind: "validation_error", "not_found", "model_not_ready", ...
    message: str  # one sentence a person can act on
    details: list[ErrorDetail] = Field(default_factory=list)
    hint: str | None = None


# ---- classify -------------------------------------------------------------------------------------


class ClassifyRequest(Strict):
    sequence: str = Field(
        max_length=MAX_SEQUENCE_CHARS,
        description="Symbols E a b c d X Y B, compact ('EabX…B'); whitespace is ignored; at most 10,000 symbols.",
    )
    arch: Arch | None = Field(default=None, description="Defaults to the architecture with the lowest test error.")
    explain: bool = False


class ClassifyBatchRequest(Strict):
    sequences: list[Annotated[str, Field(max_length=MAX_SEQUENCE_CHARS)]] = Field(min_length=1)
    arch: Arch | None = None


class ClassifyResult(BaseModel):
    label: str  # e.g. "XYX"
    class_index: int
    probabilities: dict[str, float]  # class name → probability, in class order
    arch: Arch
    model_version: int
    rule_label: str | None  # the ground truth by the task's rule, or null when the string is not well-formed
    in_distribution: bool  # false when length or positions lie outside the training distribution
    problems: list[str] = Field(default_factory=list)  # why it is out of distribution / not well-formed
    attribution: list[float] | None = None  # one number per symbol when explain=true
    attribution_method: Literal["attention", "gradient_x_input"] | None = None


class ClassifyBatchResult(BaseModel):
    results: list[ClassifyResult]


# ---- generate -------------------------------------------------------------------------------------


class GenerateRequest(Strict):
    n: int = Field(default=5, ge=1, le=MAX_GENERATE)
    task: TaskName = "6b"
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)


class GeneratedSequence(BaseModel):
    sequence: str
    label: str
    class_index: int
    positions: list[int]  # 1-based positions of the relevant symbols


class GenerateResult(BaseModel):
    task: TaskName
    seed: int
    sequences: list[GeneratedSequence]


# ---- training jobs --------------------------------------------------------------------------------


class TrainJobCreate(Strict):
    arch: Arch | Literal["all"] = "lstm"
    task: TaskName = "6b"
    trials: int = Field(default=1, ge=1, le=100)
    max_sequences: int = Field(default=200_000, ge=100, le=10_000_000)
    seed: int = Field(default=0, ge=0, le=MAX_DB_INT)
    optimizer: Literal["adam", "sgd"] | None = None
    learning_rate: float | None = Field(default=None, gt=0, le=10)
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    grad_clip: float | None = Field(default=None, gt=0, le=1000)
    activate: bool = Field(
        default=True,
        description="Serve the best trial if it passes the promotion gate: at least as good as the served version "
        "on a common fresh test set (fewer or equally many wrong by the paper's rule).",
    )
    force: bool = Field(default=False, description="With activate: serve the best trial without the gate.")
    retries: int = Field(
        default=0, ge=0, le=5, description="Times the job is queued again when its worker dies while running it."
    )


class TrainJobProgress(BaseModel):
    arch: str | None = None
    trial: int = 0  # 1-based trial being trained
    trials: int = 0
    sequences: int = 0
    max_sequences: int = 0
    train_error: float | None = None
    train_accuracy: float | None = None


class TrialPublic(BaseModel):
    arch: str
    seed: int
    converged: bool
    sequences_to_criterion: int | None
    wrong_argmax: int
    wrong_paper: int
    n_test: int
    model_version: int | None = None


class PromotionPublic(BaseModel):
    """Whether a job's best trial became the served version, and why; the wrong counts (paper's rule) are on one
    test set of n_test fresh sequences, null when no comparison was made (nothing served, forced)."""

    arch: str
    candidate: int
    served: int | None
    promoted: bool
    forced: bool
    reason: str
    n_test: int | None = None
    test_seed: int | None = None
    candidate_wrong: int | None = None
    served_wrong: int | None = None


class TrainJobPublic(BaseModel):
    id: str
    status: JobStatus
    params: TrainJobCreate
    progress: TrainJobProgress
    results: list[TrialPublic] = Field(default_factory=list)
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status_url: str
    # Who runs it (the worker that claimed it, null until claimed) and how many claims it has had.
    worker: str | None = None
    attempts: int = 0
    trainer_started: bool = Field(
        default=False,
        description="The job's training process has started: it has written its first progress and from then on "
        "polls for a cancel itself. A claimed job is running before its process has started (a process start can "
        "take seconds on a busy machine); false until then, and again after a requeue.",
    )
    # The promotion gate's decision per architecture, once the job has made it (jobs with activate only).
    promotion: dict[str, PromotionPublic] = Field(default_factory=dict)


class TrainJobList(BaseModel):
    jobs: list[TrainJobPublic]


# ---- metrics --------------------------------------------------------------------------------------


class SummaryPublic(BaseModel):
    trials: int
    converged: int
    median_sequences_to_criterion: float | None
    mean_sequences_to_criterion: float | None
    mean_wrong_argmax: float
    std_wrong_argmax: float
    mean_wrong_paper: float
    std_wrong_paper: float
    n_test: int
    mean_test_accuracy: float


class PaperFiguresPublic(BaseModel):
    task: str
    sequences_to_criterion: int
    wrong_predictions: float
    n_test: int
    note: str


class ArchMetrics(BaseModel):
    arch: Arch
    task: str | None
    active_version: int | None
    run_id: int | None
    summary: SummaryPublic | None  # the protocol's summary over the active run's trials
    paper: PaperFiguresPublic | None


class MetricsPublic(BaseModel):
    architectures: list[ArchMetrics]


# ---- models and health ----------------------------------------------------------------------------


class ModelVersionPublic(BaseModel):
    arch: Arch
    version: int
    active: bool
    task: str
    run_id: int
    seed: int
    converged: bool
    sequences_to_criterion: int | None
    wrong_argmax: int
    wrong_paper: int
    n_test: int
    parameter_count: int
    sha256: str
    created_at: datetime


class ActivationPublic(BaseModel):
    id: int
    from_version: int | None
    to_version: int
    by: str = Field(description='"api", "cli", "train", "job <id>", "api rollback", ...')
    undoes: int | None = Field(description="The activation a rollback undid.")
    at: datetime


class ModelPublic(BaseModel):
    arch: Arch
    state: Literal["ready", "missing", "error"]
    active_version: int | None
    device: str | None
    parameter_count: int | None
    error: str | None = None
    versions: list[ModelVersionPublic] = Field(default_factory=list)
    # Activations of this architecture, newest first: from which version to which, by what, when.
    history: list[ActivationPublic] = Field(default_factory=list)


class ModelList(BaseModel):
    default_arch: Arch | None
    models: list[ModelPublic]


class ActivateRequest(Strict):
    version: int = Field(ge=1, le=MAX_DB_INT)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class Readiness(BaseModel):
    ready: bool
    registry: bool
    models: dict[str, Literal["ready", "missing", "error"]]
    detail: dict[str, str] = Field(default_factory=dict)


# ---- learning curves ------------------------------------------------------------------------------


class CurvePointPublic(BaseModel):
    sequences: int  # training sequences seen when the point was taken
    train_error: float  # mean training error over the criterion's window (the 2000 most recent sequences)
    train_accuracy: float  # fraction of that window classified correctly by the paper's 0.3 rule


class TrialCurve(BaseModel):
    version: int
    seed: int
    converged: bool
    sequences_to_criterion: int | None
    points: list[CurvePointPublic]


class VersionCurve(BaseModel):
    """A version's learning curve, and the curves of the other trials of the run that trained it."""

    arch: Arch
    version: int
    run_id: int
    task: str
    points: list[CurvePointPublic]
    run_trials: list[TrialCurve]  # every trial of the run, this version included, in trial order


# ---- studies --------------------------------------------------------------------------------------


class StudyGridPublic(BaseModel):
    """What a study runs: every architecture at every sequence length T, `trials` seeds each."""

    lags: list[int] = Field(description="Sequence lengths T (T = 100 is task 6b).")
    arches: list[str]
    trials: int = Field(description="Trials (seeds) per architecture and T.")
    budget: int | None = Field(description="Most training sequences per trial; null: each architecture's own.")
    seed: int = Field(description="Trial i of a point uses seed + i.")
    n_test: int = Field(description="Fresh test sequences per trial.")


class StudyProgress(BaseModel):
    planned: int = Field(description="Trials the grid asks for.")
    recorded: int = Field(description="Trials recorded in the registry so far.")


class StudySummaryPublic(BaseModel):
    name: str
    kind: str = Field(description='"lags": sequences to criterion against the time lag.')
    grid: StudyGridPublic
    progress: StudyProgress
    created_at: datetime


class StudyList(BaseModel):
    studies: list[StudySummaryPublic]


class StudyPointPublic(BaseModel):
    """One architecture at one T, over its recorded trials: the figures of the report's study table. Sequence
    figures are over the trials that met the criterion (null when none did)."""

    arch: str
    length: int = Field(description="The sequence length T.")
    minimal_lag: int = Field(description="Steps from the last possible t1 to the shortest sequence's trigger.")
    trials: int
    converged: int = Field(description="Trials that met the paper's stopping criterion.")
    success_fraction: float
    median_sequences: float | None = Field(description="Median training sequences to criterion.")
    mean_sequences: float | None
    ci95_sequences: tuple[float, float] | None = Field(
        description="95% t-interval of the mean; null for fewer than two trials that met the criterion."
    )
    mean_wall_seconds: float = Field(description="Training wall time per trial, mean.")
    mean_wrong_paper: float = Field(description="Wrong test sequences by the paper's 0.3 rule, mean.")
    n_test: int


class StudyPublic(StudySummaryPublic):
    points: list[StudyPointPublic]
