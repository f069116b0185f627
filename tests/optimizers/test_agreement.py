"""Our optimizers against optax, step by step, in float64 and float32 (see optimizers.agreement).

Every row compiles two optimizers (0.5-1 s of CPU on the 2-core machine, complex rows the
most), so the default run checks a core and `pytest -m slow` (and `python -m bench verify
optimizers`) checks every row:

    default, float32 and float64: the classic optimizers' chosen and random rows and their
        deliberately wrong rows (as before the new optimizers);
    default, float64 only (the tighter bar): for each optimizer after Lion its richest chosen
        row, and NAdamW with nesterov=False (plain AdamW, as optax's); the complex rows whose
        complex arithmetic differs most (|g|^2 moments, a complex maximum, factored and
        orthogonalized matrices, a complex inner product) in complex128; five of the new
        deliberately wrong rows;
    slow: every other row: those rows in float32 and complex64, the other chosen rows and the
        random draws of the new optimizers, the other complex rows, the other wrong rows.

The rows of one dtype, with the deliberately wrong ones, run in one compiled program (a
module-scoped fixture); each row is still its own test. The second half shows the checker
can fail: deliberately wrong optimizers and the metric's edge cases.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import OPTIMIZERS, agreement, alias, contrib
from optimizers.tree import moving_average

DTYPES = ("float64", "float32")
CLASSIC = ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam", "amsgrad", "adamax", "lion")
NEW_ALIASES = ("nadamw", "radam", "adabelief", "yogi", "lamb", "lars", "adafactor", "signum")
CONTRIB = ("muon", "schedule_free_adamw", "schedule_free_sgd", "prodigy", "ademamix", "adopt")


def _richest(cases):
    """Per optimizer, the chosen row that sets the most hyperparameters."""
    best = {}
    for case in cases:
        if case.hyperparams.count("=") > best.get(case.optimizer, (None, -1))[1]:
            best[case.optimizer] = (case, case.hyperparams.count("="))
    return [case for case, _ in best.values()]


_CHOSEN = agreement.chosen_cases()
_CLASSIC_ROWS = [c for c in _CHOSEN if c.optimizer in CLASSIC] + [c for c in agreement.random_cases()
                                                                    if c.optimizer in CLASSIC]
_NEW_CHOSEN = [c for c in _CHOSEN if c.optimizer not in CLASSIC]
# optax's keyword-only nesterov=False turns nadamw into adamw: checked in the default run too
# (nadam's row is a classic one, run in both dtypes).
_NEW_CORE = _richest(_NEW_CHOSEN) + [c for c in _NEW_CHOSEN if (c.optimizer, c.hyperparams) == (
    "nadamw", "lr=0.001, weight_decay=0.1, nesterov=False")]
COMPLEX = agreement.complex_cases()
_COMPLEX_CORE = [c for c in COMPLEX if (c.optimizer, c.hyperparams) in {
    ("adam", "complex: lr=0.001"),
    ("rmsprop", "complex: lr=0.01, centered=True, eps_in_sqrt=False, bias_correction=True"),
    ("amsgrad", "complex: lr=0.001"),
    ("adafactor", "complex: lr=0.01, min_dim_size_to_factor=4, momentum=0.9, dtype_momentum=complex64"),
    ("muon", "complex: lr=0.001, adaptive=True, preconditioning='aol', muon_weight_dimension_numbers=conv as 3x3 matrices"),
    ("prodigy", "complex: defaults"),
}]
CASES = {"float64": _CLASSIC_ROWS + _NEW_CORE + _COMPLEX_CORE, "float32": _CLASSIC_ROWS}
_NEW_REST = [c for c in _NEW_CHOSEN if c not in _NEW_CORE] + [c for c in agreement.random_cases()
                                                               if c.optimizer not in CLASSIC]
SLOW_CASES = {"float64": _NEW_REST + [c for c in COMPLEX if c not in _COMPLEX_CORE],
              "float32": _NEW_CORE + _NEW_REST + COMPLEX}
DEFAULT_ROWS = [(dtype, index) for dtype in DTYPES for index in range(len(CASES[dtype]))]


def _check(row, dtype):
    assert row.dtypes_match, "update dtypes differ from optax's"
    assert not row.vacuous, f"optax's updates are zero on {row.steps - row.active_steps} steps"
    assert row.difference <= agreement.BARS[dtype], (
        f"relative difference {row.difference:.2e} (updates {row.update_difference:.2e}, "
        f"params {row.param_difference:.2e}) over {row.steps} steps exceeds {agreement.BARS[dtype]:.0e}"
    )


@pytest.mark.parametrize("dtype, index", DEFAULT_ROWS,
                         ids=[f"{CASES[d][i].optimizer}:{CASES[d][i].hyperparams}-{d}" for d, i in DEFAULT_ROWS])
def test_agrees_with_optax(agreements, dtype, index):
    _check(agreements(dtype)[index], dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_other_row_agrees_with_optax(dtype):
    for row in agreement.compare_many(SLOW_CASES[dtype], dtype):
        _check(row, dtype)


def test_default_and_slow_rows_together_are_every_row():
    every = {(c.optimizer, c.hyperparams) for c in agreement.build_cases()}
    for dtype in DTYPES:
        assert {(c.optimizer, c.hyperparams) for c in CASES[dtype] + SLOW_CASES[dtype]} == every


def test_cases_cover_every_optimizer_at_several_settings():
    everything = agreement.build_cases()
    real = [case for case in everything if not case.complex_parameters]
    counts = {name: sum(case.optimizer == name for case in real) for name in CLASSIC + NEW_ALIASES + CONTRIB}
    assert all(count >= 3 for count in counts.values()), counts
    random = {case.optimizer for case in real if case.hyperparams.startswith("random:")}
    assert random == set(CLASSIC + NEW_ALIASES + CONTRIB)
    complex_counts = {name: sum(case.optimizer == name and case.complex_parameters for case in everything)
                      for name in CLASSIC + NEW_ALIASES + CONTRIB}
    assert all(count >= 1 for count in complex_counts.values()), complex_counts
    factories = {getattr(alias, name) for name in CLASSIC + NEW_ALIASES} | {getattr(contrib, name) for name in CONTRIB}
    assert {spec.factory for spec in OPTIMIZERS.values()} <= factories
    assert any(case.optimizer == "adadelta" and case.reference_sign == -1 for case in everything)
    assert len({(c.optimizer, c.hyperparams) for c in everything}) == len(everything), "duplicate rows"


def _broken(label, ours, reference, sign=1.0, **fields):
    return agreement.Case("broken", "optax", label, ours, reference, sign, **fields)


def _adam_squaring_complex_gradients(learning_rate):
    """Adam as this repository had it before complex support: v accumulates g**2, which for
    complex g is complex and not |g|^2 (the bug of issue 14)."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return (jnp.zeros([], jnp.int32), zeros, zeros)

    def update(updates, state, params=None):
        count, mu, nu = state
        mu, nu, count = moving_average(updates, mu, 0.9, 1), moving_average(updates, nu, 0.999, 2), count + 1
        step = jax.tree.map(lambda m, v: -learning_rate * (m / (1 - 0.9**count)) / (jnp.sqrt(v / (1 - 0.999**count)) + 1e-8),
                            mu, nu)
        return step, (count, mu, nu)

    return optax.GradientTransformation(init, update)


