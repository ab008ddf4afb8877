"""Confidence intervals for the held-out tables: the mean's by Student's t, the median's from order statistics
(a distribution-free binomial interval). Shared by bench/heldout_bench.py (which stores them in its JSON) and
bench/paper_report.py (which prints them).

    from heldout_stats import mean_interval, median_interval   # bench scripts run with bench/ on sys.path
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond 30 the normal's 1.96 is within 2%).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}  # fmt: skip


@dataclass(frozen=True)
class MeanInterval:
    """The mean, the sample standard deviation (n - 1) and the 95% t-interval of the mean."""

    mean: float
    sd: float
    low: float
    high: float


@dataclass(frozen=True)
class MedianInterval:
    """The median and the order statistics (ranks `rank`, n - rank + 1) bounding it with `coverage` >= 95%."""

    median: float
    low: float
    high: float
    rank: int
    coverage: float


def mean_interval(values: list[float]) -> MeanInterval | None:
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = T_975.get(len(values) - 1, 1.96) * sd / math.sqrt(len(values))
    return MeanInterval(mean, sd, mean - half, mean + half)


def median_interval(values: list[float]) -> MedianInterval | None:
    """The widest-ranked pair (j, n - j + 1) whose coverage P(X(j) <= median <= X(n-j+1)) = 1 - 2·P(Bin(n, ½) < j)
    is still at least 95%: the narrowest such interval. None when n is too small for any pair to reach 95% (n < 6)."""
    n = len(values)
    ordered = sorted(values)
    best = None
    for j in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * sum(math.comb(n, i) for i in range(j)) / 2.0**n
        if coverage >= 0.95:
            best = (j, coverage)
    if best is None:
        return None
    j, coverage = best
    return MedianInterval(statistics.median(values), ordered[j - 1], ordered[n - j], j, coverage)


def intervals(values: list[float]) -> dict[str, Any]:
    """Both intervals as plain data for a JSON (None where there are too few values)."""
    mean, median = mean_interval(values), median_interval(values)
    return {
        "mean": asdict(mean) if mean else None,
        "median": asdict(median) if median else None,
        "method": "mean: Student's t, 95%; median: order statistics (binomial), coverage >= 95%",
    }


def proportion_interval(successes: int, trials: int) -> tuple[float, float]:
    """Wilson's 95% interval for a success rate (converged trials of all trials): unlike p ± 1.96·se it stays inside
    [0, 1] and is usable at 0 or n successes."""
    if trials == 0:
        return 0.0, 1.0
    z = 1.96
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """Two-sided p-value of Fisher's exact test that two success rates are equal: the probability, with the margins
    fixed, of a table no more likely than the one seen."""
    successes, total = successes_a + successes_b, trials_a + trials_b

    def probability(k: int) -> float:
        return math.comb(trials_a, k) * math.comb(trials_b, successes - k) / math.comb(total, successes)

    seen = probability(successes_a)
    tables = range(max(0, successes - trials_b), min(successes, trials_a) + 1)
    return min(1.0, sum(p for p in map(probability, tables) if p <= seen * (1 + 1e-9)))
