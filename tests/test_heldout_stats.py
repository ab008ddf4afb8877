"""The statistics the report prints beside the held-out figures (bench/heldout_stats.py), against values worked out
by hand or printed in the literature: a wrong interval would make the report claim more (or less) than the trials
show."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from heldout_stats import fisher_exact, mean_interval, median_interval, proportion_interval


def test_fisher_exact_two_sided() -> None:
    # 1 of 10 against 9 of 10: the tables with 0 or 1 (and 9 or 10) successes, 2·(1 + 100) / C(20, 10) = 0.0010933.
    assert fisher_exact(1, 10, 9, 10) == pytest.approx(0.0010933, abs=1e-6)
    # 3 of 3 against 0 of 3: the two extreme tables, 1/20 each.
    assert fisher_exact(3, 3, 0, 3) == pytest.approx(0.1)
    # Equal rates: nothing is less likely than the table seen.
    assert fisher_exact(5, 10, 5, 10) == pytest.approx(1.0)
    assert fisher_exact(6, 10, 3, 10) == fisher_exact(3, 10, 6, 10)


def test_wilson_interval() -> None:
    low, high = proportion_interval(6, 10)
    assert (low, high) == (pytest.approx(0.3127, abs=1e-4), pytest.approx(0.8318, abs=1e-4))
    assert proportion_interval(0, 10)[0] == 0.0 and proportion_interval(10, 10)[1] == pytest.approx(1.0)
    assert proportion_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)


def test_mean_and_median_intervals() -> None:
    values = [float(v) for v in range(1, 31)]
    mean = mean_interval(values)
    assert mean is not None and mean.mean == 15.5
    # sd of 1..30 is sqrt(77.5); t(0.975, 29) = 2.045.
    assert mean.high - mean.mean == pytest.approx(2.045 * 77.5**0.5 / 30**0.5)
    median = median_interval(values)
    assert median is not None and (median.rank, median.low, median.high) == (10, 10.0, 21.0)
    assert median.coverage == pytest.approx(0.9572, abs=1e-4)
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # n < 6: no pair reaches 95%
