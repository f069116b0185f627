"""Statistics (bench.analysis.stats): paired and unpaired differences with exact tests and
bootstrap intervals, Holm's correction, bands over curves, and the report's comparison tables."""
import warnings

import numpy as np
import pytest

from bench.analysis.stats import (EQUIVALENT, IDENTICAL, INCONCLUSIVE, WORSE, column_means_ci95, holm, paired,
                                  table_comparisons, unpaired)
from tests.bench.fake_results import make_results, resummarize


def test_paired_interval_covers_a_known_shift_and_is_tighter_than_unpaired():
    rng = np.random.default_rng(0)
    seed_luck = rng.normal(0.9, 0.03, size=10)  # shared by both sides: pairing cancels it
    a = {seed: float(luck + 0.02 + rng.normal(0, 0.002)) for seed, luck in enumerate(seed_luck)}
    b = {seed: float(luck) for seed, luck in enumerate(seed_luck)}
    found = paired(a, b)
    assert found.test == "exact sign-flip" and found.interval[0] < 0.02 < found.interval[1]
    assert found.p_value == pytest.approx(2 / 2 ** 10)  # every one of 10 differences positive
    independent = unpaired(list(a.values()), list(b.values()))
    assert independent.p_value > 0.05
    assert np.diff(found.interval)[0] < np.diff(independent.interval)[0] / 5


def test_seeds_on_one_side_only_are_no_pairs():
    found = paired({0: 0.95, 1: 0.90, 2: 0.94}, {0: 0.90, 1: 0.91, 2: 0.92, 5: 0.88})
    assert found.n_pairs == 3 and found.mean == pytest.approx(np.mean([0.05, -0.01, 0.02]))


def test_zero_spread_is_identical_or_exact_never_p_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = paired({0: 0.75, 1: 0.5}, {0: 0.625, 1: 0.375})
        same = paired({0: 0.9, 1: 0.8}, {0: 0.9, 1: 0.8})
        one = paired({0: 0.9}, {0: 0.8})
    assert constant.p_value == 0.5 and constant.interval == (0.125, 0.125)  # 2 / 2^2, not 0
    assert same.identical and same.p_value == 1.0 and same.interval == (0.0, 0.0)
    assert one.mean == pytest.approx(0.1) and one.interval is None and one.p_value == 1.0


def test_unpaired_edge_cases_never_nan():
    assert unpaired([0.9, 0.9], [0.9, 0.9, 0.9]).p_value == 1.0
    assert unpaired([0.9, 0.9], [0.8, 0.8]).p_value == pytest.approx(2 / 6)  # C(4, 2) arrangements
    assert unpaired([0.9], [0.8]).p_value is None
    assert unpaired([], [0.8, 0.9]).mean is None
    single = unpaired([0.5], [0.90, 0.91, 0.92, 0.90])
    assert single.interval is None and single.p_value is None and single.test == "none"


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


def test_each_configuration_against_its_tables_top():
    results = make_results(evaluation_seeds=8, single_seed_pairs=())
    found = {(table.title, difference.a): difference for table in table_comparisons(results)
             for difference in table.differences}
    # adam leads sgd by about 3 points under each init: outside the best set, with 8 seeds
    worse = found[("init he_normal", "sgd")]
    assert worse.b == "adam" and worse.verdict == WORSE and worse.mean_difference < -0.02
    assert worse.ci95[0] < worse.mean_difference < worse.ci95[1] < 0 and worse.p_value <= 0.05
    tables = {table.title: table for table in table_comparisons(results)}
    assert tables["every (optimizer, init)"].top == ("digits-mlp", "adam", "he_normal")


def test_equivalent_identical_and_inconclusive_verdicts():
    results = make_results(evaluation_seeds=8, single_seed_pairs=())
    twin = {(r["init"], r["seed"]): r["final_test_accuracy"] for r in results["runs"]
            if r["phase"] == "evaluation" and r["optimizer"] == "adam"}
    for run in results["runs"]:  # sgd's test accuracy: adam's, within half a test example, or equal
        if run["phase"] == "evaluation" and run["optimizer"] == "sgd":
            offset = 0.0 if run["init"] == "he_normal" else (0.001 if run["seed"] % 2 else -0.001)
            run["final_test_accuracy"] = twin[(run["init"], run["seed"])] + offset
    found = {(table.title, frozenset((difference.a, difference.b))): difference
             for table in table_comparisons(resummarize(results)) for difference in table.differences}
    both = frozenset(("sgd", "adam"))
    assert found[("init he_normal", both)].verdict == IDENTICAL  # which of the two is "top" means nothing
    assert found[("init glorot_uniform", both)].verdict == EQUIVALENT
    four = make_results(evaluation_seeds=4, single_seed_pairs=())
    assert {d.verdict for table in table_comparisons(four) for d in table.differences} == {INCONCLUSIVE}


def test_failed_seeds_count_in_the_paired_differences():
    results = make_results(single_seed_pairs=(), evaluation_seeds=8)
    for run in results["runs"]:  # two of sgd's evaluation seeds under he_normal go non-finite
        if (run["optimizer"], run["init"], run["phase"]) == ("sgd", "he_normal", "evaluation") and run["seed"] < 1002:
            run.update(final_test_accuracy=None, final_val_accuracy=None, failed=True, failure="non-finite",
                       diverged=True, steps_to_target=None, examples_to_target=None)
    tables = {table.title: table for table in table_comparisons(resummarize(results))}
    (difference,) = tables["init he_normal"].differences
    assert difference.n_pairs == 8  # no seed dropped
    assert difference.mean_difference < -0.2  # two seeds at chance (0.1) against adam's ~0.95
