"""Data sets: the 8x8 digits scikit-learn ships, and two interleaved spirals.

Both are split once, stratified, 70/15/15 into train/validation/test with a fixed seed, so
the split never depends on a run's seed: every run of every suite sees the same three sets.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0


class Dataset(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def split_70_15_15(x: np.ndarray, y: np.ndarray, num_classes: int) -> Dataset:
    """One stratified 70/15/15 split, the same on every machine (fixed SPLIT_SEED)."""
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.30, stratify=y, random_state=SPLIT_SEED)
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.50, stratify=y_rest, random_state=SPLIT_SEED)
    as_float = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    as_label = lambda a: np.ascontiguousarray(a, dtype=np.int32)
    return Dataset(as_float(x_train), as_label(y_train), as_float(x_val), as_label(y_val),
                   as_float(x_test), as_label(y_test), num_classes)


@functools.cache
def digits(image_shape: tuple[int, ...] = (64,)) -> Dataset:
    """1,797 real 8x8 handwritten digits (sklearn's copy of the UCI set), pixels in [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).reshape((-1, *image_shape))
    return split_70_15_15(images, bunch.target, num_classes=10)


@functools.cache
def spirals(points_per_class: int = 500, turns: float = 1.5, noise: float = 0.2) -> Dataset:
    """Two interleaved spirals in 2-D (Lang & Witbrock 1988), generated deterministically."""
    rng = np.random.default_rng(SPLIT_SEED)
    radius_fraction = np.sqrt(rng.uniform(0.0, 1.0, points_per_class))
    angle = radius_fraction * turns * 2 * np.pi
    radius = radius_fraction * 4.0
    arm = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, noise, (2 * points_per_class, 2))
    y = np.repeat([0, 1], points_per_class)
    return split_70_15_15(x, y, num_classes=2)
