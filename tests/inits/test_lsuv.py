"""LSUV (Mishkin & Matas 2016): every Dense/Conv output has unit variance on the batch afterwards."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

import inits
from inits import conformance

TOL = 0.1


class SmallConvNet(nn.Module):
    """Defined here, not by inits: LSUV must work on a model it did not build."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(6, (3, 3), kernel_init=inits.orthogonal(), name="conv_a")(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(nn.Conv(12, (3,  3), kernel_init=inits.orthogonal(scale=5.0), name="conv_b")(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.tanh(nn.Dense(20, kernel_init=inits.small_random(), name="hidden")(x))
        return nn.Dense(4, kernel_init=inits.random_normal(), name="logits")(x)


@pytest.fixture(scope="module")
def model_params_batch():
    model = SmallConvNet()
    x = 2.0 * jax.random.normal(jax.random.key(3), (24, 10, 10, 2)) + 0.5
    return model, model.init(jax.random.key(4), x), x


def test_every_layer_has_unit_output_variance(model_params_batch):
    model, variables, x = model_params_batch
    before = conformance.layer_output_variances(model, variables, x)
    after = conformance.layer_output_variances(model, inits.lsuv(model, variables, x, tol=TOL), x)
    assert set(after) == set(before) and len(after) == 4
    assert any(abs(float(v) - 1) > 10 * TOL for v in before.values()), "the test model must start off unit variance"
    assert all(abs(float(v) - 1) <= TOL for v in after.values()), after


def test_only_kernels_change_and_structure_is_kept(model_params_batch):
    model, variables, x = model_params_batch
    result = inits.lsuv(model, variables, x)
    assert jax.tree.structure(result) == jax.tree.structure(variables)
    for layer in ("conv_a", "conv_b", "hidden", "logits"):
        assert jnp.array_equal(result["params"][layer]["bias"], variables["params"][layer]["bias"])
    bare = inits.lsuv(model, variables["params"], x)  # a bare params tree comes back bare
    assert jax.tree.all(jax.tree.map(jnp.array_equal, bare, result["params"]))


def test_under_jit_of_vmap_over_runs(model_params_batch):
    model, _, x = model_params_batch
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(lambda key: inits.lsuv(model, model.init(key, x), x, tol=TOL)))(keys)
    for run in range(3):
        variances = conformance.layer_output_variances(model, jax.tree.map(lambda leaf: leaf[run], batched), x)
        assert all(abs(float(v) - 1) <= TOL for v in variances.values()), (run, variances)


def test_vmapped_over_batches_too(model_params_batch):
    model, variables, x = model_params_batch
    batches = jnp.stack([x, 0.5 * x])
    rescaled = jax.vmap(lambda batch: inits.lsuv(model, variables, batch, tol=TOL))(batches)
    for i in range(2):
        variances = conformance.layer_output_variances(model, jax.tree.map(lambda l: l[i], rescaled), batches[i])
        assert all(abs(float(v) - 1) <= TOL for v in variances.values())


def test_a_zero_layer_is_left_alone_not_turned_into_nan():
    model = nn.Sequential([nn.Dense(8, kernel_init=inits.zeros), nn.Dense(3)])
    x = jnp.ones((4, 5))
    result = inits.lsuv(model, model.init(jax.random.key(0), x), x)
    assert all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree.leaves(result))


def test_the_lsuv_strategy_chains_orthogonal_then_lsuv(model_params_batch):
    strategy = inits.STRATEGIES["lsuv"]
    assert strategy.post_init is inits.lsuv
    model, variables, x = model_params_batch
    variances = conformance.layer_output_variances(model, strategy.post_init(model, variables, x), x)
    assert all(abs(float(v) - 1) <= TOL for v in variances.values())
