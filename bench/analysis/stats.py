"""Statistics over seeds, all from scipy (and statsmodels for Holm's correction): t intervals of
a mean, censored medians, paired and unpaired differences, and the report's families of
comparisons.

Seeds are paired: for a given (seed, init) every optimizer and configuration starts from the
same parameters and sees the same batches (README, "Results format"). So "is optimizer A better
than B under init X?" is a question about the per-seed differences A(seed) - B(seed), which
cancel the seed's luck and give much tighter intervals than comparing two means.

Conventions, relied on by metrics, the report and compare:
- Every value is counted: a failed run enters with the accuracy it measured, or chance
  (`bench.records.values.counted_accuracy`); nothing is dropped from a mean or a difference.
- `mean_ci95(values)` is the two-sided 95% Student-t interval of the mean. With fewer than two
  values there is no spread to estimate, so it returns None (JSON null), never [mean, mean].
  Identical values give [mean, mean].
- Zero variance never yields NaN: identical samples give p = 1; samples that are each constant
  but differ give p = 0 (the difference is exact, no noise could explain it).
- A family of comparisons (one table of the report) is corrected with Holm-Bonferroni
  (`holm`); a comparison is significant when its Holm-adjusted p-value is below 0.05.
- The reference of "every optimizer minus the best" is the best on VALIDATION (the selection
  seeds' mean validation accuracy, `bench.records.selection.selection_key`), never on test: a
  leader picked on test would be favoured by the very noise the test then measures.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats

from bench.records.queries import (accuracy_by_seed, chance, chosen_rows, inits_of, optimizers_of,
                                   runs_of_row, task_settings, tasks)
from bench.records.selection import selection_key
from bench.records.values import finite_or_none

CONFIDENCE = 0.95
FAMILY_ALPHA = 0.05
# A difference of fewer test examples than this is below what the test set can resolve.
RESOLUTION_EXAMPLES = 3


def finite_values(values) -> np.ndarray:
    """The finite entries of `values` (None, NaN and inf dropped) as a float array."""
    kept = [finite_or_none(value) for value in values]
    return np.array([value for value in kept if value is not None], dtype=float)


def mean_ci95(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean of the finite `values`; None with fewer than two."""
    sample = finite_values(values)
    if sample.size < 2:
        return None
    mean = float(sample.mean())
    standard_error = float(scipy_stats.sem(sample))
    if standard_error == 0.0:
        return (mean, mean)
    low, high = scipy_stats.t.interval(confidence, sample.size - 1, loc=mean, scale=standard_error)
    return (float(low), float(high))


