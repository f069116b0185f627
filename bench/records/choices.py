"""How firm each choice of a configuration is: the fields of a chosen summary row that say
whether the search could have missed the best (`grid_edge`) and whether another draw of the
selection seeds would choose the same (`choice_stability`).

- `n_candidates`: how many configurations the choice was made among (on every row of the pair):
  one means the optimizer was not tuned in this run (its rate came from elsewhere).
- `grid_edge`: "high" when the chosen learning rate is the largest of the candidates', "low"
  when it is the smallest, else null (and null with fewer than two learning rates): at an edge,
  the best rate may lie beyond the grid, and `--lrs` should widen it.
- `choice_stability`: the fraction of bootstrap resamples of the selection seeds (the seeds
  the choice was made on, resampled with replacement, the same draw for every candidate: they
  are paired) in which the selection rule (`bench.records.selection.selection_key`) still picks
  the chosen configuration; `scipy.stats.bootstrap` draws the resamples. Below NEAR_TIE the
  choice is a near tie: another machine's rounding may choose differently. Null with one
  candidate or fewer than two shared seeds.

Unchosen rows carry null for both.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from bench.imports import LazyModule
from bench.records.estimators import quiet_numerics
from bench.records.keys import lr_key, pair_of, unit_of
from bench.records.values import counted_accuracy

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

NEAR_TIE = 0.7
STABILITY_RESAMPLES = 2000
STABILITY_SEED = 0


def annotate_choices(summary: list[dict], records: list[dict], chance: dict[str, float],
                     stability: bool = True, search_spaces: Mapping[str, Any] | None = None) -> None:
    """Set `n_candidates`, `grid_edge` and `choice_stability` on every row of `summary` (in
    place); `chance` maps each task to the accuracy a run that measured nothing counts at.
    `stability=False` leaves `choice_stability` null (a caller that only needs the choice)."""
    by_pair = defaultdict(list)  # by unit: each budget chooses among its own candidates
    for row in summary:
        by_pair[unit_of(row)].append(row)
    runs = defaultdict(list)
    for record in records:
        runs[(*pair_of(record), record["phase"], record["trial"])].append(record)
    for pair, rows in by_pair.items():
        phase = "selection" if any(row["phase"] == "selection" for row in rows) else "evaluation"
        candidates = [row for row in rows if row["phase"] == phase]
        chosen = next((row for row in candidates if row["chosen"]), None)
        for row in rows:
            row.update(n_candidates=len(candidates), grid_edge=None, choice_stability=None)
        if chosen is None:
            continue
        space = (search_spaces or {}).get(pair[1])
        edge = (search_edge(chosen["lr"], space) if space
                else grid_edge(chosen["lr"], [row["lr"] for row in candidates]))
        firmness = choice_stability(candidates, chosen, runs, chance[pair[0]]) if stability else None
        for row in rows:
            if row["chosen"]:
                row.update(grid_edge=edge, choice_stability=firmness)


def grid_edge(chosen_lr: float, lrs) -> str | None:
    """"high", "low" or None: where the chosen learning rate sits among the candidates'."""
    rates = sorted({lr_key(lr) for lr in lrs})
    if len(rates) < 2:
        return None
    chosen = lr_key(chosen_lr)
    return "high" if chosen == rates[-1] else "low" if chosen == rates[0] else None


SEARCH_EDGE = 0.1  # the outer tenth of a searched range (in its scale) counts as its edge


def search_edge(chosen_lr: float, space: Mapping[str, Any]) -> str | None:
    """"high", "low" or None: where a searched learning rate sits in its space's range (the
    outer SEARCH_EDGE of it, log scale for a log dimension): beyond the range the search
    could not look, whatever its trials drew."""
    import math

    dimension = next((list(d) for d in space.values() if list(d)[0] == "learning_rate"), None)
    if dimension is None:
        return None
    _, scale, low, high = dimension
    if scale == "log":
        position = math.log(chosen_lr / low) / math.log(high / low)
    else:
        position = (chosen_lr - low) / (high - low)
    return "high" if position > 1 - SEARCH_EDGE else "low" if position < SEARCH_EDGE else None


def choice_stability(candidates: list[dict], chosen: dict, runs: dict, chance: float) -> float | None:
    """The fraction of bootstrap resamples of the shared seeds in which `chosen` still wins."""
    if len(candidates) < 2:
        return None
    members = [runs[(row["task"], row["optimizer"], row["init"], row["phase"], row["trial"])]
               for row in candidates]
    seeds = sorted(set.intersection(*({run["seed"] for run in runs_of} for runs_of in members)))
    if len(seeds) < 2:
        return None
    by_seed = [{run["seed"]: run for run in runs_of} for runs_of in members]
    accuracy = np.array([[counted_accuracy(found[seed]["final_val_accuracy"], chance) for seed in seeds]
                         for found in by_seed])
    failed = np.array([[float(found[seed]["failed"]) for seed in seeds] for found in by_seed])
    lrs = np.array([row["lr"] for row in candidates], dtype=float)
    trials = np.array([row["trial"] for row in candidates], dtype=float)
    winner_of_chosen = candidates.index(chosen)

    def still_wins(indices, axis=-1):
        # indices: (..., n_seeds) resampled seed positions; the selection rule, vectorized:
        # mostly failed last, then the higher mean, fewer failures, smaller lr, lower trial
        picked = np.asarray(indices, dtype=int)
        means = accuracy[:, picked].mean(axis=-1)            # (candidates, ...)
        failures = failed[:, picked].sum(axis=-1)
        mostly_failed = failures / picked.shape[-1] > 0.5
        shape = means.shape
        keys = (np.broadcast_to(trials.reshape((-1,) + (1,) * (len(shape) - 1)), shape),
                np.broadcast_to(lrs.reshape((-1,) + (1,) * (len(shape) - 1)), shape),
                failures, -means, mostly_failed)
        order = np.lexsort(keys, axis=0)
        return (order[0] == winner_of_chosen).astype(float)

    with quiet_numerics():
        result = scipy_stats.bootstrap((np.arange(len(seeds)),), still_wins, vectorized=True,
                                       n_resamples=STABILITY_RESAMPLES, method="percentile",
                                       rng=np.random.default_rng(STABILITY_SEED))
    return float(np.mean(result.bootstrap_distribution))
