"""The study's figures per architecture and T: sequences to criterion (median, mean and its 95% confidence
interval over the trials that met the criterion), the fraction that met it, and wall time per trial."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from training.registry.studies import StudyTrialInfo
from training.study.grid import lag_task, minimal_lag

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom; beyond that the normal's 1.96 is
# within 0.02 of it.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_NORMAL_975 = 1.960


def t_quantile_975(degrees_of_freedom: int) -> float:
    if degrees_of_freedom < 1:
        raise ValueError("a t quantile needs at least one degree of freedom")
    return _T_975[degrees_of_freedom - 1] if degrees_of_freedom <= len(_T_975) else _NORMAL_975


def mean_confidence_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95% t interval of the mean; None for fewer than two values (no spread to estimate)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


@dataclass(frozen=True)
class PointSummary:
    """One point of the study: an architecture at one T, over its trials. The sequence figures are over the
    trials that met the criterion (a trial that spent its budget has no sequences-to-criterion)."""

    arch: str
    length: int
    minimal_lag: int
    trials: int
    converged: int
    median_sequences: float | None
    mean_sequences: float | None
    ci95_sequences: tuple[float, float] | None
    mean_wall_seconds: float
    mean_wrong_paper: float
    n_test: int

    @property
    def success_fraction(self) -> float:
        return self.converged / self.trials


def summarize_point(trials: Sequence[StudyTrialInfo]) -> PointSummary:
    """The figures of one architecture at one T."""
    if not trials:
        raise ValueError("no trials to summarise")
    arch, length = trials[0].arch, trials[0].length
    if any((t.arch, t.length) != (arch, length) for t in trials):
        raise ValueError("a point's trials must share their architecture and T")
    reached = [float(t.sequences_to_criterion) for t in trials if t.sequences_to_criterion is not None]
    return PointSummary(
        arch=arch,
        length=length,
        minimal_lag=minimal_lag(lag_task(length)),
        trials=len(trials),
        converged=sum(t.converged for t in trials),
        median_sequences=statistics.median(reached) if reached else None,
        mean_sequences=statistics.fmean(reached) if reached else None,
        ci95_sequences=mean_confidence_interval(reached),
        mean_wall_seconds=statistics.fmean(t.wall_seconds for t in trials),
        mean_wrong_paper=statistics.fmean(t.wrong_paper for t in trials),
        n_test=trials[0].n_test,
    )


def summarize_study(trials: Sequence[StudyTrialInfo]) -> list[PointSummary]:
    """One summary per architecture and T, ordered by T, then architecture."""
    points: dict[tuple[int, str], list[StudyTrialInfo]] = {}
    for trial in trials:
        points.setdefault((trial.length, trial.arch), []).append(trial)
    return [summarize_point(points[key]) for key in sorted(points)]
