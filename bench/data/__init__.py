"""Data sets: what a task trains, validates and tests on.

Every data set is a `Dataset` of six host arrays (train/validation/test inputs and labels) split
once with a fixed seed, so the split never depends on a run's seed. Small sets ship with the
suite (`small`); MNIST-1D is generated (`mnist1d`); MNIST, Fashion-MNIST and CIFAR are downloaded
on first use into the cache (`images`, `download`, `cache`: INITOPT_DATA_DIR).
"""
from bench.data.cache import data_dir
from bench.data.dataset import Dataset, carve_validation, split_70_15_15
from bench.data.images import cifar10, cifar100, fashion_mnist, mnist
from bench.data.generated import mnist1d
from bench.data.small import digits, spirals

__all__ = ["Dataset", "carve_validation", "cifar10", "cifar100", "data_dir", "digits", "fashion_mnist",
           "mnist", "mnist1d", "spirals", "split_70_15_15"]
