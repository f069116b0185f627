"""Statistics over seeds for the report and `compare`, from scipy and statsmodels: differences
with their intervals and exact tests, the report's comparison tables, and bands over curves.

Seeds are paired: for a given (seed, init) every optimizer and configuration starts from the
same parameters and sees the same batches (docs/results-format.md). So "is optimizer A better
than B under init X?" is a question about the per-seed differences A(seed) - B(seed), which
cancel the seed's luck. The tests themselves live one layer down (`bench.records.paired`, shared
with the best sets of `bench.records.verdicts`), and are importable here too.

Conventions, relied on by the report and compare (docs/methodology.md):
- Every value is counted: a failed run enters with the accuracy it measured, or chance
  (`bench.records.values.counted_accuracy`); nothing is dropped from a mean or a difference.
- A difference comes with its mean, a 95% bootstrap interval (never clipped), and an exact
  sign-flip p-value; pairs that are bit-identical are "identical" (p = 1), never "significant",
  and a constant non-zero difference of n pairs gets p = 2/2^n, not 0.
- The report's tables: each (optimizer, init) at its chosen configuration is judged on its
  evaluation seeds against the configuration with the highest test mean of its table. "Worse"
  comes from the table's best set (Hsu's multiple comparisons with the best,
  `bench.records.verdicts`); "equivalent within ±delta" from two one-sided tests, Holm-corrected
  over the table's comparisons; "inconclusive" otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# The estimators of a summary row and the tests live below, in bench.records; they are part of
# this module's API too (docs/reports.md, "Best sets and paired statistics").
from bench.imports import LazyModule
from bench.records.estimators import (CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,  # noqa: F401
                                      bootstrap_interval, censored_median, mean_ci95, quiet_numerics)
from bench.records.paired import (FAMILY_ALPHA, IDENTICAL_TOLERANCE, discrete_holm, equivalence_p, holm,  # noqa: F401
                                  is_identical, minimum_detectable_difference, sign_flip_p, smallest_p,
                                  smallest_two_sample_p, tarone_family, two_sample_equivalence_p,
                                  two_sample_p)
from bench.records.queries import task_settings
from bench.records.verdicts import BestSet, accuracies_by_pair, best_set, tables

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

# The margin of "equivalent within ±delta": one point of accuracy (3 test examples on digits).
DELTA = 0.01
# A difference of fewer test examples than this is below what the test set can resolve.
RESOLUTION_EXAMPLES = 3
SIGN_FLIP = "exact sign-flip"
TWO_SAMPLE = "permutation (independent)"


# -- differences --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """mean of (a - b) with its bootstrap interval and two-sided p-value; `test` names how it was
    tested ("exact sign-flip", "permutation (independent)", "identical" or "none")."""

    mean: float | None
    interval: tuple[float, float] | None
    p_value: float | None
    test: str
    n_a: int
    n_b: int
    n_pairs: int = 0
    smallest_p: float = 1.0          # the smallest p-value this test could give (Tarone)

    @property
    def identical(self) -> bool:
        return self.test == "identical"


def paired(a_by_seed: dict, b_by_seed: dict, confidence: float = CONFIDENCE) -> Difference:
    """a - b over the seeds both sides ran: the mean difference, its percentile bootstrap
    interval, and the exact two-sided sign-flip p-value (`bench.records.paired.sign_flip_p`).

    Identical pairs (every |a - b| within IDENTICAL_TOLERANCE) give p = 1 and test "identical";
    a seed on one side only is no pair; one pair gives a mean, no interval, and p = 1 (a sign
    flip of one difference proves nothing).
    """
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    differences = np.array([a_by_seed[seed] - b_by_seed[seed] for seed in seeds], dtype=float)
    count = len(seeds)
    if not count:
        return Difference(None, None, None, "none", 0, 0, 0)
    mean = float(differences.mean())
    if is_identical(differences):
        return Difference(mean, (mean, mean) if count >= 2 else None, 1.0, "identical", count, count, count)
    interval = bootstrap_interval(differences, confidence)
    return Difference(mean, interval, sign_flip_p(differences), SIGN_FLIP, count, count, count,
                      smallest_p=smallest_p(differences))


def unpaired(a, b, confidence: float = CONFIDENCE) -> Difference:
    """mean(a) - mean(b) for independent samples: the two-sample permutation p-value (labels
    permuted, exact where the arrangements are few) and the percentile bootstrap interval of the
    difference (each sample resampled on its own). A side with one value: no test (one run says
    nothing of its spread)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size:
        return Difference(None, None, None, "none", a.size, b.size)
    mean = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Difference(mean, None, None, "none", a.size, b.size)
    interval = None
    if a.size >= 2 and b.size >= 2 and not (np.ptp(a) == 0 and np.ptp(b) == 0):
        with quiet_numerics():
            result = scipy_stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                           vectorized=True, method="percentile", confidence_level=confidence,
                                           n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED))
        interval = (float(result.confidence_interval.low), float(result.confidence_interval.high))
    elif a.size >= 2 and b.size >= 2:
        interval = (mean, mean)
    return Difference(mean, interval, two_sample_p(a, b), TWO_SAMPLE, a.size, b.size,
                      smallest_p=smallest_two_sample_p(a.size, b.size))


# -- the report's comparison tables --------------------------------------------------------------

WORSE, EQUIVALENT, INCONCLUSIVE, IDENTICAL = "worse", "equivalent", "inconclusive", "identical"


