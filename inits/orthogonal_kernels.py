"""Orthogonal initializers (Saxe et al. 2014), bit-identical twins of `jax.nn.initializers`.

W is a Haar-random (semi-)orthogonal matrix: the Q of the QR decomposition of a Gaussian
matrix, with each column's sign fixed by R's diagonal (Mezzadri 2007), so that Q does not
inherit a bias from the QR routine's sign convention.

Why the QR goes through `_haar_q`, a `custom_vmap`, and not `jnp.linalg.qr` directly
---------------------------------------------------------------------------------------
On CPU (jax/jaxlib 0.10.2), `jit(vmap(model.init))` over 4 or more seeds of a net with
several orthogonally initialized layers can hang forever at run time, with or without
`--xla_force_host_platform_device_count`. The cause, read off gdb backtraces of the hung
process and jaxlib's `lapack_kernels.cc`:

* the LAPACK custom calls (geqrf, then orgqr) run as thunks on a worker of XLA's intra-op
  Eigen thread pool (one thread per core: two on the 2-core machine);
* a call whose batch is big enough (batch * FLOPs per matrix >= 2e5, i.e. any batch >= 2 of
  64x64 matrices) splits the batch into chunks, `Schedule`s them on that same pool, and
  blocks its worker on a `BlockingCounter` until they finish (`ParallelBatchMap`);
* the layers' QRs are independent, so XLA runs several of them concurrently; once every
  worker is blocked inside such a wait, no worker is left to run the chunks: deadlock.
  The backtraces show both workers parked in `ParallelBatchMap -> BlockingCounter::Wait`,
  one under `QrFactorization`, one under `OrthogonalQr`. More layers make the race likelier;
  one stacked (batched) QR has nothing to race with, which is why stacking "fixed" it.

`ParallelBatchMap` runs a call inline on its own thread, never touching the pool, when the
batch is a single matrix. So under `vmap` on CPU `_haar_q` loops over the batch with
`lax.map`, one matrix per LAPACK call: no call ever waits on the pool, so none can hang, and
the bits are those of the batched call (which runs the same LAPACK routine per matrix).
On GPU/TPU the batched call is kept (`lax.platform_dependent`), the same as the built-in.
Other cures, not taken: `--xla_cpu_multi_thread_eigen=false` (a process-wide flag, slows all
of XLA on CPU) or a hand-written Householder QR (cannot be bit-identical to LAPACK).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_batching import custom_vmap

from inits.dtypes import resolve_dtype

SAXE = "Saxe et al. 2014, Exact solutions to the nonlinear dynamics of learning in deep linear networks"
XIAO = "Xiao et al. 2018, Dynamical Isometry and a Mean Field Theory of CNNs"


def _q_with_positive_r_diagonal(z: jax.Array) -> jax.Array:
    q, r = jnp.linalg.qr(z)
    return q * jnp.expand_dims(jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1)), -2)


@custom_vmap
def _haar_q(z: jax.Array) -> jax.Array:
    """Q of z's QR, columns signed by diag(R); a Haar sample when z is Gaussian and tall."""
    return _q_with_positive_r_diagonal(z)


@_haar_q.def_vmap
def _haar_q_batched(axis_size, in_batched, z):
    del axis_size, in_batched  # one argument, batched along axis 0
    one_matrix_per_lapack_call = lambda zs: lax.map(_haar_q, zs)  # see the module docstring
    q = lax.platform_dependent(z, cpu=one_matrix_per_lapack_call, default=_q_with_positive_r_diagonal)
    return q, True


def haar_orthogonal(key: jax.Array, n_rows: int, n_cols: int, dtype: Any) -> jax.Array:
    """An n_rows x n_cols matrix with orthonormal columns (tall) or rows (wide); `jax.random.orthogonal`."""
    z = jax.random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dtype)
    q = _haar_q(z)
    return q.T if n_rows < n_cols else q


def orthogonal(scale=1.0, column_axis: int = -1, dtype: Any = None):
    """scale * Q, Q uniformly (Haar) distributed with orthonormal columns along `column_axis`.

    The kernel is viewed as a (prod(other axes), shape[column_axis]) matrix: orthonormal
    columns when it is tall, orthonormal rows when wide, so Q^T Q = I or Q Q^T = I.
    Reference: Saxe et al. 2014. float16/bfloat16 fail as in the built-in: LAPACK has no
    half-precision QR.
    """

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        if out_sharding is not None:
            raise NotImplementedError("orthogonal does not take out_sharding (nor does the built-in)")
        dtype = resolve_dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer requires at least a 2D shape, got {tuple(shape)}")
        if any(dim == 0 for dim in shape):
            return jnp.zeros(shape, dtype=dtype)
        n_cols = shape[column_axis]
        q = haar_orthogonal(key, math.prod(shape) // n_cols, n_cols, dtype)
        q = jnp.reshape(q, tuple(np.delete(shape, column_axis)) + (n_cols,))
        return jnp.array(scale, dtype) * jnp.moveaxis(q, -1, column_axis)

    return init


def delta_orthogonal(scale=1.0, column_axis: int = -1, dtype: Any = None):
    """Convolution kernel that is zero but at the spatial centre, where it is orthogonal (Xiao et al. 2018).

    A conv layer so initialized is an orthogonal map at every position: dynamical isometry for
    very deep CNNs. Shape must be 3-D, 4-D or 5-D with in_channels <= out_channels.
    """

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        if out_sharding is not None:
            raise NotImplementedError("delta_orthogonal does not take out_sharding (nor does the built-in)")
        dtype = resolve_dtype(dtype)
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"Delta orthogonal initializer requires a 3D, 4D or 5D shape, got {tuple(shape)}")
        if shape[-1] < shape[-2]:
            raise ValueError(f"`fan_in` must be less or equal than `fan_out`, got shape {tuple(shape)}")
        return _orthogonal_at_centre(key, shape, dtype, scale, column_axis)

    return init


def _orthogonal_at_centre(key, shape, dtype, scale, column_axis) -> jax.Array:
    centre_matrix = orthogonal(scale=scale, column_axis=column_axis, dtype=dtype)(key, shape[-2:])
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    return jnp.zeros(shape, dtype=dtype).at[centre].set(centre_matrix)


def delta_orthogonal_convs(scale=1.0, dtype: Any = None):
    """Xiao et al. 2018's init for a CNN: Conv kernels delta-orthogonal, Dense kernels orthogonal.

    Dispatches on the kernel's rank: a 2-D (Dense) kernel gets `orthogonal(scale)`; a 3-D, 4-D
    or 5-D (Conv) kernel is zero but at its spatial centre, which is `orthogonal(scale)` of shape
    (in, out): the same bits as `delta_orthogonal(scale)` when in <= out, and then the layer maps
    every position's input vector to one of the same norm (scale 1). When in > out (the twin
    refuses) the centre has orthonormal columns instead: the layer is a projection, the nearest
    an in > out map can come to an isometry.
    """

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        if out_sharding is not None:
            raise NotImplementedError("delta_orthogonal_convs does not take out_sharding")
        dtype = resolve_dtype(dtype)
        if len(shape) == 2:
            return orthogonal(scale=scale, dtype=dtype)(key, shape)
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"delta_orthogonal_convs takes a 2-D (Dense) or 3-D to 5-D (Conv) kernel, got {tuple(shape)}")
        return _orthogonal_at_centre(key, shape, dtype, scale, -1)

    return init
