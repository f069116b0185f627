"""optimizers.OPTIMIZERS: the names, specs and grids the runner relies on."""
import numpy as np

from optimizers import OPTIMIZERS, OptimizerSpec

NAMES = ["gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam",
         "amsgrad", "adamax", "lion"]


def test_names():
    assert list(OPTIMIZERS) == NAMES


def test_specs():
    for name, spec in OPTIMIZERS.items():
        assert isinstance(spec, OptimizerSpec)
        assert spec.full_batch == (name == "gd")
        assert spec.description and spec.paper
        grid = np.asarray(spec.learning_rates)
        assert grid.shape == (3,) and np.all(grid > 0) and np.all(np.diff(grid) > 0), name
        ratios = grid[1:] / grid[:-1]
        assert np.all((ratios > 2) & (ratios < 4)), f"{name}: grid not log-spaced around a centre"


def test_momentum_entries():
    assert OPTIMIZERS["momentum"].hyperparams == {"momentum": 0.9}
    assert OPTIMIZERS["nesterov"].hyperparams == {"momentum": 0.9, "nesterov": True}
    assert OPTIMIZERS["gd"].factory is OPTIMIZERS["sgd"].factory  # the batch differs, not the rule
    # the swept best rate is 1.0 for both (results/reference/sweep.json); what differs is the batch
    assert OPTIMIZERS["gd"].full_batch and not OPTIMIZERS["sgd"].full_batch
