"""The default suite's learning rates and every optimizer's grid come from the committed sweep,
not from taste."""
import json
import os

import pytest

from bench.suite.config import DEFAULT_LEARNING_RATES, suites
from optimizers import OPTIMIZERS
from optimizers.registry import SWEEP_LEARNING_RATES, SWEPT_BEST_LEARNING_RATE, swept_grid

SWEEP = os.path.join(os.path.dirname(__file__), "..", "..", "..", "results", "reference", "sweep.json")


@pytest.fixture(scope="module")
def sweep():
    if not os.path.exists(SWEEP):
        pytest.fail("results/reference/sweep.json is missing: run `python -m bench --suite sweep "
                    "--out results/reference/sweep.json`")
    with open(SWEEP) as file:
        return json.load(file)


def test_swept_learning_rates_are_the_sweeps_choices_on_its_selection_seeds(sweep):
    assert sweep["meta"]["suite"] == "sweep" and sweep["meta"]["complete"]
    assert sweep["schema_version"] == 2
    selection = [row for row in sweep["summary"] if row["phase"] == "selection"]
    chosen = {row["optimizer"]: row["lr"] for row in selection if row["chosen"]}
    assert chosen == SWEPT_BEST_LEARNING_RATE and set(chosen) == set(OPTIMIZERS)
    assert all(set(row["seeds"]) == {0, 1, 2, 3} for row in selection)
    # the choice really is the best all-seed validation mean (no chosen row had failures here)
    for optimizer, lr in chosen.items():
        rows = [r for r in selection if r["optimizer"] == optimizer]
        assert max(rows, key=lambda r: r["val_accuracy_mean"])["lr"] == lr


def test_default_suite_uses_the_swept_rates():
    default = suites()["default"]
    for optimizer, rates in DEFAULT_LEARNING_RATES.items():
        assert SWEPT_BEST_LEARNING_RATE[optimizer] in rates
        assert default.learning_rates[optimizer] == rates


def test_registry_grids_center_on_the_swept_best():
    for optimizer, best in SWEPT_BEST_LEARNING_RATE.items():
        i = SWEEP_LEARNING_RATES.index(best)
        assert OPTIMIZERS[optimizer].learning_rates == SWEEP_LEARNING_RATES[i - 1:i + 2] == swept_grid(optimizer)
