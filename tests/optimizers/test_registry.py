"""optimizers.OPTIMIZERS: the names, specs, grids and search spaces the runner relies on."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers import OPTIMIZERS, OptimizerSpec, contrib
from optimizers.spec import SCALES, numeric_arguments

CLASSIC = ["gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam",
           "amsgrad", "adamax", "lion"]
NEW = ["nadamw", "radam", "adabelief", "yogi", "lamb", "lars", "adafactor", "signum", "muon",
       "schedule_free_adamw", "schedule_free_sgd", "prodigy", "ademamix", "adopt"]


def test_names():
    assert list(OPTIMIZERS) == CLASSIC + NEW


def test_specs():
    for name, spec in OPTIMIZERS.items():
        assert isinstance(spec, OptimizerSpec)
        assert spec.full_batch == (name == "gd")
        assert spec.description and spec.paper
        grid = np.asarray(spec.learning_rates)
        assert grid.shape == (3,) and np.all(grid > 0) and np.all(np.diff(grid) > 0), name
        ratios = grid[1:] / grid[:-1]
        assert np.all((ratios > 2) & (ratios < 4)), f"{name}: grid not log-spaced around a centre"


def test_schedule_free_entries_evaluate_at_the_averaged_params():
    for name, spec in OPTIMIZERS.items():
        assert (spec.eval_params is contrib.schedule_free_eval_params) == name.startswith("schedule_free"), name


def test_momentum_entries():
    assert OPTIMIZERS["momentum"].hyperparams == {"momentum": 0.9}
    assert OPTIMIZERS["nesterov"].hyperparams == {"momentum": 0.9, "nesterov": True}
    assert OPTIMIZERS["gd"].factory is OPTIMIZERS["sgd"].factory  # the batch differs, not the rule
    # the swept best rate is 1.0 for both (results/reference/sweep.json); what differs is the batch
    assert OPTIMIZERS["gd"].full_batch and not OPTIMIZERS["sgd"].full_batch


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_search_space_names_real_numeric_arguments_with_valid_bounds(name):
    spec = OPTIMIZERS[name]
    assert spec.search_space and spec.search_space_source, "every optimizer is tunable, with a citation"
    assert "learning_rate" in spec.search_space
    numeric = numeric_arguments(spec.factory)
    for key, dimension in spec.search_space.items():
        assert key == dimension.argument
        assert dimension.argument in numeric, f"{dimension.argument} is not a numeric argument of {name}"
        assert dimension.scale in SCALES
        assert dimension.low < dimension.high, dimension
        if dimension.scale == "log":
            assert dimension.low > 0, dimension
        if dimension.scale == "one_minus_log":
            assert 0 <= dimension.low and dimension.high < 1, dimension
        assert spec.search_space[key] == dimension
    # Each bound is inside the argument's valid range: the factory's own range checks (which
    # raise ValueError, tested in test_hyperparameters.py) accept the corners of the space.
    for corner in ("low", "high"):
        values = {d.argument: getattr(d, corner) for d in spec.search_space.values()}
        spec.factory(**{**spec.hyperparams, **values})


@pytest.mark.slow
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_corners_of_the_search_space_take_finite_steps(name):
    spec = OPTIMIZERS[name]
    params = {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}
    grads = {"w": jnp.full((3, 4), 0.1), "b": jnp.full(4, -0.2)}
    for corner in ("low", "high"):
        values = {d.argument: getattr(d, corner) for d in spec.search_space.values()}
        transformation = spec.factory(**{**spec.hyperparams, **values})
        state = transformation.init(params)
        for _ in range(2):
            updates, state = transformation.update(grads, state, params)
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates)), (name, corner)


def test_numeric_arguments_are_the_traceable_ones():
    sgd = numeric_arguments(OPTIMIZERS["sgd"].factory)
    assert sgd == ("learning_rate", "momentum")  # not nesterov (a flag) nor accumulator_dtype
    muon = numeric_arguments(OPTIMIZERS["muon"].factory)
    assert "ns_coeffs" in muon and "ns_steps" not in muon and "weight_decay_mask" not in muon
    assert "betas" in numeric_arguments(OPTIMIZERS["prodigy"].factory)
    assert "min_dim_size_to_factor" not in numeric_arguments(OPTIMIZERS["adafactor"].factory)
    assert all(isinstance(name, str) for spec in OPTIMIZERS.values() for name in numeric_arguments(spec.factory))
    assert set(numeric_arguments(OPTIMIZERS["adam"].factory)) <= set(inspect.signature(OPTIMIZERS["adam"].factory).parameters)
