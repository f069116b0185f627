"""The `Dataset` every task loads, and the fixed splits: 70/15/15 of one labelled set, or a
validation set carved from a training set beside an official test set."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

SPLIT_SEED = 0


class Dataset(NamedTuple):
    """A task's data: training, validation and test inputs and labels as host arrays, split once
    with a fixed seed, and the number of classes (chance accuracy is 1 / num_classes).

    Image inputs stay uint8 (the model standardizes them); labels are integer class indices.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def split_70_15_15(x: np.ndarray, y: np.ndarray, num_classes: int) -> Dataset:
    """One stratified 70/15/15 split, the same on every machine (fixed SPLIT_SEED)."""
    from sklearn.model_selection import train_test_split  # scikit-learn only when a set is split

    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.30, stratify=y, random_state=SPLIT_SEED)
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.50, stratify=y_rest, random_state=SPLIT_SEED)
    as_float = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    as_label = lambda a: np.ascontiguousarray(a, dtype=np.int32)
    return Dataset(as_float(x_train), as_label(y_train), as_float(x_val), as_label(y_val),
                   as_float(x_test), as_label(y_test), num_classes)


def carve_validation(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                     validation_size: int, num_classes: int) -> Dataset:
    """Training set minus a stratified validation set of `validation_size` (fixed SPLIT_SEED); the
    official test set kept as it is. Inputs keep their dtype (uint8 images stay uint8)."""
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=validation_size, stratify=y_train, random_state=SPLIT_SEED)
    as_label = lambda a: np.ascontiguousarray(a, dtype=np.int32)
    return Dataset(np.ascontiguousarray(x_train), as_label(y_train), np.ascontiguousarray(x_val),
                   as_label(y_val), np.ascontiguousarray(x_test), as_label(y_test), num_classes)


def cached_split(name: str, identity: dict, build) -> Dataset:
    """`build()`'s Dataset, kept in the data cache once made (small data sets only).

    A split is a function of the data, SPLIT_SEED and scikit-learn's `train_test_split`, so the
    key holds scikit-learn's version: another version makes (and keeps) its own split. A cached
    split spares every later run importing scikit-learn (about 0.6 s of a run's start-up on the
    2-core machine; docs/performance.md)."""
    import hashlib
    import json
    from importlib.metadata import version

    from bench.data.cache import data_dir, load_arrays, save_arrays

    key = json.dumps({"name": name, **identity, "split_seed": SPLIT_SEED,
                      "scikit-learn": version("scikit-learn")}, sort_keys=True, default=str)
    path = data_dir("splits") / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        arrays = load_arrays(path)
        return Dataset(**{field: arrays[field] for field in Dataset._fields if field != "num_classes"},
                       num_classes=int(arrays["num_classes"]))
    dataset = build()
    save_arrays(path, **{field: np.asarray(getattr(dataset, field)) for field in Dataset._fields})
    return dataset
