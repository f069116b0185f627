"""MNIST-1D: the package's defaults, the fixed splits, the cache, the fixed position permutation."""
import random

import numpy as np
import pytest

from bench import data
from bench.data import generated as module

SMALL = {"num_samples": 300}


@pytest.fixture(scope="module")
def defaults(tmp_path_factory):
    """The full default MNIST-1D, generated once for this module (about 2 s)."""
    import os

    folder = tmp_path_factory.mktemp("data")
    previous = os.environ.get("INITOPT_DATA_DIR")
    os.environ["INITOPT_DATA_DIR"] = str(folder)
    data.mnist1d.cache_clear()
    try:
        yield {"plain": data.mnist1d(), "shuffled": data.mnist1d(shuffled=True), "raw": module.mnist1d_arrays(),
               "folder": folder}
    finally:
        data.mnist1d.cache_clear()
        if previous is None:
            del os.environ["INITOPT_DATA_DIR"]
        else:
            os.environ["INITOPT_DATA_DIR"] = previous


def test_defaults_are_the_papers_4000_and_1000_examples_of_length_40(defaults):
    raw = defaults["raw"]
    assert raw["x"].shape == (4000, 40) and raw["x_test"].shape == (1000, 40)
    assert set(np.unique(raw["y"])) == set(range(10))
    assert module.generator_arguments()["num_samples"] == 5000


def test_validation_is_500_stratified_from_training_and_test_is_the_papers(defaults):
    dataset, raw = defaults["plain"], defaults["raw"]
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (3500, 500, 1000)
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int32
    assert dataset.num_classes == 10
    np.testing.assert_array_equal(dataset.x_test, raw["x_test"])
    np.testing.assert_array_equal(dataset.y_test, raw["y_test"])
    regrouped = np.concatenate([dataset.x_train, dataset.x_val])
    assert sorted(map(bytes, regrouped)) == sorted(map(bytes, raw["x"]))
    counts = np.bincount(dataset.y_val, minlength=10)
    expected = 500 * np.bincount(raw["y"], minlength=10) / 4000
    assert np.all(np.abs(counts - expected) <= 1)


def test_shuffled_applies_one_fixed_permutation_to_every_example(defaults):
    plain, shuffled = defaults["plain"], defaults["shuffled"]
    order = module.position_permutation(40)
    assert sorted(order) == list(range(40)) and not np.array_equal(order, np.arange(40))
    np.testing.assert_array_equal(module.position_permutation(40), order)
    for name in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(plain, name)[:, order])
    np.testing.assert_array_equal(shuffled.y_train, plain.y_train)


def test_a_second_load_reads_the_cache(defaults, monkeypatch):
    monkeypatch.setenv("INITOPT_DATA_DIR", str(defaults["folder"]))
    assert list((defaults["folder"] / "mnist1d").glob("*.npz"))
    monkeypatch.setattr(module, "_generate", lambda arguments: pytest.fail("generated again"))
    np.testing.assert_array_equal(module.mnist1d_arrays()["x"], defaults["raw"]["x"])


def test_generation_is_deterministic_and_leaves_global_generators_alone(data_dir):
    arguments = {**module.generator_arguments(), **SMALL}
    np.random.seed(7)
    random.seed(7)
    before = (np.random.random(), random.random())
    np.random.seed(7)
    random.seed(7)
    first = module.mnist1d_arrays(arguments)
    assert (np.random.random(), random.random()) == before  # the generator seeds globals; we restore them
    for path in (data_dir / "mnist1d").glob("*.npz"):
        path.unlink()
    np.random.seed(99)
    second = module.mnist1d_arrays(arguments)
    for name in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(first[name], second[name])
    assert first["x"].shape == (240, 40)
