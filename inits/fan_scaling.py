"""One core, many names: every fan-based initializer is `variance_scaling` with fixed arguments.

Var(W) = scale / n, with n the fan chosen by `mode` (fan_in, fan_out, their arithmetic or
geometric mean). Axes outside in_axis, out_axis and batch_axis are a convolution's receptive
field and multiply both fans. Bit-identical twins of `jax.nn.initializers`: same arguments,
same defaults, same arithmetic in the same dtype.
"""
from __future__ import annotations

import math
from typing import Any, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from inits.dtypes import complex_of, is_real_floating, real_part_dtype, resolve_dtype

Axes = Union[int, Sequence[int]]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")

# Standard deviation of N(0, 1) truncated to (-2, 2), and of the complex standard normal with
# modulus truncated to 2: dividing by them makes the truncated samples' variance exactly `scale/n`.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978
COMPLEX_TRUNCATED_NORMAL_STDDEV = 0.95311164380491208


def _size(shape: tuple[int, ...], axes: Axes) -> int:
    return shape[axes] if isinstance(axes, int) else math.prod(shape[i] for i in axes)


def compute_fans(shape, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> tuple[float, float]:
    """(fan_in, fan_out) of a dense or convolution kernel: in/out size times the receptive field."""
    shape = tuple(int(d) for d in shape)
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ValueError(
            f"fan-based initializers need a kernel of rank >= 2 to find its fans, got shape {shape} "
            f"(rank {len(shape)}); pass in_axis explicitly for other layouts"
        )
    in_size, out_size, batch_size = _size(shape, in_axis), _size(shape, out_axis), _size(shape, batch_axis)
    receptive_field = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field, out_size * receptive_field


def _denominator(mode: str, fan_in: float, fan_out: float) -> float:
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    return (fan_in * fan_out) ** 0.5  # fan_geo_avg


def _complex_uniform(key, shape, dtype) -> jax.Array:
    """Uniform on the disk of radius sqrt(2): zero mean, unit variance."""
    key_r, key_theta = jax.random.split(key)
    real_dtype = real_part_dtype(dtype)
    dtype = complex_of(real_dtype)
    r = jnp.sqrt(2 * jax.random.uniform(key_r, shape, real_dtype)).astype(dtype)
    theta = 2 * np.pi * jax.random.uniform(key_theta, shape, real_dtype).astype(dtype)
    return r * jnp.exp(1j * theta)


def _complex_truncated_normal(key, upper, shape, dtype) -> jax.Array:
    """Complex standard normal with modulus truncated to `upper`, by inverting the modulus' CDF."""
    key_r, key_theta = jax.random.split(key)
    real_dtype = real_part_dtype(dtype)
    dtype = complex_of(real_dtype)
    t = (1 - jnp.exp(jnp.array(-(upper**2), dtype))) * jax.random.uniform(key_r, shape, real_dtype).astype(dtype)
    r = jnp.sqrt(-jnp.log(1 - t))
    theta = 2 * np.pi * jax.random.uniform(key_theta, shape, real_dtype).astype(dtype)
    return r * jnp.exp(1j * theta)


def _sample(key, shape, dtype, distribution: str, variance: jax.Array, out_sharding) -> jax.Array:
    real = is_real_floating(dtype)
    if distribution == "truncated_normal":
        if real:
            stddev = jnp.sqrt(variance) / jnp.array(TRUNCATED_NORMAL_STDDEV, dtype)
            return jax.random.truncated_normal(key, -2, 2, shape, dtype, out_sharding=out_sharding) * stddev
        stddev = jnp.sqrt(variance) / jnp.array(COMPLEX_TRUNCATED_NORMAL_STDDEV, dtype)
        return _complex_truncated_normal(key, 2, shape, dtype) * stddev
    if distribution == "normal":
        return jax.random.normal(key, shape, dtype, out_sharding=out_sharding) * jnp.sqrt(variance)
    if real:  # uniform on [-sqrt(3 var), sqrt(3 var)) has variance var
        return jax.random.uniform(key, shape, dtype, -1, out_sharding=out_sharding) * jnp.sqrt(3 * variance)
    return _complex_uniform(key, shape, dtype) * jnp.sqrt(variance)


def variance_scaling(scale, mode: str, distribution: str, in_axis: Axes = -2, out_axis: Axes = -1,
                     batch_axis: Axes = (), dtype: Any = None):
    """Samples with zero mean and variance scale / n, n given by `mode` (He et al. 2015, eq. 10).

    distribution: "truncated_normal" (cut at 2 standard deviations, rescaled to keep the
    variance), "normal", or "uniform" (on [-sqrt(3 scale/n), sqrt(3 scale/n)), or a disk for
    complex dtypes). Unknown `mode` or `distribution` raise ValueError here, when the
    initializer is built, rather than deep inside model.init.
    """
    if mode not in MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode!r}; expected one of {MODES}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"invalid distribution for variance scaling initializer: {distribution!r}; expected one of {DISTRIBUTIONS}"
        )

    def init(key, shape, dtype: Any = dtype, out_sharding=None) -> jax.Array:
        shape = tuple(int(d) for d in shape)
        dtype = resolve_dtype(dtype)
        fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
        # The ratio is taken in Python floats, then rounded once to dtype: as the built-in does.
        variance = jnp.array(scale / _denominator(mode, fan_in, fan_out), dtype=dtype)
        return _sample(key, shape, dtype, distribution, variance, out_sharding)

    return init


def _named(scale: float, mode: str, distribution: str, name: str, paper: str):
    def factory(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (), dtype: Any = None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"{paper}: `variance_scaling({scale}, {mode!r}, {distribution!r})`, Var(W) = {scale:g} / {mode}."
    return factory


GLOROT = "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks"
HE = "He et al. 2015, Delving Deep into Rectifiers"
LECUN = "LeCun et al. 1998, Efficient BackProp (as used by Klambauer et al. 2017, SELU)"

glorot_uniform = _named(1.0, "fan_avg", "uniform", "glorot_uniform", GLOROT)
glorot_normal = _named(1.0, "fan_avg", "truncated_normal", "glorot_normal", GLOROT)
he_uniform = _named(2.0, "fan_in", "uniform", "he_uniform", HE)
he_normal = _named(2.0, "fan_in", "truncated_normal", "he_normal", HE)
lecun_uniform = _named(1.0, "fan_in", "uniform", "lecun_uniform", LECUN)
lecun_normal = _named(1.0, "fan_in", "truncated_normal", "lecun_normal", LECUN)
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal
