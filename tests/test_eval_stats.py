import math

import pytest
from scipy import stats

from mimicsim.eval.stats import mean_interval, wilson_interval


def test_wilson_at_20_episodes_and_075():
    low, high = wilson_interval(15, 20)
    assert low == pytest.approx(0.5313, abs=1e-4) and high == pytest.approx(0.8881, abs=1e-4)


def test_wilson_edges_are_exact():
    assert wilson_interval(0, 20) == (0.0, pytest.approx(0.1611, abs=1e-4))
    assert wilson_interval(20, 20) == (pytest.approx(0.8389, abs=1e-4), 1.0)
    assert wilson_interval(0, 1)[0] == 0.0 and wilson_interval(1, 1)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no episodes: nothing is known


def test_wilson_is_symmetric_and_contains_the_rate():
    for n in (1, 2, 7, 50):
        for k in range(n + 1):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0
            mirror = wilson_interval(n - k, n)
            assert (low, high) == pytest.approx((1 - mirror[1], 1 - mirror[0]), abs=1e-12)


def test_wilson_widens_with_confidence_and_narrows_with_episodes():
    assert wilson_interval(15, 20, 0.99)[0] < wilson_interval(15, 20)[0]

    def width(k: int, n: int) -> float:
        low, high = wilson_interval(k, n)
        return high - low

    assert width(150, 200) < width(15, 20)


@pytest.mark.parametrize("k, n, confidence", [(3, 2, 0.95), (-1, 2, 0.95), (1, 2, 1.0), (1, 2, 0.0)])
def test_wilson_refuses_nonsense(k, n, confidence):
    with pytest.raises(ValueError):
        wilson_interval(k, n, confidence)


def test_mean_interval_is_students_t():
    values = [0.2, 0.4, 0.9, 0.5]
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=0.5, scale=stats.sem(values))
    assert mean == pytest.approx(0.5) and (low, high) == pytest.approx(expected)


def test_mean_interval_degenerate_cases():
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    mean, low, high = mean_interval([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match="at least one"):
        mean_interval([])


def test_mean_interval_stays_inside_the_range_of_the_values():
    mean, low, high = mean_interval([1.0, 1.0, 0.0], bounds=(0.0, 1.0))
    assert mean == pytest.approx(2 / 3) and low == 0.0 and high == 1.0
    _, low, high = mean_interval([1.0, 1.0, 0.0])
    assert low < 0.0 and high > 1.0  # unbounded