@dataclass(frozen=True)
class PairedDifference:
    """Test accuracy of `a` minus that of `b`, the configuration with the highest test mean of
    the table, over the evaluation seeds, each at its configuration chosen on validation."""

    task: str
    held_fixed: str            # what both sides share, e.g. "init he_normal", "optimizer adam", "—"
    a: str
    b: str
    mean_difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None      # max-T p-value of "a is the best of its table" (`bench.records.verdicts`)
    n_pairs: int
    p_equivalence: float | None = None        # TOST, uncorrected
    p_equivalence_holm: float | None = None   # TOST, Holm over the table's comparisons
    verdict: str = INCONCLUSIVE
    worse_than: str | None = None             # who shows it worse (from the best set)
    delta: float = DELTA
    resolution: float | None = None           # RESOLUTION_EXAMPLES / test examples
    n_test: int | None = None

    @property
    def significant(self) -> bool:
        """Shown worse than another configuration of its table (outside the best set)."""
        return self.verdict == WORSE

    @property
    def below_resolution(self) -> bool:
        """Smaller than a few test examples: too small to claim whatever its p-value."""
        return (self.resolution is not None and self.mean_difference is not None
                and abs(self.mean_difference) < self.resolution)


@dataclass(frozen=True)
class TableComparison:
    """One comparison table of the report: its best set and each configuration against its top."""

    task: str
    held_fixed: dict
    labels: dict               # (task, optimizer, init) -> its name in this table
    found: BestSet
    top: tuple                 # the configuration with the highest test mean
    differences: list          # PairedDifference of every other configuration against the top
    delta: float = DELTA

    @property
    def title(self) -> str:
        return held_fixed_text(self.held_fixed)


def held_fixed_text(held_fixed: dict) -> str:
    """{"init": "he_normal"} -> "init he_normal"; {} -> "every (optimizer, init)"."""
    return " ".join(f"{kind} {name}" for kind, name in held_fixed.items()) or "every (optimizer, init)"


def label_of(pair: tuple, held_fixed: dict) -> str:
    """A configuration's name within its table: what varies."""
    _, optimizer, init = pair
    if "init" in held_fixed:
        return optimizer
    if "optimizer" in held_fixed:
        return init
    return f"{optimizer}/{init}"


def table_comparisons(results: dict, delta: float = DELTA, level: float = FAMILY_ALPHA
                      ) -> list[TableComparison]:
    """Every comparison table of `results` (`bench.records.verdicts.tables`): its best set, and
    each configuration against the table's top (see the module docstring)."""
    found_tables, by_task = [], {}
    for task, held_fixed, pairs in tables(results):
        if task not in by_task:
            by_task[task] = accuracies_by_pair(results, task)
        n_test = task_settings(results, task).get("n_test")
        by_key = {pair: by_task[task][pair] for pair in pairs if by_task[task][pair]}
        if len(by_key) < 2:
            continue
        found = best_set(by_key, level, resolution=1.0 / n_test if n_test else None)
        labels = {pair: label_of(pair, held_fixed) for pair in by_key}
        top = max(by_key, key=lambda pair: found.means[pair])
        differences = _against_top(task, held_fixed, by_key, top, found, labels, delta, level, n_test)
        found_tables.append(TableComparison(task, held_fixed, labels, found, top, differences, delta))
    return found_tables


def _against_top(task, held_fixed, by_key, top, found, labels, delta, level, n_test) -> list[PairedDifference]:
    rows, equivalence = [], []
    for pair in by_key:
        if pair == top:
            continue
        difference = paired(by_key[pair], by_key[top])
        seeds = sorted(set(by_key[pair]) & set(by_key[top]))
        d = np.array([by_key[pair][seed] - by_key[top][seed] for seed in seeds])
        one_sided = found.p_values.get(pair)
        # identical pairs need no test of equivalence, and are not part of its family
        tost = equivalence_p(d, delta) if len(seeds) and not difference.identical else None
        equivalence.append(tost)
        rows.append((pair, difference, one_sided, tost))
    adjusted = holm(equivalence, level)
    found_rows = []
    for (pair, difference, one_sided, tost), tost_holm in zip(rows, adjusted):
        why = found.worse.get(pair)
        if difference.identical:
            verdict = IDENTICAL
        elif why is not None:
            verdict = WORSE
        elif tost_holm is not None and tost_holm <= level:
            verdict = EQUIVALENT
        else:
            verdict = INCONCLUSIVE
        found_rows.append(PairedDifference(
            task=task, held_fixed=held_fixed_text(held_fixed), a=labels[pair], b=labels[top],
            mean_difference=difference.mean, ci95=difference.interval,
            p_value=None if one_sided is None else float(one_sided), n_pairs=difference.n_pairs,
            p_equivalence=tost, p_equivalence_holm=tost_holm, verdict=verdict,
            worse_than=labels[why.better] if why is not None else None, delta=delta,
            resolution=RESOLUTION_EXAMPLES / n_test if n_test else None, n_test=n_test))
    return found_rows


def column_means_ci95(matrix, confidence: float = CONFIDENCE):
    """Per column of a (runs x steps) array with NaN for missing values: (mean, low, high), the
    t band of a plotted curve (a picture of the spread, not a verdict).

    A column with no finite value has a NaN mean; with fewer than two, NaN bounds (no band).
    """
    matrix = np.asarray(matrix, dtype=float)
    counts = np.isfinite(matrix).sum(axis=0)
    with quiet_numerics():  # all-NaN and single-value columns, masked below
        mean = np.nanmean(matrix, axis=0)
        standard_error = np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(counts)
        low, high = scipy_stats.t.interval(confidence, np.maximum(counts - 1, 1), loc=mean, scale=standard_error)
    no_band = (counts < 2) | ~np.isfinite(standard_error)
    low = np.where(no_band, np.nan, np.where(standard_error == 0, mean, low))
    high = np.where(no_band, np.nan, np.where(standard_error == 0, mean, high))
    return mean, low, high
