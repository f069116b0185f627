"""Hyperparameter handling: ValueErrors for bad concrete numbers, traced values passed through,
Adadelta's default learning rate, schedules, masks, and optax's signatures."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers import alias, contrib, schedules

PARAMS = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}
GRADS = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array(1.0)}

INVALID = [
    (alias.sgd, {"learning_rate": -0.1}, "learning_rate"),
    (alias.sgd, {"learning_rate": float("nan")}, "learning_rate"),
    (alias.sgd, {"learning_rate": np.float32(-1e-3)}, "learning_rate"),
    (alias.sgd, {"learning_rate": 0.1, "momentum": -0.5}, "momentum"),
    (alias.rmsprop, {"learning_rate": 0.1, "momentum": -0.9}, "momentum"),
    (alias.adagrad, {"learning_rate": 0.1, "eps": -1e-7}, "eps"),
    (alias.adagrad, {"learning_rate": 0.1, "initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (alias.adadelta, {"rho": 1.0}, "rho"),
    (alias.adadelta, {"rho": -0.1}, "rho"),
    (alias.adadelta, {"eps": -1e-6}, "eps"),
    (alias.adadelta, {"learning_rate": None}, "learning_rate"),
    (alias.rmsprop, {"learning_rate": 0.1, "decay": 1.0}, "decay"),
    (alias.rmsprop, {"learning_rate": 0.1, "decay": 0.9, "centered": True, "eps": -1.0}, "eps"),
    (alias.adam, {"learning_rate": -1e-3}, "learning_rate"),
    (alias.adam, {"learning_rate": 1e-3, "b1": 1.0}, "b1"),
    (alias.adam, {"learning_rate": 1e-3, "b1": -0.1}, "b1"),
    (alias.adam, {"learning_rate": 1e-3, "b2": 1.5}, "b2"),
    (alias.adam, {"learning_rate": 1e-3, "eps": -1e-8}, "eps"),
    (alias.adam, {"learning_rate": 1e-3, "eps_root": -1e-8}, "eps_root"),
    (alias.adamw, {"learning_rate": 1e-3, "weight_decay": -1e-4}, "weight_decay"),
    (alias.nadam, {"learning_rate": 1e-3, "b2": 1.0}, "b2"),
    (alias.amsgrad, {"learning_rate": 1e-3, "b1": 2.0}, "b1"),
    (alias.adamax, {"learning_rate": 1e-3, "b2": 1.0}, "b2"),
    (alias.lion, {"learning_rate": 1e-4, "b1": 1.0}, "b1"),
    (alias.lion, {"learning_rate": 1e-4, "b2": -0.5}, "b2"),
    (alias.adam, {"learning_rate": jnp.float32(-1e-3)}, "learning_rate"),  # a concrete 0-d JAX array
    (alias.adam, {"learning_rate": 1e-3, "b1": jnp.asarray(1.5)}, "b1"),
    (alias.nadamw, {"learning_rate": 1e-3, "weight_decay": -0.1}, "weight_decay"),
    (alias.radam, {"learning_rate": 1e-3, "b2": 1.0}, "b2"),
    (alias.adabelief, {"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root"),
    (alias.yogi, {"learning_rate": 1e-3, "b1": 1.0}, "b1"),
    (alias.lamb, {"learning_rate": 1e-3, "eps": -1e-6}, "eps"),
    (alias.lars, {"learning_rate": 1e-3, "trust_coefficient": -1.0}, "trust_coefficient"),
    (alias.lars, {"learning_rate": 1e-3, "momentum": -0.9}, "momentum"),
    (alias.adafactor, {"learning_rate": 1e-3, "momentum": 1.0}, "decay"),
    (alias.adafactor, {"learning_rate": 1e-3, "decay_rate": -0.8}, "decay_rate"),
    (alias.signum, {"learning_rate": 1e-3, "beta": 1.0}, "decay"),
    (contrib.muon, {"learning_rate": 1e-3, "beta": 1.0}, "beta"),
    (contrib.muon, {"learning_rate": 1e-3, "preconditioning": "polar"}, "preconditioning"),
    (contrib.muon, {"learning_rate": 1e-3, "ns_coeffs": "fast"}, "preset"),
    (contrib.schedule_free_adamw, {"b1": 0.0}, "b1"),
    (contrib.schedule_free_sgd, {"learning_rate": -1.0}, "learning_rate"),
    (contrib.prodigy, {"betas": (0.9, 1.0)}, "betas"),
    (contrib.prodigy, {"estim_lr0": 0.0}, "estim_lr0"),
    (contrib.ademamix, {"learning_rate": 1e-3, "b3": 1.0}, "b3"),
    (contrib.ademamix, {"learning_rate": 1e-3, "alpha": -5.0}, "alpha"),
    (contrib.adopt, {"learning_rate": 1e-3, "b2": 1.0}, "b2"),
]


@pytest.mark.parametrize("factory, kwargs, name", INVALID, ids=[f"{f.__name__}-{n}-{i}" for i, (f, k, n) in enumerate(INVALID)])
def test_invalid_plain_numbers_raise_value_error(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (alias.sgd, {"learning_rate": 0.0, "momentum": 0.0}),
        (alias.adam, {"learning_rate": 0.0, "b1": 0.0, "b2": 0.0, "eps": 0.0}),
        (alias.rmsprop, {"learning_rate": 1.0, "decay": 0.0, "momentum": 1.5}),
        (alias.adadelta, {"rho": 0.0, "eps": 0.0}),
    ],
)
def test_boundary_values_are_accepted(factory, kwargs):
    factory(**kwargs)


TRACED = {
    "sgd": (alias.sgd, ("learning_rate", "momentum")),
    "adagrad": (alias.adagrad, ("learning_rate", "initial_accumulator_value", "eps")),
    "adadelta": (alias.adadelta, ("learning_rate", "rho", "eps", "weight_decay")),
    "rmsprop": (alias.rmsprop, ("learning_rate", "decay", "eps", "initial_scale", "momentum")),
    "adam": (alias.adam, ("learning_rate", "b1", "b2", "eps", "eps_root")),
    "adamw": (alias.adamw, ("learning_rate", "b1", "b2", "eps", "weight_decay")),
    "nadam": (alias.nadam, ("learning_rate", "b1", "b2", "eps")),
    "amsgrad": (alias.amsgrad, ("learning_rate", "b1", "b2", "eps", "eps_root")),
    "adamax": (alias.adamax, ("learning_rate", "b1", "b2", "eps")),
    "lion": (alias.lion, ("learning_rate", "b1", "b2", "weight_decay")),
    "nadamw": (alias.nadamw, ("learning_rate", "b1", "b2", "eps", "weight_decay")),
    "radam": (alias.radam, ("learning_rate", "b1", "b2", "eps", "eps_root", "threshold")),
    "adabelief": (alias.adabelief, ("learning_rate", "b1", "b2", "eps", "eps_root")),
    "yogi": (alias.yogi, ("learning_rate", "b1", "b2", "eps")),
    "lamb": (alias.lamb, ("learning_rate", "b1", "b2", "eps", "weight_decay")),
    "lars": (alias.lars, ("learning_rate", "weight_decay", "trust_coefficient", "eps", "momentum")),
    "adafactor": (alias.adafactor, ("learning_rate", "decay_rate", "clipping_threshold", "momentum", "eps")),
    "signum": (alias.signum, ("learning_rate", "beta")),
    "muon": (contrib.muon, ("learning_rate", "beta", "eps", "weight_decay", "adam_b1", "adam_b2")),
    "schedule_free_adamw": (contrib.schedule_free_adamw, ("learning_rate", "b1", "b2", "eps", "weight_decay")),
    "schedule_free_sgd": (contrib.schedule_free_sgd, ("learning_rate", "b1", "weight_decay")),
    "prodigy": (contrib.prodigy, ("learning_rate", "eps", "estim_lr0", "weight_decay")),
    "ademamix": (contrib.ademamix, ("learning_rate", "b1", "b2", "b3", "alpha", "eps")),
    "adopt": (contrib.adopt, ("learning_rate", "b1", "b2", "eps")),
}


@pytest.mark.parametrize("name", TRACED)
def test_traced_hyperparameters_pass_through_unchecked(name):
    """Out-of-range values as tracers: no ValueError, no concretization error; validation only
    looks at plain numbers."""
    factory, names = TRACED[name]

    @jax.jit
    def one_step(values):
        transformation = factory(**dict(zip(names, values)))
        return transformation.update(GRADS, transformation.init(PARAMS), PARAMS)[0]

    updates = one_step(tuple(jnp.float32(-0.5) for _ in names))  # all out of range
    assert jax.tree.structure(updates) == jax.tree.structure(PARAMS)


def test_adadelta_descends_by_default_and_optax_default_climbs():
    gradient = {"x": jnp.ones(3)}
    params = {"x": jnp.zeros(3)}
    ours, theirs = alias.adadelta(), optax.adadelta()
    ours_update = ours.update(gradient, ours.init(params), params)[0]["x"]
    optax_update = theirs.update(gradient, theirs.init(params), params)[0]["x"]
    expected = np.sqrt(1e-6) / np.sqrt(0.1 + 1e-6)  # 0.00316
    np.testing.assert_allclose(ours_update, -expected, rtol=1e-6)
    np.testing.assert_allclose(optax_update, +expected, rtol=1e-6)

    loss = lambda p: jnp.sum((p["x"] - 3.0) ** 2)
    state, start = ours.init(params), loss(params)
    for _ in range(20):
        updates, state = ours.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert loss(params) < start


def test_adadelta_equals_optax_for_explicit_learning_rates():
    for learning_rate in (1.0, 0.3):
        ours, theirs = alias.adadelta(learning_rate), optax.adadelta(learning_rate)
        a = ours.update(GRADS, ours.init(PARAMS), PARAMS)[0]
        b = theirs.update(GRADS, theirs.init(PARAMS), PARAMS)[0]
        jax.tree.map(np.testing.assert_array_equal, a, b)


def test_schedule_is_read_at_counts_zero_one_two():
    transformation = optimizers.scale_by_learning_rate(lambda count: count + 1.0)
    state = transformation.init(PARAMS)
    for expected in (-1.0, -2.0, -3.0):
        updates, state = transformation.update(GRADS, state, PARAMS)
        np.testing.assert_allclose(updates["b"], expected * GRADS["b"])


def test_weight_decay_mask_leaves_unmasked_leaves_alone():
    transformation = optimizers.add_decayed_weights(0.5, mask={"w": True, "b": False})
    updates, _ = transformation.update(GRADS, transformation.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["w"], GRADS["w"] + 0.5 * PARAMS["w"])
    np.testing.assert_array_equal(updates["b"], GRADS["b"])
    with pytest.raises(ValueError, match="params"):
        optimizers.add_decayed_weights(0.5).update(GRADS, optax.EmptyState(), None)


SIGNATURES = [(alias, optax, name) for name in ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam",
                                                "amsgrad", "adamax", "lion", "nadamw", "radam", "adabelief", "yogi",
                                                "lamb", "lars", "adafactor", "signum")]
SIGNATURES += [(contrib, optax.contrib, name) for name in ("muon", "schedule_free_adamw", "schedule_free_sgd",
                                                           "schedule_free", "prodigy", "ademamix", "adopt",
                                                           "schedule_free_eval_params", "scale_by_muon",
                                                           "scale_by_ademamix", "scale_by_adopt")]
SIGNATURES += [(optimizers, optax, name) for name in ("trace", "ema", "scale_by_rss", "scale_by_adadelta",
                                                      "scale_by_rms", "scale_by_stddev", "scale_by_adam",
                                                      "scale_by_amsgrad", "scale_by_adamax", "scale_by_lion",
                                                      "scale_by_belief", "scale_by_yogi", "scale_by_radam",
                                                      "scale_by_trust_ratio", "scale_by_param_block_rms",
                                                      "add_decayed_weights", "scale_by_learning_rate",
                                                      "clip_by_block_rms", "scale", "scale_by_sign",
                                                      "scale_by_factored_rms", "identity")]
SIGNATURES += [(schedules, optax, name) for name in ("constant_schedule", "linear_schedule", "cosine_decay_schedule",
                                                     "join_schedules", "warmup_constant_schedule")]
# Where ours deliberately differs from optax's signature: optax's mode / smooth_beta of Lion are
# not written here (only the hard sign); adadelta's default learning rate is 1.0, not None
# (optax's None climbs the loss; see alias.adadelta).
NOT_WRITTEN = {("scale_by_lion", "mode"), ("scale_by_lion", "smooth_beta")}
OTHER_DEFAULT = {("adadelta", "learning_rate"): (1.0, None)}


def _same_default(ours, theirs) -> bool:
    if callable(ours) and callable(theirs) and not isinstance(ours, type):
        # ADOPT's clip_value_fn: optax's is a lambda, ours the same function named
        counts = jnp.arange(5)
        return bool(jnp.all(ours(counts) == theirs(counts)))
    return ours == theirs


def _split(function, name):
    """(positional parameters in order, keyword-only parameters by name) of `function`, leaving
    out NOT_WRITTEN. optax's nadam and nadamw are functools.partial(adam or adamw,
    nesterov=True), whose signature has nesterov as a keyword-only argument defaulting to True."""
    parameters = [p for p in inspect.signature(function).parameters.values() if (name, p.name) not in NOT_WRITTEN]
    positional = [p for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword_only = {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return positional, keyword_only


def _check_parameter(name, ours, theirs):
    assert ours.kind == theirs.kind, ours.name
    if (name, ours.name) in OTHER_DEFAULT:
        assert (ours.default, theirs.default) == OTHER_DEFAULT[name, ours.name]
    else:
        assert _same_default(ours.default, theirs.default), ours.name


@pytest.mark.parametrize("ours_module, optax_module, name", SIGNATURES, ids=[s[2] for s in SIGNATURES])
def test_signature_and_defaults_match_optax(ours_module, optax_module, name):
    """Names, order, kinds and defaults of the positional parameters, and names, kinds and
    defaults of the keyword-only ones, equal optax's, but for NOT_WRITTEN and OTHER_DEFAULT."""
    ours_positional, ours_keyword_only = _split(getattr(ours_module, name), name)
    theirs_positional, theirs_keyword_only = _split(getattr(optax_module, name), name)
    assert [p.name for p in ours_positional] == [p.name for p in theirs_positional]
    assert sorted(ours_keyword_only) == sorted(theirs_keyword_only)
    for ours, theirs in zip(ours_positional, theirs_positional):
        _check_parameter(name, ours, theirs)
    for parameter in ours_keyword_only:
        _check_parameter(name, ours_keyword_only[parameter], theirs_keyword_only[parameter])


