"""Initializers that need no fan: constants and plain scaled distributions.

`zeros`, `ones`, `constant`, `normal`, `uniform` and `truncated_normal` are bit-identical twins of
`jax.nn.initializers`; `small_random`, `random_normal` and `random_uniform` have no twin and are
checked by their distribution (`inits.conformance.property_checks`).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from inits.dtypes import resolve_dtype


def zeros(key: jax.Array, shape, dtype: Any = None, out_sharding=None) -> jax.Array:
    """All zeros; the key is ignored. Every strategy's bias initializer."""
    return jnp.zeros(shape, resolve_dtype(dtype), out_sharding=out_sharding)


def ones(key: jax.Array, shape, dtype: Any = None, out_sharding=None) -> jax.Array:
    """All ones; the key is ignored."""
    return jnp.ones(shape, resolve_dtype(dtype), out_sharding=out_sharding)


def constant(value, dtype: Any = None):
    """Every entry equal to `value`; the key is ignored."""

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        return jnp.full(shape, value, dtype=resolve_dtype(dtype), device=out_sharding)

    return init


def normal(stddev=1e-2, dtype: Any = None):
    """N(0, stddev^2). The product is taken in `dtype`, as the built-in does."""

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        dtype = resolve_dtype(dtype)
        return jax.random.normal(key, shape, dtype, out_sharding=out_sharding) * jnp.array(stddev, dtype)

    return init


def uniform(scale=1e-2, dtype: Any = None):
    """U[0, scale): NOT centred at zero, unlike `random_uniform`. Kept so for parity with the built-in."""

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        dtype = resolve_dtype(dtype)
        return jax.random.uniform(key, shape, dtype, out_sharding=out_sharding) * jnp.array(scale, dtype)

    return init


def truncated_normal(stddev=1e-2, dtype: Any = None, lower=-2.0, upper=2.0):
    """stddev * (N(0, 1) truncated to (lower, upper)); no correction of the variance for the cut."""

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        dtype = resolve_dtype(dtype)
        sample = jax.random.truncated_normal(key, lower, upper, shape, dtype, out_sharding=out_sharding)
        return sample * jnp.array(stddev, dtype)

    return init


def small_random(dtype: Any = None):
    """N(0, 0.01^2): the "small random numbers" recipe that deep nets outgrew.

    Glorot & Bengio (2010) show why: with a fixed scale the activation variance shrinks by
    fan_in * 0.01^2 per layer, so signals vanish in depth.
    """
    return normal(stddev=0.01, dtype=dtype)


def random_normal(stddev=1.0, dtype: Any = None):
    """N(0, stddev^2), scale chosen by the user, blind to the fan.

    With the default stddev=1 a Dense layer of fan_in n multiplies the activation variance
    by about n, so activations explode in depth: the suite keeps it to show that failure.
    """
    return normal(stddev=stddev, dtype=dtype)


def random_uniform(limit=1.0, dtype: Any = None):
    """U[-limit, limit): symmetric about zero, variance limit^2 / 3, blind to the fan."""

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        dtype = resolve_dtype(dtype)
        sample = jax.random.uniform(key, shape, dtype, -1, 1, out_sharding=out_sharding)
        return sample * jnp.array(limit, dtype)

    return init