LR = 1e-3
BROKEN = [
    _broken("adam b2 0.998 vs 0.999", lambda: alias.adam(LR, b2=0.998), lambda: optax.adam(LR)),
    _broken("rmsprop eps outside vs inside the root",
            lambda: alias.rmsprop(LR, eps_in_sqrt=False), lambda: optax.rmsprop(LR)),
    _broken("nesterov vs heavy ball",
            lambda: alias.sgd(LR, momentum=0.9, nesterov=True), lambda: optax.sgd(LR, momentum=0.9)),
    _broken("adadelta default, sign not accounted for", lambda: alias.adadelta(), lambda: optax.adadelta()),
    _broken("weight decay unmasked vs masked",
            lambda: alias.adamw(LR, weight_decay=0.1),
            lambda: optax.adamw(LR, weight_decay=0.1, mask=agreement.kernel_mask)),
    _broken("amsgrad max of raw vs corrected v",
            lambda: alias.amsgrad(LR, bias_correction_nu=False), lambda: optax.amsgrad(LR)),
    _broken("schedule one step ahead",
            lambda: alias.sgd(lambda count: agreement.COSINE(count + 1)), lambda: optax.sgd(agreement.COSINE)),
    _broken("centered vs plain rmsprop", lambda: alias.rmsprop(LR, centered=True), lambda: optax.rmsprop(LR)),
    _broken("lion b2 0.98 vs 0.99", lambda: alias.lion(LR, b2=0.98), lambda: optax.lion(LR)),
    _broken("adamw vs nadamw", lambda: alias.adamw(LR), lambda: optax.nadamw(LR)),
    _broken("radam threshold 4 vs 5", lambda: alias.radam(LR, threshold=4.0), lambda: optax.radam(LR)),
    _broken("adam vs adabelief", lambda: alias.adam(LR, eps=1e-16), lambda: optax.adabelief(LR)),
    _broken("lamb without its trust ratio", lambda: alias.adamw(LR, eps=1e-6, weight_decay=0.0),
            lambda: optax.lamb(LR)),
    _broken("lars trust ratio on kernels only vs everywhere",
            lambda: alias.lars(LR, trust_ratio_mask=agreement.kernel_mask), lambda: optax.lars(LR)),
    _broken("adafactor factoring from 4 vs 128", lambda: alias.adafactor(LR, min_dim_size_to_factor=4),
            lambda: optax.adafactor(LR)),
    _broken("muon on the conv kernel vs adam there",
            lambda: contrib.muon(LR, muon_weight_dimension_numbers=agreement.conv_as_one_matrix),
            lambda: optax.contrib.muon(LR)),
    _broken("muon without nesterov", lambda: contrib.muon(LR, nesterov=False), lambda: optax.contrib.muon(LR)),
    _broken("schedule-free adamw with warm-up, weight_lr_power 1 vs 2",
            lambda: contrib.schedule_free_adamw(LR, warmup_steps=10, weight_lr_power=1.0),
            lambda: optax.contrib.schedule_free_adamw(LR, warmup_steps=10)),
    _broken("prodigy safeguard_warmup", lambda: contrib.prodigy(safeguard_warmup=True),
            lambda: optax.contrib.prodigy(), zero_first_gradient=False),
    _broken("ademamix alpha 6 (scale_by_ademamix's default) vs 5", lambda: contrib.ademamix(LR, alpha=6.0),
            lambda: optax.contrib.ademamix(LR)),
    _broken("adopt without vs with clipping", lambda: contrib.adopt(LR, use_clipping=False),
            lambda: optax.contrib.adopt(LR)),
    _broken("complex: adam squaring g instead of |g|^2", lambda: _adam_squaring_complex_gradients(LR),
            lambda: optax.adam(LR), complex_parameters=True),
    _broken("zero learning rate: vacuous", lambda: alias.adam(0.0), lambda: optax.adam(0.0)),
]
# The wrong versions of the classic optimizers run in both dtypes, five of the new ones in
# float64; the other new ones under -m slow.
_BROKEN_CLASSIC, _BROKEN_NEW, _VACUOUS = BROKEN[:9], BROKEN[9:-1], BROKEN[-1:]
_BROKEN_NEW_CORE = [b for b in _BROKEN_NEW if b.hyperparams in {
    "adamw vs nadamw", "adafactor factoring from 4 vs 128", "muon on the conv kernel vs adam there",
    "prodigy safeguard_warmup", "complex: adam squaring g instead of |g|^2"}]
