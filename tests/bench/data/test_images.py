"""MNIST, Fashion-MNIST, CIFAR-10/100 loaders on small self-made files in the original formats."""
import numpy as np
import pytest

from bench import data
from bench.data import images
from bench.errors import UsageError
from tests.bench.data.original_formats import (cifar_batch_bytes, idx_bytes, images_and_labels, sha256,
                                               tar_gz_bytes)


def _rows(x, y):
    return sorted(bytes(image) + bytes([label]) for image, label in zip(x.reshape(len(x), -1), y))


def _write(folder, contents, monkeypatch, table_name):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    monkeypatch.setattr(images, table_name, {name: sha256(content) for name, content in contents.items()})


def _assert_split(dataset, x_train, y_train, x_test, y_test, validation_size, num_classes):
    assert len(dataset.x_val) == validation_size
    assert len(dataset.x_train) == len(x_train) - validation_size
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int32
    # train + validation is the official training set, regrouped; test is the official test set as is
    assert _rows(np.concatenate([dataset.x_train, dataset.x_val]),
                 np.concatenate([dataset.y_train, dataset.y_val])) == _rows(x_train, y_train)
    np.testing.assert_array_equal(dataset.x_test, x_test)
    np.testing.assert_array_equal(dataset.y_test, y_test)
    counts = np.bincount(dataset.y_val, minlength=num_classes)
    assert counts.max() - counts.min() <= 1  # stratified
    assert dataset.num_classes == num_classes


@pytest.mark.parametrize("loader, folder, table", [(data.mnist, "mnist", "MNIST_SHA256"),
                                                   (data.fashion_mnist, "fashion-mnist", "FASHION_MNIST_SHA256")])
def test_idx_sets_load_from_gzipped_idx_files(data_dir, monkeypatch, loader, folder, table):
    rng = np.random.default_rng(0)
    x_train, y_train = images_and_labels(rng, 6, 10, (28, 28))
    x_test, y_test = images_and_labels(rng, 2, 10, (28, 28))
    _write(data_dir / folder, {"train-images-idx3-ubyte.gz": idx_bytes(x_train),
                               "train-labels-idx1-ubyte.gz": idx_bytes(y_train.astype(np.uint8)),
                               "t10k-images-idx3-ubyte.gz": idx_bytes(x_test),
                               "t10k-labels-idx1-ubyte.gz": idx_bytes(y_test.astype(np.uint8))},
           monkeypatch, table)
    monkeypatch.setattr(images, "VALIDATION_SIZE", 20)
    dataset = loader()
    assert dataset.x_train.shape == (40, 28, 28, 1) and dataset.x_test.shape == (20, 28, 28, 1)
    _assert_split(dataset, x_train[..., None], y_train, x_test[..., None], y_test, 20, 10)


def test_the_split_is_fixed(data_dir, monkeypatch):
    rng = np.random.default_rng(1)
    x_train, y_train = images_and_labels(rng, 6, 10, (28, 28))
    x_test, y_test = images_and_labels(rng, 1, 10, (28, 28))
    _write(data_dir / "mnist", {"train-images-idx3-ubyte.gz": idx_bytes(x_train),
                                "train-labels-idx1-ubyte.gz": idx_bytes(y_train.astype(np.uint8)),
                                "t10k-images-idx3-ubyte.gz": idx_bytes(x_test),
                                "t10k-labels-idx1-ubyte.gz": idx_bytes(y_test.astype(np.uint8))},
           monkeypatch, "MNIST_SHA256")
    monkeypatch.setattr(images, "VALIDATION_SIZE", 20)
    first = data.mnist()
    data.mnist.cache_clear()
    np.random.seed(123)
    second = data.mnist()
    for a, b in zip(first[:6], second[:6]):
        np.testing.assert_array_equal(a, b)