@contextlib.contextmanager
def _quiet_numerics():
    """scipy warns of precision loss on nearly identical samples (seeds that agree to the last
    digit) and of undefined interval bounds where a survival curve is 0 or 1; the results are
    still right (handled below), and the warnings would only clutter the CLI output."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- censored speed -----------------------------------------------------------------------------

def censored_median(times: Sequence[int | None], horizon: float, confidence: float = CONFIDENCE
                    ) -> tuple[float | None, tuple[float, float | None] | None]:
    """Kaplan-Meier median of the time to an event, and its confidence interval.

    `times[i]` is when seed i reached the target, or None when it never did (or failed): that
    seed is right-censored at `horizon`, the end of training. The estimate is
    `scipy.stats.ecdf` on `scipy.stats.CensoredData`; with every censoring at the end it equals
    the sample median with "never" counted as +infinity: None when half or more never reached
    it. Where the curve sits exactly at 1/2 between two reaching times, the median is their
    midpoint (as for an ordinary median).

    The interval inverts the ecdf's pointwise confidence band (`confidence_interval`, log-log):
    from where its upper bound first reaches 1/2 (the end of training, `horizon`, if it never
    does: the median lies beyond training) to where its lower bound does, or None for the upper
    end when that never happens within training (unbounded). None when no seed reached the target.
    """
    reached = [float(time) for time in times if time is not None]
    if not reached:
        return None, None
    censored = [float(horizon)] * (len(times) - len(reached))
    with _quiet_numerics():
        result = scipy_stats.ecdf(scipy_stats.CensoredData(uncensored=reached, right=censored))
        band = result.cdf.confidence_interval(confidence, method="log-log")
    quantiles, probabilities = result.cdf.quantiles, result.cdf.probabilities
    # The log-log band is undefined where the curve reaches 1 (every seed reached the target, so
    # none was censored): there the curve is a plain proportion n/n, whose exact (Clopper-Pearson)
    # interval is [(alpha/2)^(1/n), 1]: one seed proves little, eight a lot.
    everyone = scipy_stats.binomtest(len(times), len(times)).proportion_ci(confidence, method="exact")
    low_band = np.where(np.isfinite(band.low.probabilities), band.low.probabilities, everyone.low)
    high_band = np.where(np.isfinite(band.high.probabilities), band.high.probabilities, 1.0)
    low = _first_at_half(quantiles, high_band)
    return _median(quantiles, probabilities), (float(horizon) if low is None else low,
                                               _first_at_half(quantiles, low_band))


_HALF_TOLERANCE = 1e-9  # Kaplan-Meier products of k/n land on 1/2 only up to rounding


def _first_at_half(quantiles: np.ndarray, probabilities: np.ndarray) -> float | None:
    index = _index_at_half(probabilities)
    return None if index is None else float(quantiles[index])


def _index_at_half(probabilities: np.ndarray) -> int | None:
    at_half = np.flatnonzero(probabilities >= 0.5 - _HALF_TOLERANCE)
    return int(at_half[0]) if at_half.size else None


def _median(quantiles: np.ndarray, probabilities: np.ndarray) -> float | None:
    index = _index_at_half(probabilities)
    if index is None:
        return None
    if probabilities[index] > 0.5 + _HALF_TOLERANCE:
        return float(quantiles[index])
    # exactly 1/2 from here: the midpoint with the next time the curve rises; none -> censored
    rises = np.flatnonzero(probabilities[index + 1:] > probabilities[index] + _HALF_TOLERANCE)
    return None if not rises.size else float((quantiles[index] + quantiles[index + 1 + rises[0]]) / 2)


# -- differences --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """mean of (a - b) with its interval and two-sided p-value; `test` names how it was tested."""

    mean: float | None
    interval: tuple[float, float] | None
    p_value: float | None
    test: str        # "paired t", "Welch t", "pooled t" or "none"
    n_a: int
    n_b: int
    n_pairs: int = 0


def paired(a_by_seed: dict, b_by_seed: dict, confidence: float = CONFIDENCE) -> Difference:
    """Paired t over the seeds both sides ran (`scipy.stats.ttest_rel`): mean of a - b.

    Values are taken as given (counted accuracies: nothing is dropped); a seed on one side only is
    no pair. One pair gives a mean but no interval and no p-value.
    """
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    a = np.array([a_by_seed[seed] for seed in seeds], dtype=float)
    b = np.array([b_by_seed[seed] for seed in seeds], dtype=float)
    differences = a - b
    mean = float(differences.mean()) if seeds else None
    if len(seeds) < 2:
        return Difference(mean, None, None, "none", len(seeds), len(seeds), len(seeds))
    if differences.var() == 0.0:
        exact = (mean, mean)
        return Difference(mean, exact, 1.0 if mean == 0.0 else 0.0, "paired t", len(seeds), len(seeds),
                          len(seeds))
    with _quiet_numerics():
        result = scipy_stats.ttest_rel(a, b)
        low, high = result.confidence_interval(confidence)
    return Difference(mean, (float(low), float(high)), float(result.pvalue), "paired t",
                      len(seeds), len(seeds), len(seeds))


def unpaired(a, b, confidence: float = CONFIDENCE) -> Difference:
    """mean(a) - mean(b) for independent samples (`scipy.stats.ttest_ind`).

    Both sides with two or more values: Welch's test (different spreads and counts allowed).
    One side with a single value: Student's pooled test, which takes its spread from the other
    side alone (is the single value a plausible draw from it?). Both single: no test.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not a.size or not b.size:
        return Difference(None, None, None, "none", a.size, b.size)
    mean = float(a.mean() - b.mean())
    if a.size < 2 and b.size < 2:
        return Difference(mean, None, None, "none", a.size, b.size)
    if a.var() == 0.0 and b.var() == 0.0:
        return Difference(mean, (mean, mean), 1.0 if mean == 0.0 else 0.0, "Welch t", a.size, b.size)
    welch = a.size >= 2 and b.size >= 2
    with _quiet_numerics():
        result = scipy_stats.ttest_ind(a, b, equal_var=not welch)
        low, high = result.confidence_interval(confidence)
    return Difference(mean, (float(low), float(high)), float(result.pvalue),
                      "Welch t" if welch else "pooled t", a.size, b.size)


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


