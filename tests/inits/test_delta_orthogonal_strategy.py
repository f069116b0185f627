"""The delta_orthogonal strategy (Xiao et al. 2018): Conv kernels delta-orthogonal, Dense kernels orthogonal."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import inits
from inits import conformance


def test_conv_kernels_are_an_orthogonal_centre_and_dense_kernels_orthogonal():
    assert conformance.check_delta_orthogonal_convs() == []


def test_a_conv_layer_preserves_every_positions_norm():
    assert conformance.check_delta_orthogonal_norm_preserving() == []


def test_the_checks_catch_a_kernel_that_is_neither(monkeypatch):
    strategy = inits.STRATEGIES["delta_orthogonal"]
    ones = lambda key, shape, dtype=jnp.float32: jnp.ones(shape, dtype)  # no sampler to compile
    monkeypatch.setitem(inits.STRATEGIES, "delta_orthogonal", strategy._replace(kernel_init=ones))
    assert conformance.check_delta_orthogonal_norm_preserving(cases=conformance.NORM_CASES[1:2]) != []
    assert conformance.check_delta_orthogonal_convs() != []


def test_shrinking_channels_get_orthonormal_columns_where_the_twin_refuses():
    with pytest.raises(ValueError):
        inits.delta_orthogonal()(jax.random.key(0), (3, 3, 8, 4))
    kernel = np.asarray(inits.delta_orthogonal_convs()(jax.random.key(0), (3, 3, 8, 4)))
    assert conformance.orthonormality_error(kernel[1, 1]) < 1e-5


def test_bad_rank_is_a_value_error():
    with pytest.raises(ValueError, match="2-D .* 3-D to 5-D"):
        inits.delta_orthogonal_convs()(jax.random.key(0), (2, 2, 2, 2, 2, 2))
