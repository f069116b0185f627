"""The dtype rules the built-in initializers follow, spelled with public JAX names."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np


def default_float_dtype() -> Any:
    """float32, or float64 under `jax_enable_x64`: what `dtype=None` means in jax.nn.initializers."""
    return jnp.result_type(float)


def resolve_dtype(dtype: Any) -> Any:
    return default_float_dtype() if dtype is None else dtype


def is_real_floating(dtype: Any) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.floating))


def real_part_dtype(dtype: Any) -> Any:
    """float32 for complex64, float64 for complex128, and a real dtype for itself."""
    return np.array(0, dtype).real.dtype


def complex_of(real_dtype: Any) -> Any:
    """The complex dtype with `real_dtype` parts (complex64 for float32 and narrower)."""
    return jnp.complex128 if np.dtype(real_dtype) == np.float64 else jnp.complex64
