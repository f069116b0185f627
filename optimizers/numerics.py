"""Scalar and leaf-wise numerics shared by the transformations, in the style of optax's
`numerics` (`abs_sq`, `safe_increment`) and `utils.canonicalize_dtype`.

Each helper is one formula that several modules need in the same order of floating-point
operations; tree-wide helpers (moments, bias correction) are in `optimizers.tree`.

    concrete_number(value)            a float for a concrete real scalar, None for tracers etc.
    canonical_dtype(dtype)            the dtype JAX would use (float32 for float64 without x64)
    abs_sq(x)                         |x|^2 = (conj(x) * x).real
    multiply_in_dtype(factor, x)      factor * x, the factor cast to x's dtype (weak typing)
    safe_increment(count)             count + 1, saturating at the dtype's maximum
"""
from __future__ import annotations

import numbers
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np


def concrete_number(value) -> Optional[float]:
    """`value` as a float when it is a concrete real scalar: a Python or NumPy number, or a 0-d
    NumPy or JAX array that is not a tracer. None for anything else (tracers, schedules, None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer):
        real = jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)
        if value.shape == () and real:
            return float(value)
    return None


def canonical_dtype(dtype):
    """`dtype` as JAX canonicalizes it (float64 -> float32 without x64); None stays None."""
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def abs_sq(x):
    """|x|^2 leaf-wise as optax's `numerics.abs_sq`: (conj(x) * x).real, i.e. x * x for real x."""
    return (x.conj() * x).real


def multiply_in_dtype(factor, x):
    """factor * x with the factor first cast to x's dtype, as a Python float is (weak typing).

    So a traced float64 factor computes what a Python float does. It matters only for arrays
    kept in a lower precision (mu_dtype, accumulator_dtype, Adafactor's float32 momentum),
    where optax with Python floats multiplies in that precision.
    """
    return jnp.asarray(factor, dtype=x.dtype) * x


def safe_increment(count):
    """count + 1, saturating at the dtype's maximum instead of wrapping around (optax's
    `numerics.safe_increment`)."""
    maximum = jnp.array(jnp.iinfo(count.dtype).max, count.dtype)
    return jnp.where(count < maximum, count + jnp.array(1, count.dtype), maximum)
