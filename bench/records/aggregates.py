"""Aggregates across tasks (Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice"; their `rliable` package, written here in a few lines of numpy and scipy).

A *method* is an (optimizer, init) pair, named by what varies in the document (the optimizer,
the init, or "optimizer/init"). Only its CHOSEN configuration's evaluation runs count. On each
task a run's test accuracy (as counted: a failed run that measured nothing counts at chance) is
normalized between chance and the best:

    score = (accuracy - chance) / (best - chance),  chance = 1 / num_classes,
    best  = the highest mean test accuracy of any chosen configuration on that task,

so 0 is guessing and 1 is the task's best method on average (a seed may score above 1). A task
whose best is not above chance has no scale and is left out (and listed).

- IQM: the mean of the middle 50% of all (task, seed) scores pooled, `scipy.stats.trim_mean(x,
  0.25)`; the mean and median beside it.
- Intervals: 95% percentile intervals of a *stratified* bootstrap: each resample draws, within
  every task, as many seeds as that task has, with replacement (a task with one seed adds no
  spread); a fixed rng, so a document is reproducible.
- Probability of improvement P(X > Y) = mean over the tasks both ran of P(X_task > Y_task), with
  P(X_task > Y_task) = the share of seed pairs (x_i, y_j) with x_i > y_j, ties counting 1/2
  (the Mann-Whitney statistic); X against itself is 0.5. Its interval resamples X's and Y's
  seeds within each task, independently.
- With three or more tasks and methods: a Friedman test over the methods' per-task mean scores
  (scipy.stats.friedmanchisquare; tasks every method ran), the average ranks (1 = best) and
  Nemenyi's critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)), q_alpha the studentized
  range quantile over sqrt(2) (Demšar 2006): two methods whose average ranks differ by more than
  CD differ at level alpha, the family being every pair of methods.
"""
from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np

from bench.imports import LazyModule
from bench.records.queries import accuracy_by_seed, chance, chosen_rows, runs_of_row

stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

RESAMPLES = 2000
LEVEL = 0.95
BOOTSTRAP_SEED = 0
NEMENYI_ALPHA = 0.05
METRIC = "final_test_accuracy"
NORMALIZATION = ("per task, (test accuracy - chance) / (best - chance): chance = 1 / num_classes, "
                 "best = the highest mean test accuracy of a chosen configuration on that task")


def method_names(pairs) -> dict[tuple[str, str], str]:
    """(optimizer, init) -> its name: the optimizer, the init, or "optimizer/init", by what varies."""
    pairs = list(pairs)
    one_init = len({init for _, init in pairs}) <= 1
    one_optimizer = len({optimizer for optimizer, _ in pairs}) <= 1
    return {(optimizer, init): optimizer if one_init else init if one_optimizer else f"{optimizer}/{init}"
            for optimizer, init in pairs}


def iqm(scores, axis=-1):
    """The interquartile mean: the mean of the middle 50% (25% trimmed from each end)."""
    return stats.trim_mean(scores, 0.25, axis=axis)


def normalized_scores(results: dict) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, tuple[str, str]], list[str]]:
    """(method -> task -> scores over its evaluation seeds, method -> (optimizer, init), tasks left
    out for having no scale), from the chosen configurations' evaluation runs."""
    chosen = chosen_rows(results, "evaluation")
    names = method_names({(optimizer, init) for _, optimizer, init in chosen})
    accuracies: dict[str, dict[str, np.ndarray]] = {}
    for (task, optimizer, init), row in chosen.items():
        by_seed = accuracy_by_seed(runs_of_row(results, row), chance(results, task), METRIC)
        if by_seed:
            accuracies.setdefault(names[(optimizer, init)], {})[task] = np.asarray(list(by_seed.values()), float)
    tasks = sorted({task for per_task in accuracies.values() for task in per_task})
    scores: dict[str, dict[str, np.ndarray]] = {method: {} for method in accuracies}
    unscaled = []
    for task in tasks:
        floor = chance(results, task)
        best = max(float(np.mean(per_task[task])) for per_task in accuracies.values() if task in per_task)
        if best <= floor:
            unscaled.append(task)
            continue
        for method, per_task in accuracies.items():
            if task in per_task:
                scores[method][task] = (per_task[task] - floor) / (best - floor)
    pairs = {name: pair for pair, name in names.items()}
    return {method: per_task for method, per_task in scores.items() if per_task}, pairs, unscaled


def stratified_resamples(per_task: dict[str, np.ndarray], rng: np.random.Generator,
                         resamples: int = RESAMPLES) -> dict[str, np.ndarray]:
    """task -> (resamples x its seeds): each row redraws that task's seeds with replacement."""
    return {task: values[rng.integers(0, len(values), size=(resamples, len(values)))]
            for task, values in per_task.items()}


