"""Tree helpers shared by the transformations, in the style of `optax.tree`: the formulas of
moments and their bias correction, leaf by leaf over a parameter tree, written once so that every
optimizer computes them in the same order of floating-point operations as optax 0.2.8.

    zeros_like(tree, dtype)                                 zeros shaped like every leaf
    cast(tree, dtype)                                       every leaf in dtype (None: unchanged)
    lowest_dtype(tree)                                      the dtype every leaf promotes to least
    moving_average(updates, moments, decay, order)          (1 - decay) g^order + decay m
    moving_average_of_squares(updates, moments, decay)      (1 - decay) |g|^2 + decay m
    bias_correction(moments, decay, count)                  m / (1 - decay^t)
    first_moment_estimate(mu, updates, decay, count, nesterov)   Adam's m^, or Dozat's look-ahead

Scalar and leaf-wise numerics (|x|^2, the saturating step count, ...) are in `optimizers.numerics`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from optimizers.numerics import abs_sq, multiply_in_dtype, safe_increment


def zeros_like(tree, dtype=None):
    """Zeros shaped like every leaf of `tree`, in `dtype` (None: each leaf's own)."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def cast(tree, dtype):
    """Every leaf of `tree` cast to `dtype`; None leaves the tree as it is."""
    return tree if dtype is None else jax.tree.map(lambda x: x.astype(dtype), tree)


def lowest_dtype(tree):
    """The dtype every leaf's dtype promotes to least (optax.tree.dtype(tree, "lowest"))."""

    def lower(first, second):
        promoted = jnp.promote_types(first, second)
        if promoted == first:
            return second
        if promoted == second:
            return first
        raise ValueError(f"Cannot compare dtypes {first} and {second}")

    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray(leaves).dtype
    return functools.reduce(lower, [jnp.asarray(x).dtype for x in leaves])


def moving_average(updates, moments, decay, order):
    """(1 - decay) * g**order + decay * moment, leaf by leaf."""
    return jax.tree.map(lambda g, m: (1 - decay) * (g**order) + multiply_in_dtype(decay, m), updates, moments)


def _squared_magnitude(g):
    """g^2 for real g, |g|^2 for complex g (optax's per-element norm of order 2)."""
    return g**2 if jnp.isrealobj(g) else abs_sq(g)


def moving_average_of_squares(updates, moments, decay):
    """(1 - decay) * |g|^2 + decay * moment, leaf by leaf: a second moment, complex-safe."""
    return jax.tree.map(
        lambda g, m: (1 - decay) * _squared_magnitude(g) + multiply_in_dtype(decay, m), updates, moments
    )


def bias_correction(moments, decay, count):
    """moment / (1 - decay**t); the power is taken before casting so float16 cannot hit 1."""
    correction = 1 - decay**count
    return jax.tree.map(lambda m: m / correction.astype(m.dtype), moments)


def first_moment_estimate(mu, updates, decay, count, nesterov):
    """The bias-corrected first moment m / (1 - b1^t), or with nesterov (Dozat 2016) the
    look-ahead b1 * m / (1 - b1^(t+1)) + (1 - b1) * g / (1 - b1^t)."""
    if not nesterov:
        return bias_correction(mu, decay, count)
    return jax.tree.map(
        lambda m, g: decay * m + (1 - decay) * g,
        bias_correction(mu, decay, safe_increment(count)),
        bias_correction(updates, decay, count),
    )
