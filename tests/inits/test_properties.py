"""Initializers with no twin, judged by their defining property; and the STRATEGIES registry."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import inits
from inits import conformance


def test_small_random_is_normal_with_stddev_one_hundredth():
    assert conformance.check_distribution(inits.small_random(), stats.norm(0, 0.01), "small_random") == []


@pytest.mark.parametrize("stddev", [1.0, 0.3])
def test_random_normal_has_the_users_scale(stddev):
    assert conformance.check_distribution(inits.random_normal(stddev), stats.norm(0, stddev), "rn") == []


@pytest.mark.parametrize("limit", [1.0, 2.5])
def test_random_uniform_is_symmetric_with_the_users_limit(limit):
    law = stats.uniform(-limit, 2 * limit)
    assert conformance.check_distribution(inits.random_uniform(limit), law, "ru", symmetric_bound=limit) == []


def test_builtin_uniform_is_not_symmetric_and_ours_says_so():
    draws = np.asarray(inits.uniform(1.0)(jax.random.key(0), (1000,)))
    assert draws.min() >= 0 and "not centred" in inits.uniform.__doc__.lower()


def test_the_distribution_check_catches_a_wrong_scale_or_a_shift():
    assert conformance.check_distribution(inits.random_normal(1.05), stats.norm(0, 1.0), "off", seeds=(0,)) != []
    assert conformance.check_distribution(inits.uniform(2.0), stats.uniform(-1, 2), "shifted", seeds=(0,)) != []


@pytest.mark.parametrize("shape,column_axis", [((64, 64), -1), ((7, 5), -1), ((5, 7), -1), ((3, 3, 4, 8), -1),
                                               ((6, 10), 0), ((4, 6, 3), 1)])
def test_orthogonal_kernels_are_orthonormal(shape, column_axis):
    kernel = inits.orthogonal(column_axis=column_axis)(jax.random.key(sum(shape)), shape)
    assert conformance.orthonormality_error(kernel, column_axis) < 1e-5


def test_delta_orthogonal_is_orthogonal_at_the_centre_and_zero_elsewhere():
    kernel = np.array(inits.delta_orthogonal()(jax.random.key(0), (3, 3, 4, 4)))
    assert conformance.orthonormality_error(kernel[1, 1]) < 1e-5
    kernel[1, 1] = 0
    assert not kernel.any()


CLASSIC_NAMES = ["small_random", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal",
                 "orthogonal", "zeros", "constant", "random_normal", "random_uniform", "lsuv"]
ISSUE_14_NAMES = ["delta_orthogonal", "fixup", "zero_hadamard", "kraehenbuehl", "mup"]
EXPECTED_NAMES = CLASSIC_NAMES + ISSUE_14_NAMES
WITH_POST_INIT = {"lsuv", "fixup", "kraehenbuehl", "mup"}
NEEDS_QR = ("orthogonal", "lsuv", "delta_orthogonal")


def test_strategy_names_are_exactly_the_issues():
    assert list(inits.STRATEGIES) == EXPECTED_NAMES


@pytest.mark.parametrize("name", EXPECTED_NAMES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_every_strategy_builds_a_dense_layer(name, dtype):
    strategy = inits.STRATEGIES[name]
    layer = nn.Dense(16, kernel_init=strategy.kernel_init, bias_init=strategy.bias_init, param_dtype=dtype)
    if name in NEEDS_QR and dtype == jnp.bfloat16:
        pytest.skip("LAPACK has no half-precision QR (the built-in orthogonal fails alike)")
    params = layer.init(jax.random.key(0), jnp.ones((2, 12)))["params"]
    assert params["kernel"].shape == (12, 16) and params["kernel"].dtype == dtype
    assert not params["bias"].any(), "every strategy's biases start at zero"
    assert strategy.description and strategy.reference
    assert (strategy.post_init is not None) == (name in WITH_POST_INIT)
    assert (strategy.lr_multipliers is not None) == (name == "mup")
