"""Every numeric hyperparameter of every optimizer may be a traced (vmapped) value: a jax.vmap
over two runs, each with its own value of every numeric argument at once, gives in float64 the
same trajectory as the optimizer built from Python numbers (issue 13's "Done when"), within
the float64 agreement bar (schedule-free's x <-> y reconstruction amplifies the last-bit
differences of a vectorized program to ~1e-12).

One compiled program holds all optimizers. The first run is also built from Python numbers
(compiling a second Python-number run per optimizer would double the cost); the second run's
values all differ from the first's, and its trajectory must differ, so a vmap that ignored or
mixed up its values would fail. Which arguments are numeric comes from
`optimizers.spec.numeric_arguments`; a test holds the table below to it, so a new argument
cannot be left untraced.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import agreement, alias, contrib
from optimizers.spec import numeric_arguments

STEPS = 6
TOLERANCE = agreement.BARS["float64"]

# factory -> two runs, each a value for every numeric argument (both differ from the defaults).
RUNS = {
    "sgd": (alias.sgd, [dict(learning_rate=0.05, momentum=0.9), dict(learning_rate=0.1, momentum=0.5)]),
    "adagrad": (alias.adagrad, [dict(learning_rate=0.1, initial_accumulator_value=0.2, eps=1e-6),
                                dict(learning_rate=0.05, initial_accumulator_value=0.05, eps=1e-9)]),
    "adadelta": (alias.adadelta, [dict(learning_rate=0.5, rho=0.95, eps=1e-5, weight_decay=0.01),
                                  dict(learning_rate=2.0, rho=0.8, eps=1e-7, weight_decay=0.1)]),
    "rmsprop": (alias.rmsprop, [dict(learning_rate=0.01, decay=0.95, eps=1e-6, initial_scale=0.5, momentum=0.9),
                                dict(learning_rate=0.003, decay=0.8, eps=1e-9, initial_scale=0.1, momentum=0.5)]),
    "adam": (alias.adam, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                          dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-9, eps_root=1e-10)]),
    "adamw": (alias.adamw, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8, weight_decay=0.1),
                            dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-9, eps_root=1e-10, weight_decay=0.01)]),
    "nadam": (alias.nadam, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                            dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-9, eps_root=1e-10)]),
    "amsgrad": (alias.amsgrad, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                                dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-9, eps_root=1e-10)]),
    "adamax": (alias.adamax, [dict(learning_rate=2e-3, b1=0.8, b2=0.99, eps=1e-6),
                              dict(learning_rate=6e-3, b1=0.95, b2=0.995, eps=1e-9)]),
    "lion": (alias.lion, [dict(learning_rate=1e-4, b1=0.8, b2=0.95, weight_decay=0.1),
                          dict(learning_rate=3e-4, b1=0.95, b2=0.999, weight_decay=0.01)]),
    "nadamw": (alias.nadamw, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8, weight_decay=0.1),
                              dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-9, eps_root=1e-10,
                                   weight_decay=0.01)]),
    "radam": (alias.radam, [dict(learning_rate=1e-3, b1=0.8, b2=0.9, eps=1e-6, eps_root=1e-8, threshold=4.0),
                            dict(learning_rate=3e-3, b1=0.95, b2=0.8, eps=1e-9, eps_root=1e-10, threshold=4.5)]),
    "adabelief": (alias.adabelief, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-12),
                                    dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-12, eps_root=1e-14)]),
    "yogi": (alias.yogi, [dict(learning_rate=1e-2, b1=0.8, b2=0.99, eps=1e-4),
                          dict(learning_rate=3e-2, b1=0.95, b2=0.995, eps=1e-2)]),
    "lamb": (alias.lamb, [dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.1),
                          dict(learning_rate=3e-3, b1=0.95, b2=0.995, eps=1e-5, eps_root=1e-10, weight_decay=0.01)]),
    "lars": (alias.lars, [dict(learning_rate=0.3, weight_decay=1e-3, trust_coefficient=0.01, eps=1e-9, momentum=0.5),
                          dict(learning_rate=1.0, weight_decay=1e-4, trust_coefficient=0.002, eps=1e-7,
                               momentum=0.8)]),
    "adafactor": (alias.adafactor, [
        dict(learning_rate=0.03, decay_rate=0.7, decay_offset=-2, clipping_threshold=0.5, momentum=0.9,
             weight_decay_rate=1e-3, eps=1e-20),
        dict(learning_rate=0.1, decay_rate=0.9, decay_offset=0, clipping_threshold=2.0, momentum=0.5,
             weight_decay_rate=1e-2, eps=1e-25)]),
    "signum": (alias.signum, [dict(learning_rate=1e-3, beta=0.5), dict(learning_rate=3e-4, beta=0.95)]),
    "muon": (contrib.muon, [
        dict(learning_rate=1e-3, ns_coeffs=(3.0, -3.2, 1.2), beta=0.9, eps=1e-6, weight_decay=0.01, adam_b1=0.8,
             adam_b2=0.99, adam_eps_root=1e-8, adam_weight_decay=0.01, adam_learning_rate=3e-4, consistent_rms=0.2),
        dict(learning_rate=3e-3, ns_coeffs=(3.4, -4.7, 2.0), beta=0.95, eps=1e-7, weight_decay=0.001, adam_b1=0.95,
             adam_b2=0.995, adam_eps_root=1e-10, adam_weight_decay=0.1, adam_learning_rate=1e-3, consistent_rms=0.5)]),
    "schedule_free_adamw": (contrib.schedule_free_adamw, [
        dict(learning_rate=1e-3, warmup_steps=3, b1=0.8, b2=0.99, eps=1e-6, weight_decay=1e-3, weight_lr_power=1.0),
        dict(learning_rate=3e-3, warmup_steps=5, b1=0.95, b2=0.995, eps=1e-9, weight_decay=1e-2,
             weight_lr_power=2.5)]),
    "schedule_free_sgd": (contrib.schedule_free_sgd, [
        dict(learning_rate=0.1, warmup_steps=3, b1=0.8, weight_decay=1e-3, weight_lr_power=1.0),
        dict(learning_rate=0.3, warmup_steps=5, b1=0.95, weight_decay=1e-2, weight_lr_power=2.5)]),
    "prodigy": (contrib.prodigy, [
        dict(learning_rate=0.5, betas=(0.8, 0.99), beta3=0.9, eps=1e-6, estim_lr0=1e-5, estim_lr_coef=2.0,
             weight_decay=1e-3),
        dict(learning_rate=2.0, betas=(0.95, 0.995), beta3=0.95, eps=1e-9, estim_lr0=1e-7, estim_lr_coef=0.5,
             weight_decay=1e-2)]),
    "ademamix": (contrib.ademamix, [
        dict(learning_rate=1e-3, b1=0.8, b2=0.99, b3=0.999, alpha=8.0, eps=1e-6, eps_root=1e-8, weight_decay=0.01),
        dict(learning_rate=3e-3, b1=0.95, b2=0.995, b3=0.99, alpha=3.0, eps=1e-9, eps_root=1e-10,
             weight_decay=0.1)]),
    "adopt": (contrib.adopt, [dict(learning_rate=1e-3, b1=0.8, b2=0.999, eps=1e-8),
                              dict(learning_rate=3e-3, b1=0.95, b2=0.99, eps=1e-5)]),
}


def _trajectory(transformation, params, gradients):
    def step(carry, gradient):
        params, state = carry
        updates, state = transformation.update(gradient, state, params)
        return (optax.apply_updates(params, updates), state), updates

    return jax.lax.scan(step, (params, transformation.init(params)), gradients)[1]


def _stacked(runs):
    """The runs' values as arrays with a leading runs axis (tuples stay tuples of arrays)."""
    return {key: jax.tree.map(lambda *values: jnp.asarray(values), *[run[key] for run in runs]) for key in runs[0]}