def _interval(values: np.ndarray) -> list[float]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def point_and_interval(per_task: dict[str, np.ndarray], statistic, rng: np.random.Generator,
                       resamples: int = RESAMPLES) -> tuple[float, list[float]]:
    """`statistic` (of a 1-D array; vectorized along the last axis) of the pooled scores, with its
    stratified-bootstrap percentile interval."""
    pooled = np.concatenate([per_task[task] for task in sorted(per_task)])
    drawn = stratified_resamples(per_task, rng, resamples)
    boot = statistic(np.concatenate([drawn[task] for task in sorted(per_task)], axis=1), axis=-1)
    return float(statistic(pooled, axis=-1)), _interval(boot)


def probability_of_improvement(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> float:
    """P(X > Y) over the tasks both ran (ties count 1/2); 0.5 for X against itself."""
    shared = sorted(set(x) & set(y))
    return float(np.mean([_beats(x[task], y[task]) for task in shared]))


def _beats(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(x > y) over every pair of seeds (last two axes), ties counting 1/2."""
    difference = x[..., :, None] - y[..., None, :]
    return np.mean((difference > 0) + 0.5 * (difference == 0), axis=(-2, -1))


def probability_interval(x: dict[str, np.ndarray], y: dict[str, np.ndarray], rng: np.random.Generator,
                         resamples: int = RESAMPLES) -> list[float]:
    """The stratified-bootstrap interval of P(X > Y): X's and Y's seeds redrawn within each task."""
    shared = sorted(set(x) & set(y))
    drawn_x = stratified_resamples({task: x[task] for task in shared}, rng, resamples)
    drawn_y = stratified_resamples({task: y[task] for task in shared}, rng, resamples)
    boot = np.mean([_beats(drawn_x[task], drawn_y[task]) for task in shared], axis=0)
    return _interval(boot)


def friedman_nemenyi(scores: dict[str, dict[str, np.ndarray]], alpha: float = NEMENYI_ALPHA) -> dict[str, Any] | None:
    """Friedman's test over per-task mean scores (tasks every method ran), the average ranks and
    Nemenyi's critical difference; None with fewer than 3 such tasks or 3 methods."""
    methods = sorted(scores)
    tasks = sorted(set.intersection(*(set(per_task) for per_task in scores.values()))) if scores else []
    if len(methods) < 3 or len(tasks) < 3:
        return None
    means = np.asarray([[float(np.mean(scores[method][task])) for method in methods] for task in tasks])
    statistic, p_value = stats.friedmanchisquare(*means.T)
    ranks = np.mean([stats.rankdata(-row) for row in means], axis=0)  # 1 = the best on a task
    k, n = len(methods), len(tasks)
    q_alpha = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    critical_difference = float(q_alpha * np.sqrt(k * (k + 1) / (6 * n)))
    return {
        "tasks": tasks, "statistic": float(statistic), "p_value": float(p_value), "alpha": alpha,
        "average_ranks": {method: float(rank) for method, rank in zip(methods, ranks)},
        "critical_difference": critical_difference,
        "different": [[a, b] for index, a in enumerate(methods) for b in methods[index + 1:]
                      if abs(ranks[methods.index(a)] - ranks[methods.index(b)]) > critical_difference],
    }


def aggregates(results: dict, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, Any] | None:
    """The document's `aggregates` (see the module docstring); None with fewer than two tasks."""
    scores, pairs, unscaled = normalized_scores(results)
    tasks = sorted({task for per_task in scores.values() for task in per_task})
    if len(tasks) + len(unscaled) < 2:
        return None
    rng = np.random.default_rng(seed)
    methods = {}
    for method in sorted(scores):
        per_task = scores[method]
        entry = {"optimizer": pairs[method][0], "init": pairs[method][1], "n_tasks": len(per_task),
                 "n_scores": int(sum(len(values) for values in per_task.values()))}
        for key, statistic in (("iqm", iqm), ("mean", np.mean), ("median", np.median)):
            entry[key], entry[f"{key}_ci95"] = point_and_interval(per_task, statistic, rng, resamples)
        methods[method] = entry
    improvement = [{"x": x, "y": y, "probability": probability_of_improvement(scores[x], scores[y]),
                    "ci95": probability_interval(scores[x], scores[y], rng, resamples),
                    "n_tasks": len(set(scores[x]) & set(scores[y]))}
                   for x, y in permutations(sorted(scores), 2) if set(scores[x]) & set(scores[y])]
    return {
        "metric": METRIC, "normalization": NORMALIZATION, "tasks": tasks, "unscaled_tasks": unscaled,
        "bootstrap": {"resamples": resamples, "level": LEVEL, "seed": seed,
                      "kind": "percentile, seeds redrawn within each task"},
        "methods": methods, "probability_of_improvement": improvement,
        "friedman": friedman_nemenyi(scores),
    }
