"""Confidence intervals for evaluation results.

Success rates use the Wilson score interval: unlike the normal approximation it stays inside
[0, 1] and is informative at 0/N and N/N, which small robot evaluations hit often. Continuous
scores use Student's t interval of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def _upper_quantile(confidence: float) -> float:
    """The quantile that leaves (1 - confidence) / 2 in the upper tail."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return 0.5 + confidence / 2.0


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate `successes / trials`.

    15 / 20 gives (0.531, 0.888). With no trials nothing is known and the interval is (0, 1).
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} / {trials}")
    if trials == 0:
        return 0.0, 1.0
    z2 = float(stats.norm.ppf(_upper_quantile(confidence))) ** 2
    rate = successes / trials
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials**2)) * math.sqrt(z2) / (1 + z2 / trials)
    # At 0/N and N/N the bound is exactly 0 or 1; rounding must not push it past.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def mean_interval(
    values: Sequence[float], confidence: float = 0.95, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> tuple[float, float, float]:
    """(mean, low, high): the mean with Student's t interval, clipped to `bounds` (the range the
    values can take: a score in [0, 1] cannot average outside it).

    One value has no spread to estimate from, so its bounds are NaN (written as null in reports).
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return mean, math.nan, math.nan
    t = float(stats.t.ppf(_upper_quantile(confidence), data.size - 1))
    half = t * float(data.std(ddof=1)) / math.sqrt(data.size)
    return mean, max(bounds[0], mean - half), min(bounds[1], mean + half)
