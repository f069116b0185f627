"""Quasi-random search: the candidate configurations `python -m bench tune` trains.

A search draws `budget` points of a scrambled Sobol sequence (scipy.stats.qmc.Sobol, fixed
seed, so a search is reproducible) in the unit cube of an optimizer's search space
(`optimizers.OPTIMIZERS[name].search_space`, each dimension cited there) and maps each
coordinate u in [0, 1) to a value of its hyperparameter:

    log            low * (high / low) ** u                    (learning rates, eps, weight decay)
    one_minus_log  1 - (1 - low) * ((1 - high) / (1 - low)) ** u   (decay rates near 1: 1 - beta
                   log-uniform between 1 - low and 1 - high)
    linear         low + (high - low) * u

Sobol points come in powers of two; a budget K takes the first K points of the 2^ceil(log2 K)
sequence (a prefix of a Sobol sequence is still low-discrepancy). Every trial of an optimizer
is then one configuration of one compiled program (the runner traces every value per run).
With a schedule other than "constant", the warm-up fraction is searched too (WARMUP_FRACTION)
and the rate decays to FINAL_FRACTION of the peak.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import numpy as np

SEARCH_SEED = 0
# The warm-up of a scheduled search, as a fraction of the run's steps (AlgoPerf's NAdamW
# baseline searches 2%, 5% and 10%), and where the decay ends (cosine and linear decay to 0).
WARMUP_FRACTION = (0.02, 0.10)
FINAL_FRACTION = 0.0


class Dimension(NamedTuple):
    """One searched hyperparameter: the factory argument it feeds, its scale and its range."""

    argument: str
    scale: str
    low: float
    high: float


def to_values(dimension, u: np.ndarray) -> np.ndarray:
    """Coordinates in [0, 1) -> values of `dimension` (see the module docstring)."""
    low, high = float(dimension.low), float(dimension.high)
    if dimension.scale == "log":
        return low * (high / low) ** u
    if dimension.scale == "one_minus_log":
        return 1 - (1 - low) * ((1 - high) / (1 - low)) ** u
    if dimension.scale == "linear":
        return low + (high - low) * u
    raise ValueError(f"unknown scale {dimension.scale!r} (log, one_minus_log, linear)")


def unit_points(budget: int, dimensions: int, seed: int = SEARCH_SEED) -> np.ndarray:
    """The first `budget` points of a scrambled Sobol sequence in [0, 1)^dimensions."""
    from scipy.stats import qmc

    sampler = qmc.Sobol(d=dimensions, scramble=True, seed=seed)
    return sampler.random_base2(max(0, math.ceil(math.log2(budget))))[:budget]


def sample(space: Mapping[str, Any], budget: int, *, schedule: str = "constant",
           seed: int = SEARCH_SEED) -> tuple[dict[str, float], ...]:
    """`budget` configurations of `space` (name -> Dimension-like), keyed by factory argument;
    with a schedule, also the runner's "schedule", "warmup_fraction" and "final_fraction"."""
    from bench.runner import SCHEDULES

    dimensions = {name: Dimension(*dimension) for name, dimension in space.items()}
    if schedule != "constant":
        dimensions["warmup_fraction"] = Dimension("warmup_fraction", "linear", *WARMUP_FRACTION)
    names = sorted(dimensions)
    points = unit_points(budget, len(names), seed)
    values = {name: to_values(dimensions[name], points[:, i]) for i, name in enumerate(names)}
    trials = []
    for k in range(budget):
        trial = {dimensions[name].argument: float(f"{values[name][k]:.6g}") for name in names}
        if schedule != "constant":
            trial.update(schedule=float(SCHEDULES.index(schedule)), final_fraction=FINAL_FRACTION)
        trials.append(trial)
    return tuple(trials)
