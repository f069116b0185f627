"""ZerO (Zhao et al. 2022): deterministic identity / partial identity / scaled Hadamard kernels (Algorithm 1 and 2)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import inits
from inits import conformance, deterministic

S = 2 ** -0.5


@pytest.mark.parametrize("shape,expected", [
    ((3, 3), np.eye(3)),                                     # square: identity
    ((4, 2), [[1, 0], [0, 1], [0, 0], [0, 0]]),              # shrinking: the first 2 inputs pass
    ((1, 3), [[S, S, S]]),                                   # expanding: P=3, m=2, c=2^(-1/2), H_4[:3, :1]^T
    ((2, 3), [[S, S, S], [S, -S, S]]),
    ((2, 4), [[S, S, S, S], [S, -S, S, -S]]),                # P=4: m=2 still
    ((1, 5), [[0.5] * 5]),                                   # P=5: m=3, c=1/2
])
def test_hand_computed_kernels(shape, expected):
    """Flax's kernel is (in, out) = W^T, W the paper's P x Q matrix (P outputs)."""
    kernel = inits.zero_hadamard()(jax.random.key(0), shape)
    np.testing.assert_allclose(np.asarray(kernel), np.asarray(expected, np.float64), rtol=1e-7, atol=0)


@pytest.mark.parametrize("order", range(7))
def test_sylvester_hadamard_is_scipys(order):
    assert np.array_equal(deterministic.sylvester_hadamard(order), scipy.linalg.hadamard(2 ** order))


def test_matches_algorithm_1_written_with_scipy():
    assert conformance.check_zero_hadamard_matrices() == []


def test_the_matrix_check_catches_the_notebooks_scale(monkeypatch):
    """The authors' notebook scales by 2^(-m/2), not the paper's 2^(-(m-1)/2): the check must tell them apart."""
    paper = deterministic.zero_matrix
    notebook = lambda n_in, n_out: paper(n_in, n_out) / np.sqrt(2) if n_out > n_in else paper(n_in, n_out)
    monkeypatch.setattr(deterministic, "zero_matrix", notebook)
    assert conformance.check_zero_hadamard_matrices() != []


def test_the_key_is_ignored():
    assert conformance.check_zero_hadamard_deterministic() == []


def test_conv_kernels_are_zero_but_the_centre():
    assert conformance.check_zero_hadamard_convs() == []
    kernel = np.asarray(inits.zero_hadamard()(jax.random.key(0), (3, 3, 2, 2)))
    assert kernel[1, 1].tolist() == [[1, 0], [0, 1]] and np.abs(kernel).sum() == 2


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.complex64, None])
def test_dtypes(dtype):
    kernel = inits.zero_hadamard()(jax.random.key(0), (2, 3), dtype)
    assert kernel.dtype == (dtype or jnp.float32) and float(jnp.abs(kernel[0, 0])) == pytest.approx(S, rel=1e-2)


def test_bad_rank_is_a_value_error():
    with pytest.raises(ValueError, match="2-D .* 3-D to 5-D"):
        inits.zero_hadamard()(jax.random.key(0), (4,))
