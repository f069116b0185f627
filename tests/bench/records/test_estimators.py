"""The estimators of a summary row (bench.records.estimators): the t interval of a mean and the
Kaplan-Meier median of censored steps to target."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as scipy_stats

from bench.records.estimators import censored_median, mean_ci95


def test_mean_ci95_matches_the_t_interval():
    values = [0.91, 0.93, 0.92, 0.95]
    low, high = mean_ci95(values)
    expected = scipy_stats.t.interval(0.95, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (low, high) == pytest.approx(expected)


def test_mean_ci95_of_one_value_is_none_and_of_identical_values_is_a_point():
    assert mean_ci95([0.9]) is None
    assert mean_ci95([]) is None
    assert mean_ci95([0.9, 0.9, 0.9]) == (0.9, 0.9)


@pytest.mark.parametrize("times, median", [
    ([50, 50, 75, 100, 125, None, None, None], 112.5),   # 5 of 8: the 4th and 5th times' midpoint
    ([50, 50, 75, 100, None, None, None, None], None),   # half never reached: censored
    ([50, 75, 100, None, None], 100.0),                  # 3 of 5: the 3rd time
    ([None, None], None),
    ([300, 300, None], 300.0),                           # reached at the very last step
])
def test_censored_median_is_the_median_with_never_as_infinity(times, median):
    found, _ = censored_median(times, horizon=300)
    assert found == median
    if median is not None:
        assert found == np.median([np.inf if t is None else t for t in times])


def test_censored_median_interval_widens_with_fewer_seeds():
    _, eight = censored_median([25, 50, 50, 75, 75, 100, 125, 150], horizon=300)
    _, two = censored_median([50, 75], horizon=300)
    assert eight[0] <= 75 <= eight[1] <= 150
    assert two[0] <= 50 and two[1] is None or two[1] >= eight[1]
    _, everyone_at_once = censored_median([50] * 8, horizon=300)
    assert everyone_at_once == (50, 50)  # eight of eight by step 50: the median is there
    _, one = censored_median([50], horizon=300)
    assert one == (50, None)  # one seed proves little


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 12).map(lambda k: 25 * k)), min_size=1, max_size=16))
def test_censored_median_equals_the_median_with_never_as_infinity_for_any_seeds(times):
    median, interval = censored_median(times, horizon=300)
    expected = float(np.median([np.inf if t is None else t for t in times]))
    assert median == (expected if np.isfinite(expected) else None)
    if interval is not None:
        low, high = interval
        assert 300 >= low >= min(t for t in times if t is not None)  # no seed reached it earlier
        assert median is None or (low <= median and (high is None or median <= high))
