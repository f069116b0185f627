"""Statistics over seeds: t intervals of a mean, Welch tests, and paired differences.

Seeds are paired: for a given (seed, init) every optimizer and learning rate starts from the
same parameters and sees the same batches (README, "Results format"). So "is optimizer A better
than B under init X?" is a question about the per-seed differences A(seed) - B(seed), which
cancel the seed's luck and give much tighter intervals than comparing two means.

Conventions, relied on by the report and the runner:
- `mean_ci95(values)` is the two-sided 95% Student-t interval of the mean. With fewer than two
  values there is no spread to estimate, so it returns None (JSON null), never [mean, mean],
  which would claim a certainty one seed cannot give. Identical values give [mean, mean].
  The runner's `test_accuracy_ci95` is `list(mean_ci95(accuracies) or []) or None`.
- A paired difference drops every seed where either run diverged (its accuracy is None) and
  counts the dropped pairs; one remaining pair gives a mean but no interval and no p-value.
- Zero variance never yields NaN: identical samples give p = 1; samples that are each constant
  but differ give p = 0 (the difference is exact, no noise could explain it).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from bench.results.document import (accuracy_by_seed, best_lr_rows, finite_or_none, inits_of,
                                  lr_key, optimizers_of, runs_by_cell, tasks)

CONFIDENCE = 0.95


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


def two_sample_p_value(a, b) -> float | None:
    """Two-sided p-value of mean(a) == mean(b) for independent samples (NaN never comes out).

    Both sides with two or more values: Welch's t-test (`ttest_ind(equal_var=False)`), which
    allows different spreads and seed counts. One side with a single value: Student's pooled
    test (`ttest_ind(equal_var=True)`), which then takes its spread from the other side alone:
    it asks whether the single value is a plausible draw from the other side's distribution.
    Both sides single (or empty): None, untestable. Zero spread: see the module docstring.
    """
    a, b = finite_values(a), finite_values(b)
    if a.size < 1 or b.size < 1 or (a.size < 2 and b.size < 2):
        return None
    if a.var() == 0.0 and b.var() == 0.0:
        return 1.0 if a.mean() == b.mean() else 0.0
    welch = a.size >= 2 and b.size >= 2
    with _near_constant_samples_are_fine():
        return float(scipy_stats.ttest_ind(a, b, equal_var=not welch).pvalue)


@contextlib.contextmanager
def _near_constant_samples_are_fine():
    """scipy warns of precision loss on nearly identical samples (seeds that agree to the last
    digit); the p-value is still right, and the warning would only clutter the CLI output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass(frozen=True)
class PairedDifference:
    """mean over seeds of (a - b), with its t interval; `a` and `b` are names (optimizers or inits)."""

    task: str
    held_fixed: str            # what both sides share, e.g. "init he_normal" or "optimizer adam"
    a: str
    b: str
    mean_difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    n_pairs: int
    n_dropped: int             # seeds both sides ran where either run diverged

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero (equivalently, paired t-test p < 0.05)."""
        return self.ci95 is not None and (self.ci95[0] > 0.0 or self.ci95[1] < 0.0)


def paired_difference(a_by_seed: dict, b_by_seed: dict, *, task: str = "", held_fixed: str = "",
                      a: str = "a", b: str = "b") -> PairedDifference:
    """Paired mean difference a - b over the seeds both sides ran and neither diverged.

    `a_by_seed` and `b_by_seed` map seed -> value (None: diverged).
    """
    seeds = sorted(set(a_by_seed) & set(b_by_seed))  # a seed run on one side only is no pair
    pairs = [(finite_or_none(a_by_seed.get(seed)), finite_or_none(b_by_seed.get(seed))) for seed in seeds]
    kept = [(x, y) for x, y in pairs if x is not None and y is not None]
    differences = np.array([x - y for x, y in kept], dtype=float)
    mean = float(differences.mean()) if kept else None
    return PairedDifference(task=task, held_fixed=held_fixed, a=a, b=b, mean_difference=mean,
                            ci95=mean_ci95(differences), p_value=_paired_p_value(kept),
                            n_pairs=len(kept), n_dropped=len(pairs) - len(kept))


def _paired_p_value(kept: list[tuple[float, float]]) -> float | None:
    if len(kept) < 2:
        return None
    differences = np.array([x - y for x, y in kept])
    if differences.var() == 0.0:
        return 1.0 if differences.mean() == 0.0 else 0.0
    with _near_constant_samples_are_fine():
        first, second = zip(*kept)
        return float(scipy_stats.ttest_rel(first, second).pvalue)


def _best_lr_accuracies(results: dict, task: str) -> dict[tuple[str, str], tuple[float | None, dict]]:
    """(optimizer, init) -> (mean test accuracy at its best lr, seed -> test accuracy there)."""
    cells = runs_by_cell(results)
    table = {}
    for (_, optimizer, init), row in best_lr_rows(results, task).items():
        runs = cells.get((task, optimizer, init, lr_key(row["lr"])), [])
        table[(optimizer, init)] = (finite_or_none(row["test_accuracy_mean"]), accuracy_by_seed(runs))
    return table


def _leader(candidates: dict) -> str | None:
    """The name with the highest mean test accuracy (None when every candidate diverged)."""
    scored = {name: mean for name, (mean, _) in candidates.items() if mean is not None}
    return max(scored, key=scored.get) if scored else None


def optimizer_differences(results: dict) -> list[PairedDifference]:
    """Under each init: every other optimizer minus the best optimizer, each at its best lr."""
    found = []
    for task in tasks(results):
        table = _best_lr_accuracies(results, task)
        for init in inits_of(results, task):
            candidates = {opt: table[(opt, init)] for opt in optimizers_of(results, task) if (opt, init) in table}
            found += _against_leader(candidates, task, f"init {init}")
    return found


def init_differences(results: dict) -> list[PairedDifference]:
    """Under each optimizer: every other init minus the best init, each at its best lr."""
    found = []
    for task in tasks(results):
        table = _best_lr_accuracies(results, task)
        for optimizer in optimizers_of(results, task):
            candidates = {init: table[(optimizer, init)] for init in inits_of(results, task)
                          if (optimizer, init) in table}
            found += _against_leader(candidates, task, f"optimizer {optimizer}")
    return found


def _against_leader(candidates: dict, task: str, held_fixed: str) -> list[PairedDifference]:
    leader = _leader(candidates)
    if leader is None:
        return []
    return [paired_difference(by_seed, candidates[leader][1], task=task, held_fixed=held_fixed,
                              a=name, b=leader)
            for name, (_, by_seed) in candidates.items() if name != leader]


def column_means_ci95(matrix, confidence: float = CONFIDENCE):
    """Per column of a (runs x steps) array with NaN for missing values: (mean, low, high).

    A column with no finite value has a NaN mean; with fewer than two, NaN bounds (no band).
    """
    matrix = np.asarray(matrix, dtype=float)
    counts = np.isfinite(matrix).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN and single-value columns, masked below
        mean = np.nanmean(matrix, axis=0)
        standard_error = np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(counts)
        low, high = scipy_stats.t.interval(confidence, np.maximum(counts - 1, 1), loc=mean, scale=standard_error)
    no_band = (counts < 2) | ~np.isfinite(standard_error)
    low = np.where(no_band, np.nan, np.where(standard_error == 0, mean, low))
    high = np.where(no_band, np.nan, np.where(standard_error == 0, mean, high))
    return mean, low, high
