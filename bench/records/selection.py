"""The rule that chooses a configuration: once, here (README, "Selection apart from evaluation")."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from bench.records.keys import unit_of


def selection_key(row: dict) -> tuple:
    """Sort key of a summary row as a candidate: the first sorted is the one chosen.

    A configuration where more than half the seeds failed ranks below every other; then the
    higher all-seed mean validation accuracy (a failed run counted at what it measured, or at
    chance: `bench.records.summary.summarize`); ties go to fewer failures, then the smaller
    learning rate, then the lower trial. Validation only: test accuracy never chooses.
    """
    mostly_failed = row["failed_fraction"] > 0.5
    mean = row["val_accuracy_mean"]
    return (mostly_failed, mean is None, -(mean or 0.0), row["n_failed"], row["lr"], row["trial"])


def choose(rows: Iterable[dict]) -> dict[tuple, dict]:
    """(task, optimizer, init, budget) -> the chosen row among `rows` (one phase's rows, usually
    the selection rows): `selection_key` first, per budget (`bench.records.keys.unit_of`)."""
    by_pair = defaultdict(list)
    for row in rows:
        by_pair[unit_of(row)].append(row)
    return {pair: min(candidates, key=selection_key) for pair, candidates in by_pair.items()}
