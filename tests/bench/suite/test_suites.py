"""The default suite's learning rates and every optimizer's grid come from the committed sweep
(under the comparison suites' decayed schedule), and default-constant's from the sweep at a
constant rate: not from taste."""
import json
import os

import pytest

from bench.suite.config import DEFAULT_CONSTANT_LEARNING_RATES, DEFAULT_LEARNING_RATES, suites
from optimizers import OPTIMIZERS
from optimizers.registry import (SWEEP_LEARNING_RATES, SWEPT_BEST_CONSTANT_LEARNING_RATE, SWEPT_BEST_LEARNING_RATE,
                                 swept_grid)

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "results", "reference")
SWEEPS = {  # file -> (the command that makes it, its schedule, the rates it sets)
    "sweep.json": ("python -m bench --suite sweep --no-plots --out results/reference/sweep.json",
                   "warmup_cosine", SWEPT_BEST_LEARNING_RATE),
    "sweep-constant.json": ("python -m bench --suite sweep --schedule constant --no-plots "
                            "--out results/reference/sweep-constant.json", "constant",
                            SWEPT_BEST_CONSTANT_LEARNING_RATE),
}


def _load(name):
    path = os.path.join(REFERENCE, name)
    if not os.path.exists(path):
        pytest.fail(f"results/reference/{name} is missing: run `{SWEEPS[name][0]}`")
    with open(path) as file:
        return json.load(file)


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_swept_learning_rates_are_the_sweeps_choices_on_its_selection_seeds(name):
    sweep = _load(name)
    _, schedule, rates = SWEEPS[name]
    assert sweep["meta"]["suite"] == "sweep" and sweep["meta"]["complete"]
    assert sweep["meta"]["config"].get("schedule", "constant") == schedule
    selection = [row for row in sweep["summary"] if row["phase"] == "selection"]
    chosen = {row["optimizer"]: row["lr"] for row in selection if row["chosen"]}
    assert chosen == rates and set(chosen) == set(OPTIMIZERS)
    assert all(set(row["seeds"]) == {0, 1, 2, 3} for row in selection)
    # the choice really is the best all-seed validation mean (no chosen row had failures here)
    for optimizer, lr in chosen.items():
        rows = [r for r in selection if r["optimizer"] == optimizer]
        assert max(rows, key=lambda r: r["val_accuracy_mean"])["lr"] == lr


def test_default_suites_use_the_swept_rates_of_their_schedule():
    for suite, table, best in (("default", DEFAULT_LEARNING_RATES, SWEPT_BEST_LEARNING_RATE),
                               ("default-constant", DEFAULT_CONSTANT_LEARNING_RATES,
                                SWEPT_BEST_CONSTANT_LEARNING_RATE)):
        for optimizer, rates in table.items():
            assert best[optimizer] in rates
            assert suites()[suite].learning_rates[optimizer] == rates


def test_registry_grids_center_on_the_swept_best():
    for optimizer, best in SWEPT_BEST_LEARNING_RATE.items():
        i = SWEEP_LEARNING_RATES.index(best)
        assert OPTIMIZERS[optimizer].learning_rates == SWEEP_LEARNING_RATES[max(i - 1, 0):i + 2] == swept_grid(optimizer)
