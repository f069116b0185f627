"""ZerO (Zhao, Schaefer & Anandkumar 2022): deterministic kernels of zeros, ones and a Hadamard transform.

Algorithm 1 of the paper, for a layer y = W x with W of shape P x Q (P outputs, Q inputs):

    P = Q:  W = I                                  (identity)
    P < Q:  W = I*                                 (partial identity: the first P inputs pass)
    P > Q:  W = c I* H_m I*,  m = ceil(log2 P),  c = 2^(-(m-1)/2)

I* is the rectangular identity (1 where row = column, else 0) of whichever shape the product
needs, H_m the 2^m x 2^m Sylvester Hadamard matrix (entries +-1; `scipy.linalg.hadamard`). So a
dimension-increasing layer is c H_m[:P, :Q]. Algorithm 2 does the same for a convolution at the
kernel's spatial centre (index floor(k/2) along each spatial axis), zeros elsewhere.
Flax stores a Dense kernel as (in, out) = W^T, so the kernel here is the transpose of the
paper's W. The scale c is the paper's; the authors' MNIST notebook uses 2^(-m/2) instead (an
orthonormal H_m), a factor sqrt(2) smaller.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from inits.dtypes import resolve_dtype

ZHAO = "Zhao, Schaefer & Anandkumar 2022, ZerO Initialization: Initializing Neural Networks with only Zeros and Ones (TMLR)"


def sylvester_hadamard(order: int) -> np.ndarray:
    """The 2^order x 2^order Hadamard matrix of Sylvester's construction: H[i, j] = (-1)^popcount(i & j)."""
    index = np.arange(2 ** order)
    bits = np.bitwise_and.outer(index, index)
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits >>= 1
    return 1 - 2 * parity


def zero_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_in, n_out) Flax kernel of Algorithm 1: the transpose of the paper's P x Q matrix, P = n_out."""
    if n_out <= n_in:
        return np.eye(n_in, n_out)
    order = (n_out - 1).bit_length()  # m = ceil(log2 P), exactly
    scale = 2.0 ** (-(order - 1) / 2)
    return scale * sylvester_hadamard(order)[:n_in, :n_out]  # H_m is symmetric: (H[:P, :Q])^T = H[:Q, :P]


def zero_hadamard(dtype: Any = None):
    """ZerO: identity, partial identity or scaled Hadamard kernels, the same for every key.

    A 2-D (Dense) kernel is `zero_matrix(in, out)`; a 3-D to 5-D (Conv) kernel is zero but at
    its spatial centre, where it is `zero_matrix(in, out)`. The key is ignored.
    """

    def init(key: jax.Array, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        del key  # deterministic
        if out_sharding is not None:
            raise NotImplementedError("zero_hadamard does not take out_sharding")
        dtype = resolve_dtype(dtype)
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (2, 3, 4, 5):
            raise ValueError(f"zero_hadamard takes a 2-D (Dense) or 3-D to 5-D (Conv) kernel, got {shape}")
        kernel = np.zeros(shape)
        kernel[tuple(k // 2 for k in shape[:-2])] = zero_matrix(*shape[-2:])
        return jnp.asarray(kernel, dtype=dtype)

    return init
