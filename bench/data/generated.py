"""Generated data sets: MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439).

Generated offline by the `mnist1d` package (PyPI) at its default arguments: 5,000 examples of
length 40 in 10 balanced classes, the first 4,000 for training and the last 1,000 for testing,
standardized by the generator over the whole set (mean 0, std 1; float32 here). Generating takes
a few seconds, so the arrays are cached (INITOPT_DATA_DIR/mnist1d/, written atomically) and a
second load only reads them.

Splits: a fixed stratified validation set of VALIDATION_SIZE (500) carved from the 4,000
training examples (so 3,500 train), and the paper's 1,000 test examples. The paper trains on all
4,000. `shuffled=True` applies one fixed permutation of the 40 positions (PERMUTATION_SEED) to
every example: the paper's "shuffle" row, which removes spatial structure and leaves the
information intact.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random

import numpy as np

from bench.data.cache import data_dir, load_arrays, save_arrays
from bench.data.dataset import Dataset, cached_split, carve_validation

VALIDATION_SIZE = 500
PERMUTATION_SEED = 0
NUM_CLASSES = 10


def generator_arguments() -> dict:
    """The package's default arguments (its download URL left out: nothing is downloaded)."""
    from mnist1d.data import get_dataset_args

    return {name: value for name, value in get_dataset_args(as_dict=True).items() if name != "url"}


def _generate(arguments: dict) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    # make_dataset seeds numpy's and Python's global generators; leave the caller's as they were
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(ObjectView(dict(arguments)))
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {"x": made["x"].astype(np.float32), "y": made["y"].astype(np.int32),
            "x_test": made["x_test"].astype(np.float32), "y_test": made["y_test"].astype(np.int32)}


def mnist1d_arrays(arguments: dict | None = None) -> dict[str, np.ndarray]:
    """The generator's arrays {x, y, x_test, y_test} for `arguments` (default: the package's),
    from the cache if this version of the package made them before."""
    from importlib.metadata import version

    arguments = generator_arguments() if arguments is None else arguments
    key = json.dumps({"mnist1d": version("mnist1d"), **arguments}, sort_keys=True)
    path = data_dir("mnist1d") / f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        return load_arrays(path)
    arrays = _generate(arguments)
    save_arrays(path, **arrays)
    return arrays


def position_permutation(length: int) -> np.ndarray:
    """The one fixed permutation of positions that the shuffled tasks apply to every example."""
    return np.random.default_rng(PERMUTATION_SEED).permutation(length)


@functools.cache
def mnist1d(shuffled: bool = False) -> Dataset:
    """MNIST-1D at the package's defaults: 3,500 / 500 / 1,000 sequences of length 40, float32."""
    arrays = mnist1d_arrays()
    x, x_test = arrays["x"], arrays["x_test"]
    if shuffled:
        order = position_permutation(x.shape[-1])
        x, x_test = x[:, order], x_test[:, order]
    return cached_split(f"mnist1d{'-shuffled' if shuffled else ''}",
                        {"arrays": hashlib.sha256(x.tobytes() + x_test.tobytes()).hexdigest()},
                        lambda: carve_validation(x, arrays["y"], x_test, arrays["y_test"],
                                                 VALIDATION_SIZE, NUM_CLASSES))
