"""Small data sets that ship with the suite: scikit-learn's 8x8 digits and two spirals.

Both are split once, stratified, 70/15/15 into train/validation/test with a fixed seed, so
the split never depends on a run's seed: every run of every suite sees the same three sets.
"""
from __future__ import annotations

import functools

import numpy as np

from bench.data.dataset import SPLIT_SEED, Dataset, cached_split, split_70_15_15


@functools.cache
def digits(image_shape: tuple[int, ...] = (64,)) -> Dataset:
    """1,797 real 8x8 handwritten digits (sklearn's copy of the UCI set), pixels in [0, 1]."""

    def build() -> Dataset:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (bunch.images / 16.0).reshape((-1, *image_shape))
        return split_70_15_15(images, bunch.target, num_classes=10)

    return cached_split("digits", {"image_shape": image_shape}, build)


@functools.cache
def spirals(points_per_class: int = 500, turns: float = 1.5, noise: float = 0.2) -> Dataset:
    """Two interleaved spirals in 2-D (Lang & Witbrock 1988), generated deterministically."""
    identity = {"points_per_class": points_per_class, "turns": turns, "noise": noise}
    return cached_split("spirals", identity, lambda: make_spirals(points_per_class, turns, noise))


def make_spirals(points_per_class: int, turns: float, noise: float) -> Dataset:
    """The spirals split 70/15/15, made afresh (`spirals` keeps them in the data cache)."""
    rng = np.random.default_rng(SPLIT_SEED)
    radius_fraction = np.sqrt(rng.uniform(0.0, 1.0, points_per_class))
    angle = radius_fraction * turns * 2 * np.pi
    radius = radius_fraction * 4.0
    arm = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, noise, (2 * points_per_class, 2))
    y = np.repeat([0, 1], points_per_class)
    return split_70_15_15(x, y, num_classes=2)
