"""Complex parameters: every optimizer descends a complex parabola as optax's do, and where
optax does not support complex parameters ours behaves as optax's does (same trajectory, or the
same error). Agreement step by step on complex trees is in test_agreement.py.

The parabola f(z) = sum |z - z*|^2 over a complex matrix and a complex vector; as in optax's
own tests, the gradient fed to the optimizer is conj(jax.grad(f)), the steepest-descent
direction (jax.grad of a real function of z returns its conjugate).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import alias, contrib, schedules

STEPS = 200
# NumPy complex128: they become complex128 JAX arrays inside the x64 fixture.
TARGET = {"matrix": np.array([[1.0, -1.0, 1.0, 2.0], [0.5, 2.0, -3.0, 0.0], [1.0, 0.0, -1.0, 1.5]]) * (1 + 1j),
          "vector": np.array([2.0, -1.0, 0.5, 0.0, 1.0]) * (1 - 2j)}
START = {"matrix": np.ones((3, 4)) * (1 - 0.5j) + np.array([1.0, -2.0, 0.5, 3.0]),
         "vector": np.array([-1.0, 1.0, 3.0, 0.5, 0.0]) * (0.5 + 1j)}


def decaying(peak):
    """A cosine decay to 0 over the run: sign-based methods need it to settle."""
    return schedules.warmup_cosine_decay(peak, 0, STEPS)


# optimizer -> (factory, kwargs): a sensible setting for this 17-parameter parabola.
DESCENDING = {
    "sgd": (alias.sgd, {"learning_rate": 0.1, "momentum": 0.9}),
    "adagrad": (alias.adagrad, {"learning_rate": 1.0}),
    "rmsprop": (alias.rmsprop, {"learning_rate": 0.03}),
    "rmsprop centered": (alias.rmsprop, {"learning_rate": 0.03, "centered": True, "eps_in_sqrt": False}),
    "adam": (alias.adam, {"learning_rate": 0.1}),
    "adamw": (alias.adamw, {"learning_rate": 0.1}),
    "nadam": (alias.nadam, {"learning_rate": 0.1}),
    "amsgrad": (alias.amsgrad, {"learning_rate": 0.1}),
    "adamax": (alias.adamax, {"learning_rate": 0.1}),
    "lion": (alias.lion, {"learning_rate": decaying(0.3), "weight_decay": 0.0}),
    "nadamw": (alias.nadamw, {"learning_rate": 0.1}),
    "radam": (alias.radam, {"learning_rate": 0.1}),
    "adabelief": (alias.adabelief, {"learning_rate": 0.1}),
    "yogi": (alias.yogi, {"learning_rate": 0.3}),
    "lamb": (alias.lamb, {"learning_rate": decaying(0.1)}),
    "lars": (alias.lars, {"learning_rate": 3.0}),
    "adafactor": (alias.adafactor, {"learning_rate": 0.1}),
    "adafactor factored": (alias.adafactor, {"learning_rate": 0.1, "min_dim_size_to_factor": 3, "momentum": 0.5,
                                           "dtype_momentum": jnp.complex128}),
    "signum": (alias.signum, {"learning_rate": decaying(0.1)}),
    "muon": (contrib.muon, {"learning_rate": decaying(0.3)}),
    "schedule_free_adamw": (contrib.schedule_free_adamw, {"learning_rate": 0.3}),
    "schedule_free_sgd": (contrib.schedule_free_sgd, {"learning_rate": 0.1}),
    "ademamix": (contrib.ademamix, {"learning_rate": decaying(0.1)}),
    "adopt": (contrib.adopt, {"learning_rate": 0.1, "use_clipping": False}),
}
# Not supported for complex parameters by optax's formulas (see their docstrings): held to
# optax's own trajectory instead.
AS_OPTAX = {
    "adadelta": (alias.adadelta, optax.adadelta, {"learning_rate": 1.0}),
    "prodigy": (contrib.prodigy, optax.contrib.prodigy, {}),
}


def loss(z):
    return sum(jnp.sum(jnp.abs(z[k] - TARGET[k]) ** 2) for k in z)


def descend(transformation, evaluate=None):
    """Loss after STEPS steps (at evaluate(state, params) if given) and the final params."""

    def step(carry, _):
        z, state = carry
        updates, state = transformation.update(jax.tree.map(jnp.conj, jax.grad(loss)(z)), state, z)
        return (optax.apply_updates(z, updates), state), None

    start = jax.tree.map(jnp.asarray, START)
    (z, state), _ = jax.lax.scan(step, (start, transformation.init(start)), None, STEPS)
    if evaluate is not None:
        z = evaluate(state, z)
    return loss(z), z


@pytest.fixture(scope="module")
def results():
    """Everything in one compiled program, in complex128."""
    with jax.enable_x64(True):
        assert jnp.asarray(START["matrix"]).dtype == jnp.complex128

        @jax.jit
        def run():
            out = {}
            for name, (factory, kwargs) in DESCENDING.items():
                evaluate = contrib.schedule_free_eval_params if name.startswith("schedule_free") else None
                out[name] = descend(factory(**kwargs), evaluate)[0]
            for name, (ours, theirs, kwargs) in AS_OPTAX.items():
                out[name] = (descend(ours(**kwargs))[1], descend(theirs(**kwargs))[1])
            return out

        yield float(loss(jax.tree.map(jnp.asarray, START))), jax.device_get(run())


@pytest.mark.parametrize("name", DESCENDING)
def test_descends_a_complex_parabola(results, name):
    initial, out = results
    assert out[name] < 1e-3 * initial, f"{name}: loss {initial:.3g} -> {out[name]:.3g}"


@pytest.mark.parametrize("name", AS_OPTAX)
def test_unsupported_ones_follow_optax_on_complex_parameters(results, name):
    _, out = results
    ours, theirs = out[name]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=0), ours, theirs)


def test_every_optimizer_is_covered():
    names = {"sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam", "amsgrad", "adamax", "lion", "nadamw",
             "radam", "adabelief", "yogi", "lamb", "lars", "adafactor", "signum", "muon", "schedule_free_adamw",
             "schedule_free_sgd", "prodigy", "ademamix", "adopt"}
    covered = {factory.__name__ for factory, _ in DESCENDING.values()} | set(AS_OPTAX)
    assert covered == names


def test_adopt_with_clipping_rejects_complex_parameters_as_optax_does():
    params = {"w": jnp.ones(3, jnp.complex64)}
    grads = {"w": jnp.full(3, 1 + 1j, jnp.complex64)}

    def one_step(transformation):
        state = transformation.init(params)
        for _ in range(2):
            _, state = transformation.update(grads, state, params)

    with pytest.raises(ValueError, match="[Cc]omplex") as theirs:
        one_step(optax.contrib.adopt(1e-3))
    with pytest.raises(ValueError, match="[Cc]omplex") as ours:
        one_step(contrib.adopt(1e-3))
    assert str(ours.value) == str(theirs.value)
