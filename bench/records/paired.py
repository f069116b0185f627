"""Tests of per-seed differences that few seeds cannot fool, all from scipy and statsmodels.

Seeds are paired: the same seed starts every method from the same parameters and feeds it the
same batches, so a comparison of two methods is a question about the per-seed differences
d_s = a(seed s) - b(seed s).

- **Identical.** Differences all within IDENTICAL_TOLERANCE of 0 are *identical* pairs (the same
  number of examples right on every seed; float32 rounding of a count is far below one example
  of any data set under a million): nothing was observed that any test could call different,
  and the test is not run (its p-value is 1). Only identical pairs give a zero-variance
  difference a verdict without a test, and it reads "identical", never "significant".
- **Exact sign-flip test** (Fisher's randomization test, `scipy.stats.permutation_test` with one
  sample, `permutation_type="samples"`): under "no difference" each d_s is as likely to be
  +|d_s| as -|d_s|, so the mean of d is compared with its mean under all 2^n sign patterns. It is
  exact whatever the distribution of d (bounded, bimodal, quantized to 1/n_test), and it cannot
  go below p = 1/2^n one-sided, 2/2^n two-sided: two seeds never give p < 0.5. With more than
  EXACT_MAX_PAIRS pairs, RANDOM_PATTERNS random sign patterns (a fixed generator) stand in for
  all of them.
- **Two independent samples** (no shared seeds): the same with the samples' labels permuted
  (`permutation_type="independent"`).
- **Equivalence within ±delta** (two one-sided tests, TOST): p = the larger of the sign-flip
  p-values of "mean d > -delta" (on d + delta) and "mean d < +delta" (on d - delta).
- **Corrections for discrete tests.** A test of n pairs cannot reach p below its smallest
  possible p-value (`smallest_p`), which depends on the |d_s| alone. Tarone (1990): a family
  tested at level alpha keeps only the K tests whose smallest possible p is <= alpha / K (the
  least such K); the others could never be significant, and leaving them out is what lets a
  suite of many identical cells still find the one that moved. Holm over the kept tests.
- **What a table can see** (`minimum_detectable_difference`): the difference a one-sided test
  at `alpha` detects with 80% power at n pairs (statsmodels' `TTestPower`), in units of the
  spread of the per-seed differences; None (nothing detectable) when the exact test's smallest
  possible p is above `alpha`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from bench.imports import LazyModule
from bench.records.estimators import quiet_numerics

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

FAMILY_ALPHA = 0.05
IDENTICAL_TOLERANCE = 1e-6
EXACT_MAX_PAIRS = 16
RANDOM_PATTERNS = 9999
PERMUTATION_SEED = 0
POWER = 0.8
# How many permuted statistics one batch of scipy's permutation_test may hold (memory, not speed).
_BATCH_VALUES = 4_000_000


def _mean(values, axis=-1):
    return np.mean(values, axis=axis)


def _mean_difference(first, second, axis=-1):
    return np.mean(first, axis=axis) - np.mean(second, axis=axis)


def is_identical(differences) -> np.ndarray | bool:
    """True where every difference (along the last axis) is within IDENTICAL_TOLERANCE of 0."""
    d = np.asarray(differences, dtype=float)
    return np.all(np.abs(d) <= IDENTICAL_TOLERANCE, axis=-1)


def sign_flip_p(differences, alternative: str = "two-sided", null: float = 0.0):
    """The sign-flip p-value of "mean difference = `null`" (see the module docstring).

    `differences`: one sample (n,) or a batch (..., n) of samples, tested along the last axis
    (one call for thousands of tables or simulated repetitions). `alternative`: "two-sided",
    "greater" (mean > null) or "less". Differences within IDENTICAL_TOLERANCE of `null` count as
    exactly `null` (float rounding is not evidence). Returns a float, or an array of the batch's
    shape.
    """
    d = np.asarray(differences, dtype=float) - null
    d = np.where(np.abs(d) <= IDENTICAL_TOLERANCE, 0.0, d)
    n = d.shape[-1]
    if n == 0:
        raise ValueError("a sign-flip test needs at least one pair")
    if n == 1:  # two patterns, +|d| and -|d| (scipy wants two pairs): p is 1/2 at best
        value = d[..., 0]
        p = {"two-sided": np.ones_like(value), "greater": np.where(value > 0, 0.5, 1.0),
             "less": np.where(value < 0, 0.5, 1.0)}[alternative]
        return float(p) if p.ndim == 0 else p
    exact = n <= EXACT_MAX_PAIRS
    patterns = 2 ** n if exact else RANDOM_PATTERNS
    rows = max(1, int(np.prod(d.shape[:-1])))
    with quiet_numerics():
        result = scipy_stats.permutation_test(
            (d,), _mean, permutation_type="samples", vectorized=True, alternative=alternative,
            n_resamples=np.inf if exact else RANDOM_PATTERNS, axis=-1,
            batch=max(1, min(patterns, _BATCH_VALUES // (rows * n))),
            rng=np.random.default_rng(PERMUTATION_SEED))
    p = np.minimum(np.asarray(result.pvalue, dtype=float), 1.0)
    return float(p) if p.ndim == 0 else p


def two_sample_p(a, b, alternative: str = "two-sided", null: float = 0.0) -> float:
    """Permutation p-value of "mean(a) - mean(b) = `null`" for independent samples (labels
    permuted; exact where there are at most 100,000 arrangements)."""
    a = np.asarray(a, dtype=float) - null
    b = np.asarray(b, dtype=float)
    arrangements = math.comb(a.size + b.size, a.size)
    with quiet_numerics():
        result = scipy_stats.permutation_test(
            (a, b), _mean_difference, permutation_type="independent", vectorized=True,
            alternative=alternative, n_resamples=np.inf if arrangements <= 100_000 else RANDOM_PATTERNS,
            rng=np.random.default_rng(PERMUTATION_SEED))
    return float(min(result.pvalue, 1.0))


def equivalence_p(differences, delta: float):
    """TOST p-value of "|mean difference| < delta" (paired; batched as `sign_flip_p`)."""
    above = sign_flip_p(differences, "greater", null=-delta)
    below = sign_flip_p(differences, "less", null=delta)
    return np.maximum(above, below) if isinstance(above, np.ndarray) else max(above, below)


def two_sample_equivalence_p(a, b, delta: float) -> float:
    """TOST p-value of "|mean(a) - mean(b)| < delta" for independent samples."""
    return max(two_sample_p(a, b, "greater", null=-delta), two_sample_p(a, b, "less", null=delta))


def smallest_p(differences, alternative: str = "two-sided", null: float = 0.0):
    """The smallest p-value `sign_flip_p` could give for these |differences|: 1 / 2^k one-sided,
    2 / 2^k two-sided, k the pairs whose difference is not `null` (1 when k = 0); with more than
    EXACT_MAX_PAIRS pairs, that of the random patterns."""
    d = np.asarray(differences, dtype=float) - null
    moved = np.sum(np.abs(d) > IDENTICAL_TOLERANCE, axis=-1)
    sides = 2.0 if alternative == "two-sided" else 1.0
    if d.shape[-1] > EXACT_MAX_PAIRS:
        floor = sides / (RANDOM_PATTERNS + 1)
        found = np.where(moved > 0, floor, 1.0)
    else:
        found = np.minimum(1.0, sides * np.power(0.5, moved))
    return float(found) if np.ndim(found) == 0 else found


def smallest_two_sample_p(n_a: int, n_b: int, alternative: str = "two-sided") -> float:
    """The smallest p-value `two_sample_p` could give for samples of these sizes (no ties)."""
    sides = 2.0 if alternative == "two-sided" else 1.0
    return min(1.0, sides / math.comb(n_a + n_b, n_a))


def tarone_family(smallest: Sequence[float], alpha: float = FAMILY_ALPHA) -> list[int]:
    """Indices of the tests Tarone's rule keeps: the least K such that at most K tests have a
    smallest possible p <= alpha / K, and those tests (see the module docstring)."""
    smallest = list(smallest)
    for size in range(1, len(smallest) + 1):
        kept = [index for index, value in enumerate(smallest) if value <= alpha / size]
        if len(kept) <= size:
            return kept
    return []


def holm(p_values: Sequence[float | None], alpha: float = FAMILY_ALPHA) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values of one family (`statsmodels`' multipletests); None
    entries (untestable comparisons) are not part of the family and stay None."""
    tested = [index for index, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not tested:
        return adjusted
    from statsmodels.stats.multitest import multipletests  # slow to import: only when needed

    corrected = multipletests([p_values[i] for i in tested], alpha=alpha, method="holm")[1]
    for index, value in zip(tested, corrected):
        adjusted[index] = float(value)
    return adjusted


def discrete_holm(p_values: Sequence[float], smallest: Sequence[float], alpha: float = FAMILY_ALPHA
                  ) -> list[float | None]:
    """Holm-adjusted p-values over the tests Tarone's rule keeps (`tarone_family`); None for the
    tests it leaves out (they could not reach significance at the family's level)."""
    kept = set(tarone_family(smallest, alpha))
    return holm([p if index in kept else None for index, p in enumerate(p_values)], alpha)


def minimum_detectable_difference(spread: float, n: int, alpha: float, power: float = POWER,
                                  reachable_at: float | None = None) -> float | None:
    """The smallest true mean difference a one-sided test of `n` pairs at level `alpha` detects
    with probability `power`, for per-seed differences of standard deviation `spread`
    (statsmodels' `TTestPower`). None where nothing is detectable: fewer than two pairs, or an
    exact test whose smallest possible p (1 / 2^n) is above `alpha` (above `reachable_at`, for a
    procedure whose tests reach further than `alpha`, as a max-T test does)."""
    if n < 2 or 0.5 ** n > (alpha if reachable_at is None else reachable_at) or not np.isfinite(spread):
        return None
    from statsmodels.stats.power import TTestPower

    with quiet_numerics():
        effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                          alternative="larger")
    return float(effect * spread)
