"""Our optimizers against optax, step by step, in float64 and float32 (see optimizers.agreement).

All settings, and the deliberately wrong ones, run in one compiled program per dtype (a
module-scoped fixture); each setting is still its own test. The second half shows the checker can fail: deliberately wrong optimizers
and the metric's edge cases.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimizers import OPTIMIZERS, agreement, alias

CASES = agreement.build_cases()
DTYPES = ("float64", "float32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c.optimizer}:{c.hyperparams}" for c in CASES])
def test_agrees_with_optax(agreements, index, dtype):
    row = agreements(dtype)[index]
    assert row.dtypes_match, "update dtypes differ from optax's"
    assert not row.vacuous, f"optax's updates are zero on {row.steps - row.active_steps} steps"
    assert row.difference <= agreement.BARS[dtype], (
        f"relative difference {row.difference:.2e} (updates {row.update_difference:.2e}, "
        f"params {row.param_difference:.2e}) over {row.steps} steps exceeds {agreement.BARS[dtype]:.0e}"
    )


def test_cases_cover_every_alias_at_several_settings():
    aliases = ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw", "nadam", "amsgrad", "adamax", "lion")
    counts = {name: sum(case.optimizer == name for case in CASES) for name in aliases}
    assert all(count >= 3 for count in counts.values()), counts
    assert {spec.factory for spec in OPTIMIZERS.values()} <= {getattr(alias, name) for name in aliases}
    assert any(case.optimizer == "adadelta" and case.reference_sign == -1 for case in CASES)


def _broken(label, ours, reference, sign=1.0):
    return agreement.Case("broken", "optax", label, ours, reference, sign)


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
    _broken("zero learning rate: vacuous", lambda: alias.adam(0.0), lambda: optax.adam(0.0)),
]


@pytest.fixture(scope="module")
def agreements():
    """dtype -> agreement rows of CASES + BROKEN, computed once."""
    cache = {}

    def get(dtype):
        if dtype not in cache:
            cache[dtype] = agreement.compare_many(CASES + BROKEN, dtype)
        return cache[dtype]

    return get


@pytest.mark.parametrize("dtype", DTYPES)
def test_checker_fails_deliberately_wrong_optimizers(agreements, dtype):
    rows = agreements(dtype)[len(CASES):]
    passed = [row.case.hyperparams for row in rows if row.passed]
    assert not passed, f"the checker passed wrong optimizers: {passed}"
    vacuous = rows[-1]
    assert vacuous.vacuous and vacuous.difference == 0.0


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


def test_gradient_stream_has_zero_steps_and_spread_scales():
    _, stream = agreement.random_problem(0, jnp.float32, agreement.STEPS)
    shapes = {leaf.ndim - 1 for leaf in jax.tree.leaves(stream)}
    assert shapes == {0, 1, 2, 4}  # scalar, vector, matrix, conv kernel
    norms = np.stack([np.abs(np.asarray(g)).reshape(agreement.STEPS, -1).max(1) for g in jax.tree.leaves(stream)])
    for step in agreement.ZERO_STEPS:
        assert np.all(norms[:, step] == 0)
    nonzero = np.delete(norms, list(agreement.ZERO_STEPS), axis=1)
    assert nonzero.min() > 0 and nonzero.max() / nonzero.min() > 100