BROKEN_ROWS = {"float64": _BROKEN_CLASSIC + _BROKEN_NEW_CORE + _VACUOUS, "float32": _BROKEN_CLASSIC + _VACUOUS}


@pytest.fixture(scope="module")
def agreements():
    """dtype -> agreement rows of CASES[dtype] + BROKEN_ROWS[dtype], computed once."""
    cache = {}

    def get(dtype):
        if dtype not in cache:
            cache[dtype] = agreement.compare_many(CASES[dtype] + BROKEN_ROWS[dtype], dtype)
        return cache[dtype]

    return get


@pytest.mark.parametrize("dtype", DTYPES)
def test_checker_fails_deliberately_wrong_optimizers(agreements, dtype):
    rows = agreements(dtype)[len(CASES[dtype]):]
    assert [row.case.hyperparams for row in rows] == [case.hyperparams for case in BROKEN_ROWS[dtype]]
    passed = [row.case.hyperparams for row in rows if row.passed]
    assert not passed, f"the checker passed wrong optimizers: {passed}"
    vacuous = rows[-1]
    assert vacuous.vacuous and vacuous.difference == 0.0


@pytest.mark.slow
def test_checker_fails_the_other_wrong_optimizers():
    rows = agreement.compare_many([b for b in _BROKEN_NEW if b not in _BROKEN_NEW_CORE], "float64")
    passed = [row.case.hyperparams for row in rows if row.passed]
    assert not passed, f"the checker passed wrong optimizers: {passed}"


