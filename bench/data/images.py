"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100: downloaded on first use, parsed from their
original formats, images kept as uint8 (the model normalizes them, with the mean and std here).

Each set's training images are split once, stratified, with a fixed seed, into training and a
validation set of VALIDATION_SIZE (5,000) images; the test set is the official one. Shapes:
MNIST and Fashion-MNIST [n, 28, 28, 1]; CIFAR [n, 32, 32, 3] (NHWC).

Published SHA-256 of the files (never computed here):
  MNIST, Fashion-MNIST: torchvision, torchvision/prototype/datasets/_builtin/mnist.py
    (`MNIST._CHECKSUMS`, `FashionMNIST._CHECKSUMS`); Fashion-MNIST's also in tensorflow-datasets,
    tensorflow_datasets/url_checksums/fashion_mnist.txt.
  CIFAR-10, CIFAR-100 (python versions): torchvision, torchvision/prototype/datasets/_builtin/cifar.py
    (`Cifar10`/`Cifar100` resources); CIFAR-10's also in Keras, keras/datasets/cifar10.py (`file_hash`).
"""
from __future__ import annotations

import functools
import gzip
import pickle
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bench.data.dataset import Dataset, carve_validation
from bench.data.download import RemoteFile, fetch
from bench.errors import UsageError

VALIDATION_SIZE = 5000

MNIST_HOSTS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MNIST_HOSTS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
CIFAR_HOSTS = ("https://www.cs.toronto.edu/~kriz/",)

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_SHA256 = dict(zip(IDX_FILES, (
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")))
FASHION_MNIST_SHA256 = dict(zip(IDX_FILES, (
    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")))
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"
CIFAR_SHA256 = {
    CIFAR10_ARCHIVE: "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    CIFAR100_ARCHIVE: "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
}


class PixelStats(NamedTuple):
    """Per-channel mean and std of the training images, pixels scaled to [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


# The values every reference implementation uses (e.g. PyTorch's MNIST example; the
# population std of CIFAR-10's training set, not the 0.2023/0.1994/0.2010 often copied).
MNIST_STATS = PixelStats((0.1307,), (0.3081,))
FASHION_MNIST_STATS = PixelStats((0.2860,), (0.3530,))
CIFAR10_STATS = PixelStats((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = PixelStats((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file (LeCun's MNIST format): magic 0 0 dtype ndim, big-endian int32 dims, data."""
    with gzip.open(path, "rb") as file:
        raw = file.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UsageError(f"{path} is not a gzipped IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise UsageError(f"{path} holds {len(raw)} bytes, its header promises {expected}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_dataset(folder: str, hosts: tuple[str, ...], sha256: dict[str, str]) -> Dataset:
    files = [RemoteFile(name, tuple(host + name for host in hosts), sha256[name]) for name in IDX_FILES]
    paths = fetch(folder, files)
    x_train, y_train, x_test, y_test = (read_idx(paths[name]) for name in IDX_FILES)
    return carve_validation(x_train[..., None], y_train, x_test[..., None], y_test,
                            VALIDATION_SIZE, num_classes=10)


@functools.cache
def mnist() -> Dataset:
    """MNIST (LeCun et al. 1998): 55,000 / 5,000 / 10,000 images 28x28x1, uint8."""
    return _idx_dataset("mnist", MNIST_HOSTS, MNIST_SHA256)


@functools.cache
def fashion_mnist() -> Dataset:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 55,000 / 5,000 / 10,000 images 28x28x1, uint8."""
    return _idx_dataset("fashion-mnist", FASHION_MNIST_HOSTS, FASHION_MNIST_SHA256)


def read_cifar_archive(path: Path, members: dict[str, tuple[str, ...]], label_key: str):
    """{split: (images [n, 32, 32, 3] uint8, labels [n])} from a CIFAR python-version tar.gz.

    Each member is a pickled dict with b"data" ([n, 3072] uint8, channel-major rows) and the
    labels under `label_key`. Call only on a verified archive: unpickling runs code.
    """
    out = {}
    with tarfile.open(path, "r:gz") as archive:
        names = set(archive.getnames())
        for split, batch_names in members.items():
            images, labels = [], []
            for name in batch_names:
                if name not in names:
                    raise UsageError(f"{path} has no {name}: not a CIFAR python-version archive")
                batch = pickle.load(archive.extractfile(name), encoding="bytes")
                images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[label_key.encode()]))
            out[split] = (np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels))
    return out


def _cifar_dataset(folder: str, archive_name: str, members, label_key: str, num_classes: int) -> Dataset:
    file = RemoteFile(archive_name, tuple(host + archive_name for host in CIFAR_HOSTS),
                      CIFAR_SHA256[archive_name])
    splits = read_cifar_archive(fetch(folder, [file])[archive_name], members, label_key)
    return carve_validation(*splits["train"], *splits["test"], VALIDATION_SIZE, num_classes)


@functools.cache
def cifar10() -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 45,000 / 5,000 / 10,000 images 32x32x3, uint8."""
    members = {"train": tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
               "test": ("cifar-10-batches-py/test_batch",)}
    return _cifar_dataset("cifar-10", CIFAR10_ARCHIVE, members, "labels", 10)


@functools.cache
def cifar100() -> Dataset:
    """CIFAR-100 (Krizhevsky 2009), fine labels: 45,000 / 5,000 / 10,000 images 32x32x3, uint8."""
    members = {"train": ("cifar-100-python/train",), "test": ("cifar-100-python/test",)}
    return _cifar_dataset("cifar-100", CIFAR100_ARCHIVE, members, "fine_labels", 100)
