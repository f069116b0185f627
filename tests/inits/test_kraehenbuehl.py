"""Kraehenbuehl et al. 2016, within-layer init: every Dense/Conv unit's pre-activation has mean 0, variance 1."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inits
from inits import conformance


class SmallConvNet(nn.Module):
    """Defined here, not by inits: the init must work on a model it did not build."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(6, (3, 3), kernel_init=inits.normal(1.0), name="conv_a")(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(nn.Conv(12, (3, 3), kernel_init=inits.normal(0.1), name="conv_b")(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.tanh(nn.Dense(20, kernel_init=inits.small_random(), name="hidden")(x))
        return nn.Dense(4, kernel_init=inits.random_normal(), name="logits")(x)


@pytest.fixture(scope="module")
def model_params_batch():
    model = SmallConvNet()
    x = 2.0 * jax.random.normal(jax.random.key(3), (24, 10, 10, 2)) + 0.5
    return model, jax.jit(model.init)(jax.random.key(4), x), x  # one compile, not one per eager op


def _worst(moments):
    return (max(np.abs(mean).max() for mean, _ in moments.values()),
            max(np.abs(variance - 1).max() for _, variance in moments.values()))


def test_every_unit_has_mean_zero_and_unit_variance(model_params_batch):
    model, variables, x = model_params_batch
    worst_mean, worst_variance = _worst(conformance.unit_moments(model, variables, x))
    assert worst_mean > 0.1 and worst_variance > 0.5, "the test model must start far from standardized"
    moments = conformance.unit_moments(model, inits.kraehenbuehl(model, variables, x), x)
    assert len(moments) == 4
    assert conformance.unit_moment_failures(moments) == []


def test_the_moment_check_catches_an_unfixed_net(model_params_batch):
    model, variables, x = model_params_batch
    assert conformance.unit_moment_failures(conformance.unit_moments(model, variables, x)) != []


def test_under_jit_of_vmap_over_runs():
    """Dense only: a vmapped Conv kernel compiles to a slow grouped convolution on CPU (verify runs a CNN)."""
    model = nn.Sequential([nn.Dense(16, kernel_init=inits.normal(1.0)), nn.relu, nn.Dense(8), nn.tanh, nn.Dense(3)])
    x = jax.random.normal(jax.random.key(0), (32, 5)) + 1.0
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(lambda key: inits.kraehenbuehl(model, model.init(key, x), x)))(keys)
    for run in range(3):
        one = jax.tree.map(lambda leaf: leaf[run], batched)
        assert conformance.unit_moment_failures(conformance.unit_moments(model, one, x)) == []
    assert not jnp.array_equal(batched["params"]["layers_0"]["kernel"][0], batched["params"]["layers_0"]["kernel"][1])


def test_weights_and_biases_change_and_structure_is_kept(model_params_batch):
    model, variables, x = model_params_batch
    result = inits.kraehenbuehl(model, variables, x)
    assert jax.tree.structure(result) == jax.tree.structure(variables)
    assert result["params"]["conv_a"]["bias"].any(), "the bias takes the mean out"
    bare = inits.kraehenbuehl(model, variables["params"], x)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, bare, result["params"]))


def test_a_layer_without_bias_is_only_scaled():
    model = nn.Sequential([nn.Dense(8, use_bias=False, kernel_init=inits.normal(3.0)), nn.relu, nn.Dense(3)])
    x = jax.random.normal(jax.random.key(0), (64, 5)) + 2.0
    variables = model.init(jax.random.key(1), x)
    fixed = inits.kraehenbuehl(model, variables, x)
    moments = conformance.unit_moments(model, fixed, x)
    first, last = moments["['layers_0']['__call__'][0]"], moments["['layers_2']['__call__'][0]"]
    assert np.allclose(first[1], 1, atol=1e-3) and np.abs(first[0]).max() > 0.1  # no bias: mean stays
    assert np.allclose(last[0], 0, atol=1e-4) and np.allclose(last[1], 1, atol=1e-3)


def test_a_dead_unit_is_left_alone_not_turned_into_nan():
    model = nn.Sequential([nn.Dense(8, kernel_init=inits.zeros), nn.Dense(3)])
    x = jax.random.normal(jax.random.key(0), (16, 5))
    result = inits.kraehenbuehl(model, model.init(jax.random.key(0), x), x)
    assert all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree.leaves(result))
    assert not result["params"]["layers_0"]["kernel"].any()


def test_the_strategy_is_registered_with_this_post_init():
    strategy = inits.STRATEGIES["kraehenbuehl"]
    assert strategy.post_init is inits.kraehenbuehl and "Kraehenbuehl" in strategy.reference
