"""Data sets: what a task trains, validates and tests on.

Every data set is a `Dataset` of six host arrays (train/validation/test inputs and labels) split
once with a fixed seed, so the split never depends on a run's seed.
"""
from bench.data.dataset import Dataset, split_70_15_15
from bench.data.small import digits, spirals

__all__ = ["Dataset", "digits", "split_70_15_15", "spirals"]