def test_read_idx_reads_any_rank_and_rejects_a_broken_file(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=">i4").reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(images.read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "b.gz").write_bytes(idx_bytes(np.arange(7, dtype=np.uint8)))
    np.testing.assert_array_equal(images.read_idx(tmp_path / "b.gz"), np.arange(7))
    import gzip
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x01\x02\x08\x01" + b"\x00" * 8))
    with pytest.raises(UsageError, match="magic"):
        images.read_idx(tmp_path / "bad.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(gzip.decompress(idx_bytes(array))[:-5]))
    with pytest.raises(UsageError, match="header promises"):
        images.read_idx(tmp_path / "short.gz")


def _cifar10_archive(x_train, y_train, x_test, y_test):
    batches = np.array_split(np.arange(len(x_train)), 5)
    members = {f"cifar-10-batches-py/data_batch_{i + 1}": cifar_batch_bytes(x_train[b], y_train[b], "labels")
               for i, b in enumerate(batches)}
    members["cifar-10-batches-py/test_batch"] = cifar_batch_bytes(x_test, y_test, "labels")
    members["cifar-10-batches-py/batches.meta"] = b"unused"
    return tar_gz_bytes(members)


def test_cifar10_loads_from_pickled_batches(data_dir, monkeypatch):
    rng = np.random.default_rng(2)
    x_train, y_train = images_and_labels(rng, 3, 10, (32, 32, 3))
    x_test, y_test = images_and_labels(rng, 1, 10, (32, 32, 3))
    _write(data_dir / "cifar-10", {images.CIFAR10_ARCHIVE: _cifar10_archive(x_train, y_train, x_test, y_test)},
           monkeypatch, "CIFAR_SHA256")
    monkeypatch.setattr(images, "VALIDATION_SIZE", 10)
    dataset = data.cifar10()
    assert dataset.x_train.shape == (20, 32, 32, 3)
    _assert_split(dataset, x_train, y_train, x_test, y_test, 10, 10)


def test_cifar_rows_are_channel_major_and_become_nhwc(tmp_path):
    red = np.arange(1024) % 256
    row = np.concatenate([red, np.full(1024, 7), np.full(1024, 9)]).astype(np.uint8)
    batch = {b"data": row[None], b"labels": [3]}
    import pickle
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(tar_gz_bytes({"b": pickle.dumps(batch)}))
    (x, y), = images.read_cifar_archive(archive, {"train": ("b",)}, "labels").values()
    assert x.shape == (1, 32, 32, 3) and x.dtype == np.uint8 and list(y) == [3]
    np.testing.assert_array_equal(x[0, :, :, 0], red.reshape(32, 32))  # row-major pixels per channel
    assert (x[0, :, :, 1] == 7).all() and (x[0, :, :, 2] == 9).all()
    with pytest.raises(UsageError, match="not a CIFAR"):
        images.read_cifar_archive(archive, {"train": ("missing",)}, "labels")


def test_cifar100_uses_the_fine_labels(data_dir, monkeypatch):
    rng = np.random.default_rng(3)
    x_train, y_train = images_and_labels(rng, 2, 100, (32, 32, 3))
    x_test, y_test = images_and_labels(rng, 1, 100, (32, 32, 3))
    coarse = (y_train // 5).tolist()
    train = cifar_batch_bytes(x_train, y_train, "fine_labels")
    import pickle
    train_dict = pickle.loads(train)
    train_dict[b"coarse_labels"] = coarse
    archive = tar_gz_bytes({"cifar-100-python/train": pickle.dumps(train_dict),
                            "cifar-100-python/test": cifar_batch_bytes(x_test, y_test, "fine_labels")})
    _write(data_dir / "cifar-100", {images.CIFAR100_ARCHIVE: archive}, monkeypatch, "CIFAR_SHA256")
    monkeypatch.setattr(images, "VALIDATION_SIZE", 100)
    dataset = data.cifar100()
    _assert_split(dataset, x_train, y_train, x_test, y_test, 100, 100)


def test_a_file_that_is_not_the_published_one_is_refused(data_dir, monkeypatch):
    x, y = images_and_labels(np.random.default_rng(4), 3, 10, (32, 32, 3))
    archive = _cifar10_archive(x, y, x[:10], y[:10])
    _write(data_dir / "cifar-10", {images.CIFAR10_ARCHIVE: archive}, monkeypatch, "CIFAR_SHA256")
    (data_dir / "cifar-10" / images.CIFAR10_ARCHIVE).write_bytes(archive[:-1] + b"x")  # tampered after hashing
    with pytest.raises(UsageError, match="not the published file.*delete it"):
        data.cifar10()


def test_published_hashes_are_sha256_hex():
    for table in (images.MNIST_SHA256, images.FASHION_MNIST_SHA256, images.CIFAR_SHA256):
        for digest in table.values():
            assert len(digest) == 64 and int(digest, 16) >= 0
    assert images.MNIST_SHA256.keys() == images.FASHION_MNIST_SHA256.keys() == set(images.IDX_FILES)


@pytest.mark.slow
@pytest.mark.parametrize("loader, stats", [(data.mnist, images.MNIST_STATS),
                                           (data.fashion_mnist, images.FASHION_MNIST_STATS),
                                           (data.cifar10, images.CIFAR10_STATS),
                                           (data.cifar100, images.CIFAR100_STATS)])
def test_the_normalization_constants_are_the_real_training_sets(loader, stats):
    """Runs where the real files are already in the cache (nothing is downloaded); skipped elsewhere."""
    loader.cache_clear()
    try:
        dataset = loader()
    except UsageError:
        pytest.skip("not in the data cache")
    finally:
        loader.cache_clear()
    pixels = np.concatenate([dataset.x_train, dataset.x_val]).astype(np.float64) / 255
    axes = tuple(range(pixels.ndim - 1))
    np.testing.assert_allclose(pixels.mean(axis=axes), stats.mean, atol=2e-3)
    np.testing.assert_allclose(pixels.std(axis=axes), stats.std, atol=2e-3)
