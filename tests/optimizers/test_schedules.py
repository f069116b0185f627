"""optimizers.schedules against optax's schedules: with Python arguments, and with every
argument a traced array under jax.vmap (one schedule per run), which optax's cannot do."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import agreement, alias, schedules

COUNTS = jnp.arange(0, 130)
# (peak, warmup_steps, total_steps, final_fraction)
SETTINGS = [(1e-3, 10, 100, 0.0), (0.3, 0, 50, 0.1), (3.0, 25, 26, 0.5), (1e-2, 1, 120, 1e-3)]


def optax_warmup_cosine(peak, warmup, total, fraction):
    return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, end_value=fraction * peak)


def optax_warmup_linear(peak, warmup, total, fraction):
    return optax.join_schedules(
        [optax.linear_schedule(0.0, peak, warmup), optax.linear_schedule(peak, fraction * peak, total - warmup)],
        [warmup])


PAIRS = [(schedules.warmup_cosine_decay, optax_warmup_cosine), (schedules.warmup_linear_decay, optax_warmup_linear)]


def _evaluate(schedule):
    return jax.jit(jax.vmap(schedule))(COUNTS)


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["warmup_cosine", "warmup_linear"])
@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_equals_optax_with_python_arguments(ours, theirs, setting):
    np.testing.assert_array_equal(_evaluate(ours(*setting)), _evaluate(theirs(*setting)))
    with jax.enable_x64(True):  # our cosine is then float64, optax's float32
        np.testing.assert_allclose(_evaluate(ours(*setting)), _evaluate(theirs(*setting)), rtol=0,
                                   atol=1e-6 * setting[0])


def test_constant_equals_optax():
    assert schedules.constant_schedule(0.3)(jnp.int32(7)) == optax.constant_schedule(0.3)(jnp.int32(7)) == 0.3


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["warmup_cosine", "warmup_linear"])
@pytest.mark.parametrize("x64", [False, True])
def test_traced_arguments_under_vmap_equal_optax_per_run(ours, theirs, x64):
    """Peak, warm-up, total and final fraction all vmapped; each run's schedule equals optax's
    built from that run's Python values, to an ulp of the float32 fraction (a vmapped cosine
    may round differently from a scalar one: 1e-6 of the peak)."""
    with jax.enable_x64(x64):
        peak, warmup, total, fraction = (jnp.asarray(column) for column in zip(*SETTINGS))
        values = jax.jit(jax.vmap(lambda *args: jax.vmap(ours(*args))(COUNTS)))(peak, warmup, total, fraction)
        assert values.dtype == (jnp.float64 if x64 else jnp.float32)
        for run, setting in enumerate(SETTINGS):
            np.testing.assert_allclose(values[run], _evaluate(theirs(*setting)), rtol=0, atol=1e-6 * setting[0])


def test_warmup_cosine_shape():
    schedule = schedules.warmup_cosine_decay(2.0, 10, 110, 0.25)
    value = lambda count: float(schedule(jnp.int32(count)))
    assert value(0) == 0.0 and value(5) == pytest.approx(1.0) and value(10) == pytest.approx(2.0)
    assert value(60) == pytest.approx(0.25 * 2 + 0.75 * 2 * 0.5)  # half way down the cosine
    assert value(110) == pytest.approx(0.5) and value(500) == pytest.approx(0.5)


def test_linear_schedule_keeps_optax_zero_length_quirk_when_traced():
    """optax.linear_schedule with transition_steps <= 0 returns init_value forever (this is why
    schedule_free_*(warmup_steps=0) never moves); ours does the same for a traced length."""
    assert optax.linear_schedule(0.0, 1.0, 0)(5) == 0.0
    assert schedules.linear_schedule(0.0, 1.0, 0)(jnp.int32(5)) == 0.0
    traced = jax.jit(lambda steps: schedules.linear_schedule(0.0, 1.0, steps)(jnp.int32(5)))
    assert traced(0) == 0.0 and traced(10) == pytest.approx(0.5)


def test_bad_lengths_raise_for_concrete_values():
    with pytest.raises(ValueError, match="exceed"):
        schedules.warmup_cosine_decay(1.0, 10, 10)
    with pytest.raises(ValueError, match="exceed"):
        schedules.warmup_linear_decay(1.0, 20, 10)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.cosine_decay_schedule(1.0, 0)


def test_traced_schedule_as_learning_rate_equals_loop_over_floats():
    """A warm-up-cosine learning rate built from vmapped (peak, warm-up, fraction): Adam's
    trajectory per run equals the one built from Python numbers, in float64."""
    steps = 8
    settings = [(1e-3, 2, 0.0), (1e-2, 0, 0.5), (3e-3, 5, 0.1)]
    make = lambda peak, warmup, fraction: alias.adam(schedules.warmup_cosine_decay(peak, warmup, steps, fraction))

    def trajectory(transformation, params, gradients):
        def step(carry, gradient):
            params, state = carry
            updates, state = transformation.update(gradient, state, params)
            return (optax.apply_updates(params, updates), state), updates

        return jax.lax.scan(step, (params, transformation.init(params)), gradients)[1]

    with jax.enable_x64(True):
        params, gradients = agreement.random_problem(0, jnp.float64, steps)
        columns = [jnp.asarray(column) for column in zip(*settings)]
        vmapped = jax.jit(jax.vmap(lambda *args: trajectory(make(*args), params, gradients)))(*columns)
        looped = jax.jit(lambda: [trajectory(make(*setting), params, gradients) for setting in settings])()
        for run in range(len(settings)):
            ours = jax.tree.map(lambda x: x[run], vmapped)
            assert np.max(agreement.relative_difference(ours, looped[run])) <= 1e-12
