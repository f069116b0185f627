"""Adafactor's factored second moment (Shazeer and Stern 2018), as optax's `_src/factorized.py`.

Which leaves are factored, as in optax: a leaf of rank >= 2 whose second-largest dimension is at
least `min_dim_size_to_factor` (default 128) keeps a row and a column statistic over its two
largest dimensions (the first of equal sizes, as NumPy's argsort orders them) and a full
per-element statistic otherwise. A 4-D conv kernel (kh, kw, c_in, c_out) with c_in, c_out >= 128
is factored over its channel axes: v_row (kh, kw, c_in) and v_col (kh, kw, c_out), one pair
of factors per spatial position; smaller kernels, vectors and scalars keep a full v.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers.numerics import abs_sq, safe_increment
from optimizers.transform import check_nonnegative


def decay_rate_pow(step, exponent=0.8):
    """beta2_t = 1 - (t + 1)^(-exponent), the paper's increasing decay (section 7.2), computed
    in float32 like optax's. The exponent is cast to float32 too: optax's Python-float exponent
    enters a float32 power that way, and the cast keeps a traced (vmapped) exponent on the
    same arithmetic, so a vmapped decay_rate equals a loop over floats."""
    t = jnp.array(step + 1, jnp.float32)
    return 1.0 - t ** (-jnp.asarray(exponent, jnp.float32))


def _factored_dims(shape, factored: bool, min_dim_size_to_factor: int) -> Optional[tuple[int, int]]:
    """(second-largest axis, largest axis) of a leaf worth factoring, else None."""
    if not factored or len(shape) < 2:
        return None
    sorted_dims = np.argsort(shape)
    if shape[sorted_dims[-2]] < min_dim_size_to_factor:
        return None
    return int(sorted_dims[-2]), int(sorted_dims[-1])


def _zeros_without_axis(x, axis: int):
    return jnp.zeros_like(jax.eval_shape(lambda x: jnp.sum(x, axis=axis), x))


class FactoredState(NamedTuple):
    """Step count; row and column statistics of factored leaves; full statistics of the rest
    (unused slots hold a zeros((1,)) placeholder, as in optax)."""

    count: jax.Array
    v_row: Any
    v_col: Any
    v: Any


class _LeafResult(NamedTuple):
    update: jax.Array
    v_row: jax.Array
    v_col: jax.Array
    v: jax.Array


def _is_result(x) -> bool:
    return isinstance(x, _LeafResult)


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: float = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: float = 1e-30,
    decay_rate_fn: Callable[[Any, Any], jax.Array] = decay_rate_pow,
) -> optax.GradientTransformation:
    """Adafactor's scaling (Shazeer and Stern 2018, "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost", ICML, Algorithms 4 and 5). ::

        beta2_t = decay_rate_fn(t - step_offset, decay_rate)   (1 - (t + 1)^-0.8 by default)
        factored leaf (axes r = second largest, c = largest):
            R_t = beta2_t R_{t-1} + (1 - beta2_t) mean_c(|g|^2 + eps)
            C_t = beta2_t C_{t-1} + (1 - beta2_t) mean_r(|g|^2 + eps)
            u_t = g / sqrt(R_t / mean(R_t) outer C_t)
        other leaves:
            v_t = beta2_t v_{t-1} + (1 - beta2_t) (|g|^2 + eps),   u_t = g / sqrt(v_t)

    `decay_rate` is the exponent of the schedule, not a constant beta2; t counts from 0.
    """
    check_nonnegative("decay_rate", decay_rate)
    check_nonnegative("epsilon", epsilon)

    def init_fn(params):
        def init_leaf(param):
            dims = _factored_dims(param.shape, factored, min_dim_size_to_factor)
            placeholder = jnp.zeros((1,), dtype=param.dtype)
            if dims is not None:
                row_axis, col_axis = dims
                return _LeafResult(placeholder, _zeros_without_axis(param, col_axis),
                                   _zeros_without_axis(param, row_axis), placeholder)
            return _LeafResult(placeholder, placeholder, placeholder, jnp.zeros_like(param))

        return _state(jnp.zeros([], jnp.int32), jax.tree.map(init_leaf, params))

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError("scale_by_factored_rms needs the params: call update(updates, state, params)")

        def update_leaf(grad, v_row, v_col, v, param):
            dtype = param.dtype
            decay = decay_rate_fn(state.count - step_offset, decay_rate)
            placeholder = jnp.zeros((1,), dtype=dtype)
            grad_squared = abs_sq(grad) + epsilon
            dims = _factored_dims(param.shape, factored, min_dim_size_to_factor)
            if dims is None:
                new_v = (decay * v + (1.0 - decay) * grad_squared).astype(dtype)
                return _LeafResult(grad * new_v**-0.5, placeholder, placeholder, new_v)
            row_axis, col_axis = dims
            new_v_row = (decay * v_row + (1.0 - decay) * jnp.mean(grad_squared, axis=col_axis)).astype(dtype)
            new_v_col = (decay * v_col + (1.0 - decay) * jnp.mean(grad_squared, axis=row_axis)).astype(dtype)
            reduced_row_axis = row_axis - 1 if row_axis > col_axis else row_axis
            row_col_mean = jnp.mean(new_v_row, axis=reduced_row_axis, keepdims=True)
            row_factor = (new_v_row / row_col_mean) ** -0.5
            col_factor = new_v_col**-0.5
            update = grad * jnp.expand_dims(row_factor, axis=col_axis) * jnp.expand_dims(col_factor, axis=row_axis)
            return _LeafResult(update, new_v_row, new_v_col, placeholder)

        results = jax.tree.map(update_leaf, updates, state.v_row, state.v_col, state.v, params)
        updates = jax.tree.map(lambda r: r.update, results, is_leaf=_is_result)
        return updates, _state(safe_increment(state.count), results)

    return optax.GradientTransformation(init_fn, update_fn)


def _state(count, results) -> FactoredState:
    field = lambda name: jax.tree.map(lambda r: getattr(r, name), results, is_leaf=_is_result)
    return FactoredState(count=count, v_row=field("v_row"), v_col=field("v_col"), v=field("v"))
