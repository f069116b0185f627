"""schedule_free_eval_params: the point schedule-free methods are evaluated at, equal to optax's."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import agreement, alias, contrib

STEPS = 20


def _final(transformation, params, gradients):
    def step(carry, gradient):
        params, state = carry
        updates, state = transformation.update(gradient, state, params)
        return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, transformation.init(params)), gradients)[0]


@pytest.mark.parametrize("name", ["schedule_free_adamw", "schedule_free_sgd"])
def test_eval_params_equal_optax_after_training(name):
    ours_factory, optax_factory = getattr(contrib, name), getattr(optax.contrib, name)
    with jax.enable_x64(True):
        params, gradients = agreement.random_problem(0, jnp.float64, STEPS)

        @jax.jit
        def run():
            ours = _final(ours_factory(learning_rate=0.01, warmup_steps=5), params, gradients)
            theirs = _final(optax_factory(learning_rate=0.01, warmup_steps=5), params, gradients)
            return (contrib.schedule_free_eval_params(ours[1], ours[0]),
                    optax.contrib.schedule_free_eval_params(theirs[1], theirs[0]), ours[0])

        ours, theirs, trained = jax.device_get(run())
    jax.tree.map(np.testing.assert_array_equal, ours, theirs)
    # x, the average, is not y, the point training holds
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(trained))) > 1e-4


def test_eval_params_is_x_from_y_and_z():
    """x = (y - (1 - b1) z) / b1 inverts y = b1 x + (1 - b1) z."""
    state = contrib.ScheduleFreeState(b1=jnp.asarray(0.8), weight_sum=jnp.zeros([]), step_count=jnp.ones([], jnp.int32),
                                      max_lr=jnp.zeros([]), base_optimizer_state=(), z={"w": jnp.array([1.0, 2.0])})
    x = jnp.array([3.0, -1.0])
    y = 0.8 * x + 0.2 * state.z["w"]
    np.testing.assert_allclose(contrib.schedule_free_eval_params(state, {"w": y})["w"], x, rtol=1e-6)


def test_eval_params_rejects_other_states():
    """optax means to raise a ValueError but its getattr without a default raises AttributeError
    first; ours raises the ValueError optax's message intends."""
    params = {"w": jnp.ones(3)}
    state = alias.adam(1e-3).init(params)
    with pytest.raises(AttributeError):
        optax.contrib.schedule_free_eval_params(state, params)
    with pytest.raises(ValueError, match="ScheduleFreeState"):
        contrib.schedule_free_eval_params(state, params)