# -- the report's comparisons -------------------------------------------------------------------

@dataclass(frozen=True)
class PairedDifference:
    """Test accuracy of `a` minus that of the leader `b` (the best on validation), over the
    evaluation seeds, each at its chosen configuration; Holm-corrected within its family."""

    task: str
    held_fixed: str            # what both sides share, e.g. "init he_normal" or "optimizer adam"
    a: str
    b: str
    mean_difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    n_pairs: int
    p_holm: float | None = None
    family_size: int = 0
    resolution: float | None = None  # RESOLUTION_EXAMPLES / test examples (None: size unknown)

    @property
    def significant(self) -> bool:
        """Holm-adjusted p < 0.05 within its family."""
        return self.p_holm is not None and self.p_holm < FAMILY_ALPHA

    @property
    def below_resolution(self) -> bool:
        """Smaller than a few test examples: too small to claim whatever its p-value."""
        return (self.resolution is not None and self.mean_difference is not None
                and abs(self.mean_difference) < self.resolution)


def paired_difference(a_by_seed: dict, b_by_seed: dict, *, task: str = "", held_fixed: str = "",
                      a: str = "a", b: str = "b") -> PairedDifference:
    """Paired mean difference a - b over the seeds both sides ran (uncorrected)."""
    found = paired(a_by_seed, b_by_seed)
    return PairedDifference(task=task, held_fixed=held_fixed, a=a, b=b, mean_difference=found.mean,
                            ci95=found.interval, p_value=found.p_value, n_pairs=found.n_pairs)


def optimizer_differences(results: dict) -> list[PairedDifference]:
    """Per task, one family: under each init, every optimizer minus the best optimizer."""
    return [d for task in tasks(results) for d in _family(results, task, "optimizer")]


def init_differences(results: dict) -> list[PairedDifference]:
    """Per task, one family: under each optimizer, every init minus the best init."""
    return [d for task in tasks(results) for d in _family(results, task, "init")]


def _family(results: dict, task: str, varied: str) -> list[PairedDifference]:
    evaluation = chosen_rows(results, "evaluation", task)
    selection = chosen_rows(results, "selection", task)
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    fixed_kind, fixed_names, varied_names = (("init", inits, optimizers) if varied == "optimizer"
                                             else ("optimizer", optimizers, inits))
    chance_accuracy = chance(results, task)
    found = []
    for fixed in fixed_names:
        def pair(name):
            return (task, name, fixed) if varied == "optimizer" else (task, fixed, name)

        candidates = [name for name in varied_names if pair(name) in evaluation and pair(name) in selection]
        if len(candidates) < 2:
            continue
        leader = min(candidates, key=lambda name: selection_key(selection[pair(name)]))
        by_seed = {name: accuracy_by_seed(runs_of_row(results, evaluation[pair(name)]), chance_accuracy)
                   for name in candidates}
        found += [paired_difference(by_seed[name], by_seed[leader], task=task,
                                    held_fixed=f"{fixed_kind} {fixed}", a=name, b=leader)
                  for name in candidates if name != leader]
    n_test = task_settings(results, task).get("n_test")
    resolution = RESOLUTION_EXAMPLES / n_test if n_test else None
    adjusted = holm([d.p_value for d in found])
    size = sum(p is not None for p in adjusted)
    return [replace(d, p_holm=p, family_size=size, resolution=resolution) for d, p in zip(found, adjusted)]


def column_means_ci95(matrix, confidence: float = CONFIDENCE):
    """Per column of a (runs x steps) array with NaN for missing values: (mean, low, high).

    A column with no finite value has a NaN mean; with fewer than two, NaN bounds (no band).
    """
    matrix = np.asarray(matrix, dtype=float)
    counts = np.isfinite(matrix).sum(axis=0)
    with _quiet_numerics():  # all-NaN and single-value columns, masked below
        mean = np.nanmean(matrix, axis=0)
        standard_error = np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(counts)
        low, high = scipy_stats.t.interval(confidence, np.maximum(counts - 1, 1), loc=mean, scale=standard_error)
    no_band = (counts < 2) | ~np.isfinite(standard_error)
    low = np.where(no_band, np.nan, np.where(standard_error == 0, mean, low))
    high = np.where(no_band, np.nan, np.where(standard_error == 0, mean, high))
    return mean, low, high
