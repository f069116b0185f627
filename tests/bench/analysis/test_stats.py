"""Paired differences, t intervals of a mean, and two-sample p-values (bench.analysis.stats)."""
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.analysis.stats import (column_means_ci95, init_differences, mean_ci95, optimizer_differences,
                         paired_difference, two_sample_p_value)
from tests.bench.fake_results import make_results


def test_mean_ci95_matches_the_t_interval():
    values = [0.91, 0.93, 0.92, 0.95]
    low, high = mean_ci95(values)
    expected = scipy_stats.t.interval(0.95, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (low, high) == pytest.approx(expected)


def test_mean_ci95_of_one_value_is_none_and_of_identical_values_is_a_point():
    assert mean_ci95([0.9]) is None
    assert mean_ci95([]) is None
    assert mean_ci95([0.9, None, float("nan")]) is None  # diverged seeds do not count
    assert mean_ci95([0.9, 0.9, 0.9]) == (0.9, 0.9)


def test_paired_interval_covers_a_known_shift_and_is_tighter_than_unpaired():
    rng = np.random.default_rng(0)
    seed_luck = rng.normal(0.9, 0.03, size=10)  # shared by both sides: pairing cancels it
    a = {seed: float(luck + 0.02 + rng.normal(0, 0.002)) for seed, luck in enumerate(seed_luck)}
    b = {seed: float(luck) for seed, luck in enumerate(seed_luck)}
    difference = paired_difference(a, b, a="adam", b="sgd")
    low, high = difference.ci95
    assert low < 0.02 < high
    assert difference.significant and difference.p_value < 0.05
    unpaired_width = np.diff(mean_ci95(list(a.values())))[0]
    assert high - low < unpaired_width / 5


def test_diverged_pairs_are_dropped_and_counted():
    a = {0: 0.95, 1: None, 2: 0.94, 3: 0.96, 4: 0.93}
    b = {0: 0.90, 1: 0.91, 2: None, 3: 0.92, 4: 0.90, 5: 0.88}  # seed 5: no partner, not a pair
    difference = paired_difference(a, b)
    assert difference.n_pairs == 3 and difference.n_dropped == 2
    assert difference.mean_difference == pytest.approx(np.mean([0.05, 0.04, 0.03]))


def test_one_pair_gives_a_mean_but_no_interval_and_zero_spread_no_nan():
    one = paired_difference({0: 0.9}, {0: 0.8})
    assert one.mean_difference == pytest.approx(0.1) and one.ci95 is None and one.p_value is None
    assert not one.significant
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = paired_difference({0: 0.75, 1: 0.5}, {0: 0.625, 1: 0.375})  # exact in binary
        rounded = paired_difference({0: 0.9, 1: 0.8}, {0: 0.8, 1: 0.7})  # differences off by 1e-16
        same = paired_difference({0: 0.9, 1: 0.8}, {0: 0.9, 1: 0.8})
    assert constant.p_value == 0.0 and constant.ci95 == (0.125, 0.125) and constant.significant
    assert rounded.p_value < 1e-10 and rounded.significant
    assert same.p_value == 1.0 and same.ci95 == (0.0, 0.0) and not same.significant


def test_two_sample_p_value_edge_cases_never_nan():
    assert two_sample_p_value([0.9, 0.9], [0.9, 0.9, 0.9]) == 1.0
    assert two_sample_p_value([0.9, 0.9], [0.8, 0.8]) == 0.0
    assert two_sample_p_value([0.9], [0.8]) is None
    assert two_sample_p_value([], [0.8, 0.9]) is None
    single_vs_many = two_sample_p_value([0.5], [0.90, 0.91, 0.92, 0.90])
    assert 0.0 <= single_vs_many < 0.01
    welch = two_sample_p_value([0.90, 0.91, 0.92], [0.90, 0.92, 0.93, 0.91, 0.94])
    assert welch == pytest.approx(scipy_stats.ttest_ind([0.90, 0.91, 0.92], [0.90, 0.92, 0.93, 0.91, 0.94],
                                                        equal_var=False).pvalue)


def test_column_bands_skip_missing_values():
    matrix = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, np.nan, np.nan]])
    mean, low, high = column_means_ci95(matrix)
    assert mean[:2] == pytest.approx([3.0, 2.0]) and np.isnan(mean[2])
    assert low[0] < 3.0 < high[0]
    assert np.isnan(low[1]) and np.isnan(high[2])  # one value: no band


def test_comparisons_are_against_the_best_and_find_the_synthetic_gaps():
    results = make_results()
    by_optimizer = optimizer_differences(results)
    assert {(d.held_fixed, d.a, d.b) for d in by_optimizer} == {
        ("init he_normal", "sgd", "adam"), ("init glorot_uniform", "sgd", "adam")}
    assert all(d.significant and d.mean_difference < 0 for d in by_optimizer)
    by_init = {(d.held_fixed, d.a): d for d in init_differences(results)}
    assert by_init[("optimizer sgd", "glorot_uniform")].b == "he_normal"
    single_seed = by_init[("optimizer adam", "orthogonal")]
    assert single_seed.n_pairs == 1 and single_seed.ci95 is None