def test_signature_check_sees_keyword_only_arguments():
    """It fails on a missing keyword-only argument and on a keyword-only default that differs."""

    def without_nesterov(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None):
        return alias.nadam(learning_rate, b1, b2, eps, eps_root, mu_dtype)

    def heavy_ball_default(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *,
                           nesterov=False):
        return alias.nadam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)

    for wrong in (without_nesterov, heavy_ball_default):
        with pytest.raises(AssertionError):
            test_signature_and_defaults_match_optax(type("Module", (), {"nadam": wrong}), optax, "nadam")


def test_every_factory_with_an_optax_twin_has_its_signature_checked():
    checked = {name for _, _, name in SIGNATURES}
    ours = [(alias, optax), (optimizers, optax), (schedules, optax), (contrib, optax.contrib)]
    names = {name for module, twins in ours for name in getattr(module, "__all__", dir(module))
             if not name.startswith("_") and inspect.isfunction(getattr(module, name))
             and getattr(module, name).__module__.startswith("optimizers")
             and callable(getattr(twins, name, None)) and not isinstance(getattr(twins, name), type)}
    assert names - checked == set()


def test_states_are_named_tuples():
    for transformation in (optimizers.trace(0.9), optimizers.scale_by_adam(), optimizers.scale_by_rss(),
                           optimizers.scale_by_adadelta(), optimizers.scale_by_rms(), optimizers.scale_by_stddev(),
                           optimizers.scale_by_amsgrad(), optimizers.scale_by_adamax(), optimizers.scale_by_lion(),
                           optimizers.ema(0.9), optimizers.scale_by_belief(), optimizers.scale_by_yogi(),
                           optimizers.scale_by_radam(), optimizers.scale_by_factored_rms(), optimizers.scale_by_muon(),
                           optimizers.scale_by_ademamix(), optimizers.scale_by_adopt(), optimizers.prodigy(),
                           optimizers.schedule_free_adamw()):
        state = transformation.init(PARAMS)
        assert isinstance(state, tuple) and hasattr(state, "_fields")
