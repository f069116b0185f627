"""Statistics (bench.analysis.stats): paired and unpaired differences, Holm's correction, bands
over curves, and the report's families of comparisons."""
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.analysis.stats import (column_means_ci95, holm, init_differences, optimizer_differences, paired,
                                  paired_difference, unpaired)
from tests.bench.fake_results import make_results, resummarize


def test_paired_interval_covers_a_known_shift_and_is_tighter_than_unpaired():
    rng = np.random.default_rng(0)
    seed_luck = rng.normal(0.9, 0.03, size=10)  # shared by both sides: pairing cancels it
    a = {seed: float(luck + 0.02 + rng.normal(0, 0.002)) for seed, luck in enumerate(seed_luck)}
    b = {seed: float(luck) for seed, luck in enumerate(seed_luck)}
    found = paired(a, b)
    assert found.test == "paired t" and found.interval[0] < 0.02 < found.interval[1]
    assert found.p_value == pytest.approx(scipy_stats.ttest_rel(list(a.values()), list(b.values())).pvalue)
    welch = unpaired(list(a.values()), list(b.values()))
    assert welch.test == "Welch t" and welch.p_value > 0.05
    assert np.diff(found.interval)[0] < np.diff(welch.interval)[0] / 5


def test_seeds_on_one_side_only_are_no_pairs():
    found = paired({0: 0.95, 1: 0.90, 2: 0.94}, {0: 0.90, 1: 0.91, 2: 0.92, 5: 0.88})
    assert found.n_pairs == 3 and found.mean == pytest.approx(np.mean([0.05, -0.01, 0.02]))


def test_one_pair_gives_a_mean_but_no_interval_and_zero_spread_no_nan():
    one = paired_difference({0: 0.9}, {0: 0.8})
    assert one.mean_difference == pytest.approx(0.1) and one.ci95 is None and one.p_value is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = paired({0: 0.75, 1: 0.5}, {0: 0.625, 1: 0.375})  # exact in binary
        rounded = paired({0: 0.9, 1: 0.8}, {0: 0.8, 1: 0.7})  # differences off by 1e-16
        same = paired({0: 0.9, 1: 0.8}, {0: 0.9, 1: 0.8})
    assert constant.p_value == 0.0 and constant.interval == (0.125, 0.125)
    assert rounded.p_value < 1e-10
    assert same.p_value == 1.0 and same.interval == (0.0, 0.0)


def test_unpaired_edge_cases_never_nan():
    assert unpaired([0.9, 0.9], [0.9, 0.9, 0.9]).p_value == 1.0
    assert unpaired([0.9, 0.9], [0.8, 0.8]).p_value == 0.0
    assert unpaired([0.9], [0.8]).p_value is None
    assert unpaired([], [0.8, 0.9]).mean is None
    single = unpaired([0.5], [0.90, 0.91, 0.92, 0.90])
    assert single.test == "pooled t" and 0.0 <= single.p_value < 0.01


def test_holm_matches_the_step_down_rule_and_skips_untestable_comparisons():
    adjusted = holm([0.01, None, 0.04, 0.03])
    # sorted 0.01, 0.03, 0.04 over 3 tests: 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert adjusted == pytest.approx([0.03, None, 0.06, 0.06])
    assert holm([None, None]) == [None, None]


def test_column_bands_skip_missing_values():
    matrix = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, np.nan, np.nan]])
    mean, low, high = column_means_ci95(matrix)
    assert mean[:2] == pytest.approx([3.0, 2.0]) and np.isnan(mean[2])
    assert low[0] < 3.0 < high[0]
    assert np.isnan(low[1]) and np.isnan(high[2])  # one value: no band


def test_comparisons_are_against_the_validation_leader_holm_corrected_per_family():
    results = make_results()
    by_optimizer = optimizer_differences(results)
    assert {(d.held_fixed, d.a, d.b) for d in by_optimizer} == {
        ("init he_normal", "sgd", "adam"), ("init glorot_uniform", "sgd", "adam")}
    assert all(d.significant and d.mean_difference < 0 and d.family_size == 2 for d in by_optimizer)
    assert all(d.p_holm >= d.p_value for d in by_optimizer)
    by_init = {(d.held_fixed, d.a): d for d in init_differences(results)}
    assert by_init[("optimizer sgd", "glorot_uniform")].b == "he_normal"
    single_seed = by_init[("optimizer adam", "orthogonal")]
    assert single_seed.n_pairs == 1 and single_seed.ci95 is None and single_seed.p_holm is None
    assert single_seed.family_size == 2  # the untestable comparison is not part of the family


def test_failed_seeds_count_in_the_paired_differences():
    results = make_results(single_seed_pairs=())
    for run in results["runs"]:  # two of sgd's evaluation seeds under he_normal go non-finite
        if (run["optimizer"], run["init"], run["phase"]) == ("sgd", "he_normal", "evaluation") and run["seed"] < 1002:
            run.update(final_test_accuracy=None, final_val_accuracy=None, failed=True, failure="non-finite",
                       diverged=True, steps_to_target=None, examples_to_target=None)
    (difference,) = [d for d in optimizer_differences(resummarize(results)) if d.held_fixed == "init he_normal"]
    assert difference.n_pairs == 4  # no seed dropped
    assert difference.mean_difference < -0.3  # two seeds at chance (0.1) against adam's ~0.95
