"""The study's figures: median, mean and its 95% interval over the trials that met the criterion."""

from __future__ import annotations

import math

import pytest

from training.registry.studies import StudyTrialInfo
from training.study.stats import mean_confidence_interval, summarize_point, summarize_study, t_quantile_975


def _trial(arch: str, length: int, seed: int, to_criterion: int | None, wall: float = 2.0) -> StudyTrialInfo:
    return StudyTrialInfo(
        arch=arch,
        length=length,
        seed=seed,
        version=seed + 1,
        converged=to_criterion is not None,
        sequences_seen=to_criterion or 10_000,
        sequences_to_criterion=to_criterion,
        wall_seconds=wall,
        wrong_paper=seed,
        wrong_argmax=0,
        n_test=100,
    )


def test_interval_is_the_t_interval_of_the_mean() -> None:
    low, high = mean_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0])  # type: ignore[misc]
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert low == pytest.approx(3 - half) and high == pytest.approx(3 + half)
    assert mean_confidence_interval([7.0]) is None
    assert t_quantile_975(1) == pytest.approx(12.706)
    assert t_quantile_975(500) == pytest.approx(1.96)


def test_a_point_counts_successes_and_averages_only_trials_that_met_the_criterion() -> None:
    point = summarize_point(
        [_trial("lstm", 200, 0, 1000, wall=1.0), _trial("lstm", 200, 1, None, wall=5.0), _trial("lstm", 200, 2, 3000)]
    )
    assert (point.trials, point.converged) == (3, 2)
    assert point.success_fraction == pytest.approx(2 / 3)
    assert point.median_sequences == 2000 and point.mean_sequences == 2000
    assert point.ci95_sequences is not None and point.ci95_sequences[0] < 2000 < point.ci95_sequences[1]
    assert point.mean_wall_seconds == pytest.approx((1.0 + 5.0 + 2.0) / 3)
    assert point.minimal_lag == 160


def test_a_point_where_no_trial_met_it_has_no_sequence_figures() -> None:
    point = summarize_point([_trial("rnn", 100, 0, None), _trial("rnn", 100, 1, None)])
    assert point.converged == 0 and point.median_sequences is None and point.ci95_sequences is None


def test_study_summary_groups_by_t_then_architecture() -> None:
    trials = [_trial("rnn", 200, 0, 10), _trial("lstm", 100, 0, 5), _trial("rnn", 100, 0, 7), _trial("rnn", 100, 1, 9)]
    points = summarize_study(trials)
    assert [(p.length, p.arch, p.trials) for p in points] == [(100, "lstm", 1), (100, "rnn", 2), (200, "rnn", 1)]
