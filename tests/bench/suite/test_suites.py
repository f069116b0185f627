"""The default suite's learning rates come from the committed sweep, not from taste."""
import json
import os

import pytest

from bench.suite.config import DEFAULT_LEARNING_RATES, SWEPT_BEST_LEARNING_RATE, suites

SWEEP = os.path.join(os.path.dirname(__file__), "..", "..", "..", "results", "reference", "sweep.json")


def test_swept_learning_rates_are_the_sweeps_best_on_validation():
    if not os.path.exists(SWEEP):
        pytest.fail("results/reference/sweep.json is missing: run `python -m bench --suite sweep "
                    "--out results/reference/sweep.json`")
    with open(SWEEP) as file:
        sweep = json.load(file)
    assert sweep["meta"]["suite"] == "sweep" and sweep["meta"]["complete"]
    best = {row["optimizer"]: row["lr"] for row in sweep["summary"] if row["best_lr"]}
    assert best == SWEPT_BEST_LEARNING_RATE
    # best_lr really is the argmax of validation accuracy
    for optimizer, lr in best.items():
        rows = [r for r in sweep["summary"] if r["optimizer"] == optimizer]
        assert max(rows, key=lambda r: r["val_accuracy_mean"])["lr"] == lr


def test_default_suite_uses_the_swept_rates():
    default = suites()["default"]
    for optimizer, rates in DEFAULT_LEARNING_RATES.items():
        assert SWEPT_BEST_LEARNING_RATE[optimizer] in rates
        assert default.learning_rates[optimizer] == rates


def test_registry_grids_center_on_the_swept_best():
    from bench.suite.config import SWEEP_LEARNING_RATES
    from optimizers import OPTIMIZERS

    for optimizer, best in SWEPT_BEST_LEARNING_RATE.items():
        i = SWEEP_LEARNING_RATES.index(best)
        assert OPTIMIZERS[optimizer].learning_rates == SWEEP_LEARNING_RATES[i - 1:i + 2], optimizer
