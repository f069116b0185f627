"""muP (Yang et al. 2021, Table 3) for MLPs: width-aware init and per-layer learning-rate multipliers."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inits
from inits import conformance, mup


class MLP(nn.Module):
    """Defined here: muP must read the roles off a model it did not build."""

    widths: tuple
    kernel_init: object = inits.lecun_normal()

    @nn.compact
    def __call__(self, x):
        for width in self.widths:
            x = nn.relu(nn.Dense(width, kernel_init=self.kernel_init)(x))
        return nn.Dense(10, kernel_init=self.kernel_init)(x)


X = jnp.ones((2, 20))


def _multipliers(widths, rule, base_width=64):
    model = MLP(widths)
    variables = jax.eval_shape(model.init, jax.random.key(0), X)  # shapes are all it needs
    multipliers = mup.mup_lr_multipliers(model, variables, X, rule, base_width=base_width)
    return [(multipliers[f"Dense_{i}"]["kernel"], multipliers[f"Dense_{i}"]["bias"]) for i in range(len(widths) + 1)]


# (kernel, bias) per layer, input first, by hand from Table 3 with base width 64.
@pytest.mark.parametrize("widths,rule,expected", [
    ((64, 64, 64), "adam", [(1, 1), (1, 1), (1, 1), (1, 1)]),
    ((64, 64, 64), "sgd", [(1, 1), (1, 1), (1, 1), (1, 1)]),
    ((256, 256, 256), "adam", [(1, 1), (0.25, 1), (0.25, 1), (0.25, 1)]),
    ((256, 256, 256), "sgd", [(4, 4), (1, 4), (1, 4), (0.25, 1)]),
    ((128, 256), "adam", [(1, 1), (0.5, 1), (0.25, 1)]),         # hidden 128 -> 256: 1 / r_in
    ((128, 256), "sgd", [(2, 2), (2, 4), (0.25, 1)]),            # r_out / r_in = 4 / 2
    ((32,), "adam", [(1, 1), (2, 1)]),                           # narrower than the base
])
def test_multipliers_by_hand(widths, rule, expected):
    np.testing.assert_allclose(_multipliers(widths, rule), expected, rtol=1e-12)


def test_the_verify_check_holds_and_can_fail(monkeypatch):
    assert conformance.check_mup_multipliers() == []
    monkeypatch.setitem(conformance.MUP_EXPECTED_MULTIPLIERS, 256, {"adam": [(1, 1)] * 3})
    assert conformance.check_mup_multipliers() != []


def test_unknown_rule_is_a_value_error():
    with pytest.raises(ValueError, match="'lion'"):
        _multipliers((64,), "lion")


def test_init_variances_and_equality_with_lecun_at_the_base_width():
    assert conformance.check_mup_init() == []


def test_output_layer_scale_follows_its_fan_in():
    strategy = mup.mup_strategy(base_width=16)
    model = MLP((400,), strategy.kernel_init)
    variables = jax.jit(model.init)(jax.random.key(0), X)
    fixed = strategy.post_init(model, variables, X)
    ratio = fixed["params"]["Dense_1"]["kernel"] / variables["params"]["Dense_1"]["kernel"]
    np.testing.assert_allclose(ratio, np.sqrt(16 / 400), rtol=1e-6)
    assert jnp.array_equal(fixed["params"]["Dense_0"]["kernel"], variables["params"]["Dense_0"]["kernel"])


def test_under_jit_of_vmap_over_seeds():
    strategy = inits.STRATEGIES["mup"]
    model = MLP((128, 128), strategy.kernel_init)
    batched = jax.jit(jax.vmap(lambda key: strategy.post_init(model, model.init(key, X), X)))(
        jax.random.split(jax.random.key(0), 3))
    assert batched["params"]["Dense_2"]["kernel"].shape == (3, 128, 10)


def test_a_cnn_is_refused_in_one_line():
    assert conformance.check_mup_refuses_cnn() == []
    model = nn.Dense(3)
    with pytest.raises(mup.NotMLPError, match="^mup needs an MLP.*Dense has 1 Dense layer"):
        inits.STRATEGIES["mup"].post_init(model, model.init(jax.random.key(0), X), X)


def test_the_registered_strategy():
    strategy = inits.STRATEGIES["mup"]
    assert strategy.lr_multipliers is not None and "Yang" in strategy.reference
    model = MLP((256,))
    multipliers = strategy.lr_multipliers(model, jax.eval_shape(model.init, jax.random.key(0), X), X, "adam")
    assert multipliers["Dense_1"]["kernel"] == mup.BASE_WIDTH / 256
