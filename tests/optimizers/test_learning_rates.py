"""Learning rates as floats, as traced arrays (vmapped, as the runner does) and with or without
jit, for every registered optimizer, built as the runner builds it:
`spec.factory(learning_rate=lr, **spec.hyperparams)`.

These run in float64. In float32 a compiled program and op-by-op execution round 1 - b2**t
differently by an ulp, which the cancellation at t=1 (b2=0.999) amplifies to ~1e-5 relative:
real, the same for optax, and not what these tests are about.

The optimizers after Lion run here under `pytest -m slow` only (the
op-by-op loops are slow, Muon's most), on a stream whose first gradient is not zero: Prodigy's
first estimate is 0/0 on a zero gradient (in optax too), and a schedule-free update on a zero
gradient is rounding noise, which a relative difference cannot compare. By default their traced
learning rate (with every other numeric hyperparameter traced at once) is checked in
test_traced_hyperparameters.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import OPTIMIZERS, agreement, alias

STEPS = 6
TOLERANCE = agreement.BARS["float64"]


def _run_scan(transformation, params, gradients):
    def step(carry, gradient):
        params, state = carry
        updates, state = transformation.update(gradient, state, params)
        return (optax.apply_updates(params, updates), state), updates

    return jax.lax.scan(step, (params, transformation.init(params)), gradients)[1]


def _run_loop(transformation, params, gradients):
    """The same steps, op by op: a Python loop, no jit."""
    state, trajectory = transformation.init(params), []
    for index in range(STEPS):
        gradient = jax.tree.map(lambda g: g[index], gradients)
        updates, state = transformation.update(gradient, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(updates)
    return jax.tree.map(lambda *steps: jnp.stack(steps), *trajectory)


def _build(spec, learning_rate):
    return spec.factory(learning_rate=learning_rate, **spec.hyperparams)


def _at(tree, index):
    return jax.tree.map(lambda x: x[index], tree)


def _difference(ours, reference):
    return float(np.max(agreement.relative_difference(ours, reference)))


CLASSIC = ("gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
           "nadam", "amsgrad", "adamax", "lion")
GROUPS = {
    "classic": [name for name in OPTIMIZERS if name in CLASSIC],
    "new": [name for name in OPTIMIZERS if name not in CLASSIC],
}
GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}
NAMES = [pytest.param(name, marks=[pytest.mark.slow] if GROUP_OF[name] == "new" else []) for name in OPTIMIZERS]


def _problem(group):
    if group == "classic":
        return agreement.random_problem(0, jnp.float64, STEPS)
    params, gradients = agreement.random_problem(0, jnp.float64, STEPS + 1)
    return params, jax.tree.map(lambda g: g[1:], gradients)


@pytest.fixture(scope="module")
def compiled():
    """group -> (params, gradients, results): for every registered optimizer of the group, in one
    program, vmapped over the learning-rate grid as a traced array, and with the middle rate as
    a Python float. A group is compiled when a test first asks for it."""
    cache = {}

    def get(group):
        if group in cache:
            return cache[group]
        with jax.enable_x64(True):
            params, gradients = _problem(group)

            @jax.jit
            def run(grids):
                out = {}
                for name in GROUPS[group]:
                    spec = OPTIMIZERS[name]
                    vmapped = jax.vmap(lambda lr, spec=spec: _run_scan(_build(spec, lr), params, gradients))
                    float_rate = _run_scan(_build(spec, spec.learning_rates[1]), params, gradients)
                    out[name] = (vmapped(grids[name]), float_rate)
                return out

            grids = {name: jnp.asarray(OPTIMIZERS[name].learning_rates, jnp.float64) for name in GROUPS[group]}
            cache[group] = (params, gradients, jax.device_get(run(grids)))
        return cache[group]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_vmapped_learning_rate_equals_loop_over_floats(compiled, name):
    params, gradients, results = compiled(GROUP_OF[name])
    vmapped = results[name][0]
    spec = OPTIMIZERS[name]
    with jax.enable_x64(True):
        for index, learning_rate in enumerate(spec.learning_rates):
            looped = _run_loop(_build(spec, learning_rate), params, gradients)
            assert _difference(_at(vmapped, index), looped) <= TOLERANCE, learning_rate


@pytest.mark.parametrize("name", NAMES)
def test_jit_and_no_jit_agree(compiled, name):
    params, gradients, results = compiled(GROUP_OF[name])
    spec = OPTIMIZERS[name]
    with jax.enable_x64(True):
        eager = _run_loop(_build(spec, spec.learning_rates[1]), params, gradients)
    assert _difference(results[name][1], eager) <= TOLERANCE


def test_traced_schedule_under_vmap():
    """A schedule built from the vmapped learning rate (a warm-up to it) equals the loop.

    Written out rather than optax.linear_schedule, which computes in float32 even under x64
    when its end value is a Python float (count / steps of an int32 count is float32)."""
    peaks = (1e-3, 1e-2)
    make = lambda peak: alias.adam(lambda count: peak * jnp.minimum(1.0, (count + 1.0) / 4.0))
    with jax.enable_x64(True):
        params, gradients = agreement.random_problem(0, jnp.float64, STEPS)
        vmapped = jax.jit(jax.vmap(lambda peak: _run_scan(make(peak), params, gradients)))(jnp.asarray(peaks))
        for index, peak in enumerate(peaks):
            assert _difference(_at(vmapped, index), _run_loop(make(peak), params, gradients)) <= TOLERANCE