@pytest.fixture(scope="module")
def trajectories():
    """name -> (vmapped trajectories of both runs, trajectory of the first from Python numbers),
    in float64, on a matrix (Muon's part) and a vector (its AdamW part), with a nonzero first
    gradient (Prodigy's first estimate is 0/0 on a zero one, in optax too). Two leaves, not
    agreement's four: what is tested is tracing, and compiling costs per leaf."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        params = {"matrix": jnp.asarray(rng.standard_normal((5, 6))), "vector": jnp.asarray(rng.standard_normal(6))}
        gradients = agreement.random_gradient_stream(rng, params, STEPS + 1)
        gradients = jax.tree.map(lambda g: g[1:], gradients)

        @jax.jit
        def run(stacked):
            out = {}
            for name, (factory, runs) in RUNS.items():
                vmapped = jax.vmap(lambda values, factory=factory: _trajectory(factory(**values), params, gradients))
                out[name] = (vmapped(stacked[name]), _trajectory(factory(**runs[0]), params, gradients))
            return out

        yield jax.device_get(run({name: _stacked(runs) for name, (_, runs) in RUNS.items()}))


@pytest.mark.parametrize("name", RUNS)
def test_every_numeric_argument_is_in_the_table(name):
    factory, runs = RUNS[name]
    for values in runs:
        assert set(values) == set(numeric_arguments(factory)), name


@pytest.mark.parametrize("name", RUNS)
def test_vmapped_hyperparameters_equal_python_numbers(trajectories, name):
    vmapped, from_numbers = trajectories[name]
    first, second = (jax.tree.map(lambda x, i=i: x[i], vmapped) for i in range(2))
    difference = float(np.max(agreement.relative_difference(first, from_numbers)))
    assert difference <= TOLERANCE, f"{difference:.2e}"
    assert float(np.max(agreement.relative_difference(second, from_numbers))) > 1e-3, "the runs did not differ"


@pytest.mark.parametrize("name", RUNS)
def test_the_two_runs_differ_in_every_argument(name):
    _, (first, second) = RUNS[name]
    assert all(first[key] != second[key] for key in first), name
