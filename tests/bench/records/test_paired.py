"""Exact tests of per-seed differences (bench.records.paired): sign flips that cannot go below
2/2^n, identical pairs that are never significant, TOST, and Tarone's rule before Holm."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench.records.paired import (discrete_holm, equivalence_p, is_identical, minimum_detectable_difference,
                                  sign_flip_p, smallest_p, tarone_family, two_sample_p)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_a_constant_difference_is_never_p_zero_but_two_over_two_to_the_n(n):
    three_examples = np.full(n, 3 / 270)
    assert sign_flip_p(three_examples) == pytest.approx(min(1.0, 2 / 2 ** n))
    assert sign_flip_p(three_examples, "greater") == pytest.approx(1 / 2 ** n)
    assert smallest_p(three_examples) == pytest.approx(min(1.0, 2 / 2 ** n))


def test_identical_pairs_are_p_one_whatever_float_rounding_did():
    assert sign_flip_p([0.0, 0.0, 0.0]) == 1.0
    assert sign_flip_p([1e-8, -3e-8, 2e-9, 0.0]) == 1.0 and is_identical([1e-8, -3e-8])
    assert smallest_p([1e-8, -3e-8]) == 1.0 and not is_identical([1 / 270, 0.0])


def test_the_sign_flip_test_is_scipys_and_runs_batched():
    rng = np.random.default_rng(1)
    batch = rng.normal(0.01, 0.02, size=(50, 8))
    found = sign_flip_p(batch)
    one_by_one = [scipy_stats.permutation_test((row,), np.mean, permutation_type="samples",
                                               n_resamples=np.inf).pvalue for row in batch]
    assert found.shape == (50,) and found == pytest.approx(one_by_one)


def test_equivalence_needs_enough_seeds_and_a_difference_well_inside_delta():
    close = np.array([0.001, -0.002, 0.0, 0.001, 0.003, -0.001, 0.0, 0.002])
    assert equivalence_p(close, 0.01) == pytest.approx(1 / 256)  # every d inside ±0.01 on every seed
    assert equivalence_p(close[:4], 0.01) == pytest.approx(1 / 16)  # four seeds cannot reach 0.05
    assert equivalence_p(close + 0.03, 0.01) == 1.0  # three points off: never equivalent


def test_two_independent_samples():
    assert two_sample_p([0.9, 0.91, 0.92, 0.93], [0.8, 0.81, 0.82, 0.83]) == pytest.approx(2 / 70)
    assert two_sample_p([0.9, 0.91], [0.9, 0.91]) == 1.0


def test_tarone_keeps_only_tests_that_could_reach_the_level():
    # two identical cells (smallest p 1) and three of eight pairs (2/256): those three are the family
    smallest = [1.0, 1.0, 2 / 256, 2 / 256, 2 / 256]
    assert tarone_family(smallest) == [2, 3, 4]
    adjusted = discrete_holm([1.0, 1.0, 2 / 256, 0.3, 0.1], smallest)
    assert adjusted[:2] == [None, None] and adjusted[2] == pytest.approx(3 * 2 / 256)
    # ten cells of two pairs each (smallest p 1/2) can never be significant: no family at all
    assert tarone_family([0.5] * 10) == []


def test_minimum_detectable_difference():
    mdd = minimum_detectable_difference(0.01, 8, 0.05)
    assert 0.005 < mdd < 0.015  # about (z_0.95 + z_0.8) x 0.01 / sqrt(8), a bit more for t
    assert minimum_detectable_difference(0.01, 32, 0.05) < mdd
    assert minimum_detectable_difference(0.01, 4, 0.05) is None  # 1/16 > 0.05: nothing detectable
    assert minimum_detectable_difference(0.01, 8, 0.001, reachable_at=0.05) is not None
