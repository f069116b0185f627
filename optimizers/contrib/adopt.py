"""ADOPT (Taniguchi et al. 2024): Adam's moments with the gradient normalized by the previous
second moment, as optax.contrib.adopt and scale_by_adopt, in optax 0.2.8's order of
floating-point operations and checked against them in `optimizers.agreement`.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.transform import (
    ScalarOrSchedule,
    ScaleByAdamState,
    check_decay_rate,
    check_nonnegative,
    scale_by_learning_rate,
)


def _quarter_power(count):
    return count**0.25


def scale_by_adopt(
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> optax.GradientTransformation:
    """ADOPT's scaling (Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with Any b2
    with the Optimal Rate", NeurIPS, Algorithm 2 with clipping)::

        n_t = g_t / max(sqrt(v_{t-1}), eps),  clipped to +-clip_value_fn(t - 1)
        m_t = b1 m_{t-1} + (1 - b1) n_t
        v_t = b2 v_{t-1} + (1 - b2) |g_t|^2
        u_t = m_t   (nesterov: b1 m_t + (1 - b1) n_t)

    n_t uses the previous second moment, which decorrelates it from g_t. As in optax, the
    first step uses b1 := 1 and b2 := 0: `v_1 = |g_1|^2` and the first update is zero. jnp.clip rejects
    complex values, so with complex parameters and use_clipping=True optax raises a
    ValueError, and so do we; use_clipping=False supports them.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params, dtype=mu_dtype), nu=tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        b2_now = jnp.where(state.count > 0, b2, 0)
        b1_now = jnp.where(state.count > 0, b1, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, b2_now)
        normalize = lambda g, v: g / jnp.maximum(jnp.sqrt(v), eps)
        if use_clipping:
            clip_value = clip_value_fn(state.count)
            clip = lambda g, v: jnp.clip(normalize(g, v), -clip_value, clip_value)
            normalized = jax.tree.map(clip, updates, state.nu)
        else:
            normalized = jax.tree.map(normalize, updates, state.nu)
        mu = tree.moving_average(normalized, state.mu, b1_now, 1)
        count = numerics.safe_increment(state.count)
        updates = tree.moving_average(normalized, mu, b1_now, 1) if nesterov else mu
        return updates, ScaleByAdamState(count=count, mu=tree.cast(mu, mu_dtype), nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> optax.GradientTransformation:
    """ADOPT (Taniguchi et al. 2024); see `scale_by_adopt`. optax's default clip_value_fn is
    `lambda x: x**0.25`; ours is the same function, named."""
    return optax.chain(
        scale_by_adopt(b1=b1, b2=b2, eps=eps, mu_dtype=mu_dtype, nesterov=nesterov, use_clipping=use_clipping,
                       clip_value_fn=clip_value_fn),
        scale_by_learning_rate(learning_rate),
    )
