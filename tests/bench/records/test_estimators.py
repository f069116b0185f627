"""The estimators of a summary row (bench.records.estimators): bootstrap intervals that are never
clipped, the interval over seeds and test examples, the Kaplan-Meier median of censored steps to
target and the evaluation interval it stands for."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as scipy_stats

from bench.records.estimators import (BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_interval, censored_median,
                                      grid_bounds, mean_ci95, task_interval)
from bench.records.summary import summarize
from tests.bench.fake_results import hand_made_runs

# the sgd cell: seven seeds near 0.97, one collapsed to 0.26
COLLAPSED = [0.26, 0.97, 0.97, 0.98, 0.97, 0.96, 0.97, 0.97]


def test_a_bimodal_sample_gets_an_unclipped_asymmetric_bootstrap_interval():
    low_t, high_t = mean_ci95(COLLAPSED)
    assert high_t > 1.0  # the trap: a t interval runs past what an accuracy can be
    low, high = bootstrap_interval(COLLAPSED)
    mean = np.mean(COLLAPSED)
    assert min(COLLAPSED) <= low < mean < high <= max(COLLAPSED) < 1.0  # inside by construction
    assert mean - low > 1.5 * (high - mean)  # the collapse stretches the lower side
    expected = scipy_stats.bootstrap((np.array(COLLAPSED),), np.mean, method="percentile",
                                     n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED))
    assert (low, high) == pytest.approx(tuple(expected.confidence_interval))  # scipy's, untouched


def test_bootstrap_interval_edge_cases():
    assert bootstrap_interval([0.9]) is None and bootstrap_interval([]) is None
    assert bootstrap_interval([0.9, 0.9, 0.9]) == (0.9, 0.9)
    assert bootstrap_interval([0.1, 0.1, None, float("nan")]) == (0.1, 0.1)  # non-finite dropped


def test_the_task_interval_adds_the_test_sets_own_error():
    # seeds that agree exactly: no spread over seeds, but 270 test examples still move 0.98 by about
    # 1.96 * sqrt(0.98 * 0.02 / 270) = 0.0167 either way
    seeds = [0.98] * 8
    assert bootstrap_interval(seeds) == (0.98, 0.98)
    low, high = task_interval(seeds, 270)
    assert 0.98 - low == pytest.approx(0.0167, abs=0.004) and high - 0.98 == pytest.approx(0.0167, abs=0.004)
    wide = task_interval(COLLAPSED, 270)
    narrow = bootstrap_interval(COLLAPSED)
    assert wide[0] <= narrow[0] and wide[1] >= narrow[1] and 0.0 <= wide[0] and wide[1] <= 1.0
    assert task_interval(seeds, None) is None and task_interval([0.9], 270) is None


@pytest.mark.parametrize("median, bounds", [
    (75, (50, 75)),       # first seen at 75: crossed after the evaluation at 50
    (25, (0, 25)),        # at the first evaluation: anywhere since the start
    (112.5, (75, 125)),   # the midpoint of 100 and 125: from after 75 to 125
    (None, None),
])
def test_a_median_on_the_evaluation_grid_stands_for_an_interval(median, bounds):
    assert grid_bounds(median, range(25, 301, 25)) == bounds


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(1, 12).map(lambda k: 25 * k)), min_size=1, max_size=8))
def test_no_speed_interval_is_narrower_than_the_evaluation_grid(times):
    runs = hand_made_runs([0.96] * len(times), times)
    (row,) = summarize(runs, {}, num_classes={"digits-mlp": 10}, intervals=False)
    for key in ("steps_to_target_median_interval", "steps_to_target_ci95"):
        interval = row[key]
        if interval is not None and interval[1] is not None:
            assert interval[1] - interval[0] >= 25, (key, interval)
    if row["steps_to_target_median"] is not None:
        low, high = row["steps_to_target_median_interval"]
        assert low < row["steps_to_target_median"] <= high


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
