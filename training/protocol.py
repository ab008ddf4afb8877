"""The paper's protocol as data, shared by the trainer, the trial pool and the registry (which imports no
trainer). One type per stage of a trial: `TrainConfig` (how it trains), `TrialProgress` (where it stands),
`TrialResult` (what training produced) and `TestResult` (how it tested), together a `TrialRecord` (what the
registry records as a version), reduced to a `TrialOutcome` (what `summarize` and `best_trial` read).
`training.trial.TrialSpec` is a trial planned; `training.train.Progress` is the trainer's per-batch hook value.

    python -c "from training.protocol import TrainConfig; print(TrainConfig())"
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from training.models import ModelConfig, SequenceClassifier
from training.task import TaskSpec
from training.train_config import TrainConfig


@dataclass(frozen=True)
class CurvePoint:
    sequences: int
    train_error: float
    train_accuracy: float


@dataclass
class TrialResult:
    """What training one trial produced, before its test."""

    model: SequenceClassifier
    model_config: ModelConfig
    train_config: TrainConfig
    task: TaskSpec
    seed: int
    converged: bool
    sequences_seen: int
    sequences_to_criterion: int | None
    curve: list[CurvePoint] = field(default_factory=list)
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class TestResult:
    n_test: int
    wrong_argmax: int
    wrong_paper: int

    @property
    def accuracy(self) -> float:
        return 1.0 - self.wrong_argmax / self.n_test if self.n_test else float("nan")


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial: what training produced and how it tested. The registry records it as a model version."""

    trial: TrialResult
    test: TestResult

    @property
    def outcome(self) -> TrialOutcome:
        return TrialOutcome.of(self.trial, self.test)


@dataclass(frozen=True)
class TrialProgress:
    """Where a trial stands; a training job stores the latest as its progress."""

    arch: str
    trial: int  # 1-based within its architecture (0: none started yet)
    trials: int
    sequences: int
    max_sequences: int
    train_error: float | None
    train_accuracy: float | None


class Trained(Protocol):
    """What an outcome reads from a trained trial (`TrialResult`, or a stored version)."""

    @property
    def seed(self) -> int: ...
    @property
    def converged(self) -> bool: ...
    @property
    def sequences_to_criterion(self) -> int | None: ...


class Tested(Protocol):
    """What an outcome reads from a trial's test (`TestResult`, or a stored version)."""

    @property
    def wrong_argmax(self) -> int: ...
    @property
    def wrong_paper(self) -> int: ...
    @property
    def n_test(self) -> int: ...


@dataclass(frozen=True)
class TrialOutcome:
    """One trial as the summary needs it."""

    seed: int
    converged: bool
    sequences_to_criterion: int | None
    wrong_argmax: int
    wrong_paper: int
    n_test: int

    @classmethod
    def of(cls, trained: Trained, tested: Tested) -> TrialOutcome:
        """The one way to make an outcome: from a trained trial (or a stored version) and its test."""
        return cls(
            trained.seed,
            trained.converged,
            trained.sequences_to_criterion,
            tested.wrong_argmax,
            tested.wrong_paper,
            tested.n_test,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_trial(outcomes: Sequence[TrialOutcome]) -> int:
    """Index of the trial to serve: fewest wrong (argmax), then fewest sequences to criterion, unconverged
    last; ties go to the earlier trial."""

    def rank(index: int) -> tuple[int, int, int, int]:
        outcome = outcomes[index]
        to_criterion = outcome.sequences_to_criterion
        return (outcome.wrong_argmax, to_criterion is None, to_criterion or 0, index)

    return min(range(len(outcomes)), key=rank)


@dataclass(frozen=True)
class Summary:
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _std(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def summarize(outcomes: Sequence[TrialOutcome]) -> Summary:
    """Converged count, median and mean sequences to criterion (converged trials), mean ± std wrong."""
    if not outcomes:
        raise ValueError("no trials to summarize")
    to_criterion = [o.sequences_to_criterion for o in outcomes if o.sequences_to_criterion is not None]
    argmax = [float(o.wrong_argmax) for o in outcomes]
    paper = [float(o.wrong_paper) for o in outcomes]
    return Summary(
        trials=len(outcomes),
        converged=sum(o.converged for o in outcomes),
        median_sequences_to_criterion=float(statistics.median(to_criterion)) if to_criterion else None,
        mean_sequences_to_criterion=float(statistics.fmean(to_criterion)) if to_criterion else None,
        mean_wrong_argmax=statistics.fmean(argmax),
        std_wrong_argmax=_std(argmax),
        mean_wrong_paper=statistics.fmean(paper),
        std_wrong_paper=_std(paper),
        n_test=outcomes[0].n_test,
        mean_test_accuracy=statistics.fmean(1.0 - o.wrong_argmax / o.n_test for o in outcomes),
    )
