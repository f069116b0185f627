"""Statistics over seeds, all from scipy (and statsmodels for Holm's correction): paired and
unpaired differences, the report's families of comparisons, and bands over curves; the t
interval of a mean and the censored median (`bench.records.estimators`) are importable here too.

Seeds are paired: for a given (seed, init) every optimizer and configuration starts from the
same parameters and sees the same batches (README, "Results format"). So "is optimizer A better
than B under init X?" is a question about the per-seed differences A(seed) - B(seed), which
cancel the seed's luck and give much tighter intervals than comparing two means.

Conventions, relied on by the summary rows (`bench.records.summary`), the report and compare:
- Every value is counted: a failed run enters with the accuracy it measured, or chance
  (`bench.records.values.counted_accuracy`); nothing is dropped from a mean or a difference.
- Zero variance never yields NaN: identical samples give p = 1; samples that are each constant
  but differ give p = 0 (the difference is exact, no noise could explain it).
- A family of comparisons (one table of the report) is corrected with Holm-Bonferroni
  (`holm`); a comparison is significant when its Holm-adjusted p-value is below 0.05.
- The reference of "every optimizer minus the best" is the best on VALIDATION (the selection
  seeds' mean validation accuracy, `bench.records.selection.selection_key`), never on test: a
  leader picked on test would be favoured by the very noise the test then measures.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats

# The two estimators of a summary row live below it, in bench.records; they are part of this
# module's API too (README, "Paired statistics").
from bench.records.estimators import CONFIDENCE, censored_median, mean_ci95, quiet_numerics  # noqa: F401
from bench.records.queries import (accuracy_by_seed, chance, chosen_rows, inits_of, optimizers_of,
                                   runs_of_row, task_settings, tasks)
from bench.records.selection import selection_key

FAMILY_ALPHA = 0.05
# A difference of fewer test examples than this is below what the test set can resolve.
RESOLUTION_EXAMPLES = 3


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
    with quiet_numerics():
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
    with quiet_numerics():
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
    with quiet_numerics():  # all-NaN and single-value columns, masked below
        mean = np.nanmean(matrix, axis=0)
        standard_error = np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(counts)
        low, high = scipy_stats.t.interval(confidence, np.maximum(counts - 1, 1), loc=mean, scale=standard_error)
    no_band = (counts < 2) | ~np.isfinite(standard_error)
    low = np.where(no_band, np.nan, np.where(standard_error == 0, mean, low))
    high = np.where(no_band, np.nan, np.where(standard_error == 0, mean, high))
    return mean, low, high
