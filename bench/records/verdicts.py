"""The best set of each comparison table: which configurations the evaluation seeds cannot tell
from the best, a set instead of one leader picked on noise (the `verdicts` of a results file).

A *table* is what the report compares side by side, each (optimizer, init) at its configuration
chosen on the selection seeds, judged on the test accuracy of its evaluation seeds: per task,
the optimizers under one init (`held_fixed` {"init": NAME}), the inits under one optimizer
({"optimizer": NAME}), and, where both vary, every (optimizer, init) of the task ({}).

The procedure is Hsu's multiple comparisons with the best (1984), with an exact test in place of
Dunnett's normal-theory constant: for each configuration i, the per-seed differences to every
other configuration of the table, D_j(s) = acc_j(s) - acc_i(s), and the statistic T = max over j
of the t statistic of D_j (its mean over its standard error), "how clearly the best of the others
beats i": studentized, so that a rival with one wild seed (a collapsed run) weighs by its
evidence, not by its spread. Under "i is the best" (in the
least favourable case, tied with all), flipping the sign of a seed's whole vector of differences
(i swapped with the others on that seed) leaves their distribution unchanged; the p-value is the
fraction of the 2^n sign patterns whose T reaches the observed one (`scipy.stats.
permutation_test`, exact up to EXACT_MAX_PAIRS seeds; a max-T test, Westfall & Young 1993). i is
*shown worse* when p <= level. The best set is every configuration not shown worse.

Whatever the truly best configuration of the table is, its test is of a true null, so the chance
that it is shown worse, and missing from the set, is at most the level: **the best set holds the
table's truly best configuration with probability at least 1 - level**. The configuration with
the highest test mean is always in it (its observed T <= 0, and of every sign pattern and its
mirror one reaches that: p >= 1/2);
bit-identical configurations are never separated; and when the set holds several, they are
tied: nothing in the data orders them, and neither does list order. The level covers one table;
a report of T tables errs somewhere with probability up to T x level. The test assumes the
seeds' noise is symmetric (each configuration's own noise independent given the seed); it makes
no assumption of normality, and two seeds can never exclude anything (p >= 1/4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.imports import LazyModule
from bench.records.estimators import quiet_numerics
from bench.records.keys import cell_of
from bench.records.paired import (EXACT_MAX_PAIRS, FAMILY_ALPHA, IDENTICAL_TOLERANCE, PERMUTATION_SEED,
                                  RANDOM_PATTERNS, minimum_detectable_difference)
from bench.records.queries import (accuracy_by_seed, chance, chosen_rows, inits_of, optimizers_of,
                                   runs_by_cell, task_settings, tasks)

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

METHOD = ("multiple comparisons with the best (Hsu 1984) by exact sign-flip max-T tests: each "
          "configuration against the best of the others on the same seeds (Westfall & Young 1993)")


@dataclass(frozen=True)
class Comparison:
    """Why a configuration is outside the best set: the others beat it at `p_value` <=
    `threshold`, `better` (the one with the largest mean advantage) most of all."""

    better: tuple
    p_value: float
    threshold: float


@dataclass(frozen=True)
class BestSet:
    """The outcome of the procedure on one table of configurations (see the module docstring)."""

    best: list                                   # the configurations not shown worse, by key
    means: dict                                  # key -> mean test accuracy over its seeds
    worse: dict = field(default_factory=dict)    # key -> Comparison: why it is not in the set
    p_values: dict = field(default_factory=dict) # key -> the max-T p-value of "it is the best"
    level: float = FAMILY_ALPHA
    n_seeds: int = 0                             # the seeds every configuration of the table ran
    minimum_detectable_difference: float | None = None
    threshold: float | None = None               # level / (configurations - 1): Bonferroni's bound on what one
                                                 # comparison needs (behind the minimum detectable difference)

    @property
    def tied(self) -> bool:
        return len(self.best) > 1


def best_set(by_key: dict[Any, dict[int, float]], level: float = FAMILY_ALPHA,
             resolution: float | None = None) -> BestSet:
    """The best set of a table: `by_key` maps each configuration to {seed: test accuracy}; the
    seeds every configuration ran are the pairs (see the module docstring).

    `resolution` (one test example, 1 / n_test) floors the spread behind the minimum detectable
    difference: quantized accuracies never differ by less.
    """
    keys = list(by_key)
    means = {key: float(np.mean(list(values.values()))) for key, values in by_key.items()}
    shared = sorted(set.intersection(*(set(values) for values in by_key.values()))) if keys else []
    if len(keys) < 2:
        return BestSet(best=keys, means=means, level=level, n_seeds=len(shared))
    accuracy = np.array([[by_key[key][seed] for seed in shared] for key in keys])   # (configurations, seeds)
    worse, p_values = {}, {}
    for index, key in enumerate(keys):
        others = [other for other in range(len(keys)) if other != index]
        differences = accuracy[others] - accuracy[index]                            # (others, seeds)
        p_value = p_values[key] = max_t_p(differences)
        if p_value <= level:
            better = keys[others[int(np.argmax(differences.mean(axis=-1)))]]
            worse[key] = Comparison(better=better, p_value=p_value, threshold=level)
    threshold = level / (len(keys) - 1)
    return BestSet(best=[key for key in keys if key not in worse], means=means, worse=worse, p_values=p_values,
                   level=level, n_seeds=len(shared), threshold=threshold,
                   minimum_detectable_difference=_detectable(by_key, means, set(shared), threshold, resolution,
                                                             level))


def _largest_t(differences, axis=-1):
    """max over the rows (the others) of mean / standard error. A row of equal non-zero values
    has a standard error of 0: it is floored at 1e-9 (far below one example of any test set),
    so its t is huge but finite (an infinite statistic would defeat scipy's tie tolerance and
    give p = 0)."""
    n = differences.shape[axis]
    mean = np.mean(differences, axis=axis)
    error = np.std(differences, axis=axis, ddof=1) / np.sqrt(n)
    return np.max(mean / np.maximum(error, 1e-9), axis=-1)


def max_t_p(differences) -> float:
    """The exact sign-flip max-T p-value of "no row of `differences` (others x seeds) has a
    positive mean": the seeds' sign patterns applied to every row at once."""
    d = np.asarray(differences, dtype=float)
    d = np.where(np.abs(d) <= IDENTICAL_TOLERANCE, 0.0, d)
    n = d.shape[-1]
    if n < 2 or not np.any(d):  # one seed proves nothing; identical pairs nothing either
        return 1.0
    exact = n <= EXACT_MAX_PAIRS
    with quiet_numerics():
        result = scipy_stats.permutation_test(
            (d,), _largest_t, permutation_type="samples", vectorized=True, alternative="greater",
            n_resamples=np.inf if exact else RANDOM_PATTERNS, axis=-1,
            batch=max(1, min(2 ** n if exact else RANDOM_PATTERNS, 4_000_000 // d.size)),
            rng=np.random.default_rng(PERMUTATION_SEED))
    return float(min(result.pvalue, 1.0))


def _detectable(by_key: dict, means: dict, shared: set, threshold: float, resolution: float | None,
                level: float = FAMILY_ALPHA) -> float | None:
    """The minimum detectable difference of one comparison at Bonferroni's per-comparison level
    (what max-T needs at most), for the median spread of the per-seed differences between each
    configuration and the top; None when the exact test cannot reach `level` at all."""
    seeds = sorted(shared)
    top = max(means, key=means.get)
    spreads = [float(np.std([by_key[key][seed] - by_key[top][seed] for seed in seeds], ddof=1))
               for key in by_key if key != top] if len(seeds) >= 2 else []
    spread = float(np.median(spreads)) if spreads else float("nan")
    if resolution:
        spread = max(spread, resolution)
    return minimum_detectable_difference(spread, len(seeds), threshold, reachable_at=level)


# -- the tables of a results document ------------------------------------------------------------

def tables(results: dict) -> list[tuple[str, dict, list[tuple]]]:
    """(task, held_fixed, pairs) of every comparison table with two configurations or more, in
    the report's order: per task, each init's optimizers, each optimizer's inits, then all."""
    found = []
    for task in tasks(results):
        evaluated = chosen_rows(results, "evaluation", task)
        optimizers, inits = optimizers_of(results, task), inits_of(results, task)
        for init in inits:
            pairs = [(task, optimizer, init) for optimizer in optimizers if (task, optimizer, init) in evaluated]
            if len(pairs) >= 2:
                found.append((task, {"init": init}, pairs))
        for optimizer in optimizers:
            pairs = [(task, optimizer, init) for init in inits if (task, optimizer, init) in evaluated]
            if len(pairs) >= 2:
                found.append((task, {"optimizer": optimizer}, pairs))
        every = [(task, optimizer, init) for optimizer in optimizers for init in inits
                 if (task, optimizer, init) in evaluated]
        if len(optimizers) > 1 and len(inits) > 1 and len(every) >= 2:
            found.append((task, {}, every))
    return found


def accuracies_by_pair(results: dict, task: str) -> dict[tuple, dict[int, float]]:
    """(task, optimizer, init) -> {evaluation seed: test accuracy as counted} at its chosen
    configuration (a failed run at what it measured, or chance)."""
    cells = runs_by_cell(results)
    guess = chance(results, task)
    return {pair: accuracy_by_seed(cells.get(cell_of(row), []), guess)
            for pair, row in chosen_rows(results, "evaluation", task).items()}


def table_best_sets(results: dict, level: float = FAMILY_ALPHA) -> list[tuple[str, dict, BestSet]]:
    """(task, held_fixed, best set) of every table of `tables(results)`."""
    found, by_task = [], {}
    for task, held_fixed, pairs in tables(results):
        if task not in by_task:
            by_task[task] = accuracies_by_pair(results, task)
        n_test = task_settings(results, task).get("n_test")
        by_key = {pair: by_task[task][pair] for pair in pairs if by_task[task][pair]}
        found.append((task, held_fixed, best_set(by_key, level, resolution=1.0 / n_test if n_test else None)))
    return found


def verdicts(results: dict, level: float = FAMILY_ALPHA) -> list[dict[str, Any]]:
    """The `verdicts` of a results document: one entry per comparison table (see the module
    docstring), `best` in the table's order (which orders nothing: they are tied)."""
    return [verdict_entry(task, held_fixed, found) for task, held_fixed, found in table_best_sets(results, level)]


def verdict_entry(task: str, held_fixed: dict, found: BestSet) -> dict[str, Any]:
    return {
        "task": task, "held_fixed": dict(held_fixed),
        "best": [{"optimizer": optimizer, "init": init} for _, optimizer, init in found.best],
        "method": METHOD, "level": found.level,
        "configurations": len(found.means), "n_seeds": found.n_seeds,
        "comparison_level": found.threshold,
        "minimum_detectable_difference": found.minimum_detectable_difference,
        "worse": [{"optimizer": key[1], "init": key[2], "than": {"optimizer": why.better[1], "init": why.better[2]},
                   "p_value": why.p_value, "threshold": why.threshold}
                  for key, why in found.worse.items()],
    }


__all__ = ["METHOD", "BestSet", "Comparison", "best_set", "tables", "table_best_sets", "verdicts",
           "verdict_entry", "accuracies_by_pair", "max_t_p", "IDENTICAL_TOLERANCE"]
