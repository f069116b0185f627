"""The small shipped data sets: sklearn's digits and the spirals, split once 70/15/15."""
import numpy as np

from bench import data


def test_digits_split_is_stratified_70_15_15():
    d = data.digits()
    sizes = (len(d.x_train), len(d.x_val), len(d.x_test))
    assert sum(sizes) == 1797
    assert sizes == (1257, 270, 270)
    for labels in (d.y_train, d.y_val, d.y_test):
        share = np.bincount(labels, minlength=10) / len(labels)
        np.testing.assert_allclose(share, np.bincount(d.y_train, minlength=10) / len(d.y_train), atol=0.02)
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0


def test_split_does_not_depend_on_anything_but_the_data():
    data.digits.cache_clear()
    first = data.digits()
    data.digits.cache_clear()
    np.random.seed(123)
    second = data.digits()
    for a, b in zip(first[:6], second[:6]):
        np.testing.assert_array_equal(a, b)


def test_spirals_are_deterministic_balanced_and_two_class():
    d = data.spirals()
    data.spirals.cache_clear()
    again = data.spirals()
    np.testing.assert_array_equal(d.x_train, again.x_train)
    assert d.num_classes == 2 and set(np.unique(d.y_train)) == {0, 1}
    assert abs(d.y_train.mean() - 0.5) < 0.02


def test_a_split_is_cached_whole_and_keyed_on_scikit_learns_version(tmp_path, monkeypatch):
    import numpy as np

    from bench import data
    from bench.data import dataset as dataset_module

    monkeypatch.setenv("INITOPT_DATA_DIR", str(tmp_path))
    built = dataset_module.cached_split("spirals", {"n": 7}, lambda: data.small.make_spirals(50, 1.5, 0.2))
    files = list((tmp_path / "splits").glob("spirals-*.npz"))
    assert len(files) == 1
    again = dataset_module.cached_split("spirals", {"n": 7}, lambda: 1 / 0)  # never built again
    for field in data.Dataset._fields:
        np.testing.assert_array_equal(np.asarray(getattr(again, field)), np.asarray(getattr(built, field)))
        assert np.asarray(getattr(again, field)).dtype == np.asarray(getattr(built, field)).dtype
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0-another")
    dataset_module.cached_split("spirals", {"n": 7}, lambda: built)
    assert len(list((tmp_path / "splits").glob("spirals-*.npz"))) == 2  # another version, its own split
