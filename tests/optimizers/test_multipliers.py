"""scale_by_tree: per-parameter learning-rate multipliers after the learning rate (muP's per-layer rates)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import inits
from optimizers import alias
from optimizers.multipliers import scale_by_tree

STEPS = 10


def _gradients(params, steps=STEPS, seed=0):
    keys = jax.random.split(jax.random.key(seed), steps)
    return [jax.tree.map(lambda p, k=key: jax.random.normal(k, p.shape, p.dtype), params) for key in keys]


def _run(optimizer, params, gradients):
    state = optimizer.init(params)
    for gradient in gradients:
        updates, state = optimizer.update(gradient, state, params)
        params = optax.apply_updates(params, updates)
    return params


PARAMS = {"hidden": jnp.ones((4, 3)), "output": jnp.full((3,), 0.5)}
MULTIPLIERS = {"hidden": 0.25, "output": 4.0}


@pytest.mark.parametrize("ours,reference", [(alias.adam, optax.adam), (alias.sgd, optax.sgd)],
                         ids=["adam", "sgd"])
def test_chain_with_multipliers_is_the_optimizer_at_the_multiplied_rate(ours, reference):
    lr = 1e-2
    gradients = _gradients(PARAMS)
    chained = _run(optax.chain(ours(lr), scale_by_tree(MULTIPLIERS)), PARAMS, gradients)
    for leaf, multiplier in MULTIPLIERS.items():
        alone = _run(reference(lr * multiplier), PARAMS[leaf], [g[leaf] for g in gradients])
        np.testing.assert_allclose(chained[leaf], alone, rtol=1e-6, atol=1e-7)
        assert not np.allclose(chained[leaf], _run(reference(lr), PARAMS[leaf], [g[leaf] for g in gradients]))


def test_multipliers_may_be_traced_per_run_under_vmap():
    gradients = _gradients(PARAMS, steps=3)
    per_run = {"hidden": jnp.array([0.5, 1.0, 2.0]), "output": jnp.array([1.0, 1.0, 3.0])}

    def run(multipliers):
        return _run(optax.chain(alias.sgd(0.1), scale_by_tree(multipliers)), PARAMS, gradients)

    batched = jax.jit(jax.vmap(run))(per_run)
    for index in range(3):
        alone = run({leaf: float(values[index]) for leaf, values in per_run.items()})
        assert jax.tree.all(jax.tree.map(lambda a, b: jnp.allclose(a[index], b, rtol=1e-6), batched, alone))


def test_update_dtypes_are_kept():
    updates = {"a": jnp.ones((2,), jnp.bfloat16), "b": jnp.ones((2,), jnp.complex64)}
    scaled, _ = scale_by_tree({"a": 0.5, "b": jnp.float32(2.0)}).update(updates, optax.EmptyState())
    assert scaled["a"].dtype == jnp.bfloat16 and scaled["b"].dtype == jnp.complex64
    assert float(scaled["a"][0]) == 0.5 and complex(scaled["b"][0]) == 2.0


def test_mups_multipliers_fit_the_params_of_the_model():
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(256)(x))
            x = nn.relu(nn.Dense(256)(x))
            return nn.Dense(10)(x)

    model, x = MLP(), jnp.ones((2, 20))
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
    params = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), shapes)
    multipliers = inits.STRATEGIES["mup"].lr_multipliers(model, params, x, "adam")
    optimizer = optax.chain(alias.adam(1e-3), scale_by_tree(multipliers))
    updates, _ = optimizer.update(jax.tree.map(jnp.ones_like, params), optimizer.init(params), params)
    # Adam's first step is -lr * sign(g): the multipliers show through unchanged.
    assert float(updates["Dense_0"]["kernel"][0, 0]) == pytest.approx(-1e-3, rel=1e-4)
    assert float(updates["Dense_1"]["kernel"][0, 0]) == pytest.approx(-1e-3 / 4, rel=1e-4)
    assert float(updates["Dense_2"]["bias"][0]) == pytest.approx(-1e-3, rel=1e-4)