def test_prodigy_turns_nan_on_an_all_zero_first_gradient_in_optax_too():
    """Why its rows replace the zero first gradient: d's first estimate is 0 / 0."""
    params = {"w": jnp.ones(3)}
    zero = {"w": jnp.zeros(3)}
    for prodigy in (optax.contrib.prodigy(), contrib.prodigy()):
        _, state = prodigy.update(zero, prodigy.init(params), params)
        assert jnp.isnan(state.estim_lr)


def test_relative_difference_sees_imaginary_parts():
    ones = np.ones((1, 3), np.complex64)
    assert agreement.relative_difference({"x": ones + 1e-3j}, {"x": ones})[0] == pytest.approx(1e-3, rel=1e-3)


def _steps(*arrays):
    """One leading step axis, as trajectories have."""
    return [np.asarray(a, np.float32)[None] for a in arrays]


def test_relative_difference_is_per_leaf_so_a_small_leaf_is_not_drowned():
    big, small = _steps(np.full(100, 1e3), np.full(3, 1e-3))
    wrong_small = small * (1 + 1e-4)
    difference = agreement.relative_difference({"big": big, "small": wrong_small}, {"big": big, "small": small})
    assert difference[0] == pytest.approx(1e-4, rel=1e-2)


def test_relative_difference_edge_cases():
    zero, one = _steps(np.zeros(4), np.ones(4))
    assert agreement.relative_difference({"x": zero}, {"x": zero})[0] == 0.0
    assert agreement.relative_difference({"x": one * 1e-30}, {"x": zero})[0] > 1e6  # 0 reference, nonzero ours
    nan = one.copy()
    nan[0, 1] = np.nan
    assert agreement.relative_difference({"x": nan}, {"x": one})[0] == np.inf
    assert agreement.relative_difference({"x": one}, {"x": nan})[0] == np.inf
    assert agreement.relative_difference({"x": one + 1e-6}, {"x": one})[0] == pytest.approx(1e-6, rel=0.2)


def test_complex_problem_has_complex_parameters_and_gradients():
    params, stream = agreement.random_problem(0, jnp.complex64, agreement.STEPS)
    for leaf in jax.tree.leaves((params, stream)):
        assert leaf.dtype == jnp.complex64
    kernel = np.asarray(params["dense"]["kernel"])
    assert np.std(kernel.real) > 0.5 and np.std(kernel.imag) > 0.5


def test_gradient_stream_has_zero_steps_and_spread_scales():
    _, stream = agreement.random_problem(0, jnp.float32, agreement.STEPS)
    shapes = {leaf.ndim - 1 for leaf in jax.tree.leaves(stream)}
    assert shapes == {0, 1, 2, 4}  # scalar, vector, matrix, conv kernel
    norms = np.stack([np.abs(np.asarray(g)).reshape(agreement.STEPS, -1).max(1) for g in jax.tree.leaves(stream)])
    for step in agreement.ZERO_STEPS:
        assert np.all(norms[:, step] == 0)
    nonzero = np.delete(norms, list(agreement.ZERO_STEPS), axis=1)
    assert nonzero.min() > 0 and nonzero.max() / nonzero.min() > 100
