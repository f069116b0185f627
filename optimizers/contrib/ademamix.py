"""AdEMAMix (Pagliardini, Ablin and Grangier 2024): Adam plus a slow EMA of the gradients, as
optax.contrib.ademamix and scale_by_ademamix, in optax 0.2.8's order of floating-point operations
and checked against them in `optimizers.agreement`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.transform import (
    MaskOrFn,
    ScalarOrSchedule,
    add_decayed_weights,
    check_decay_rate,
    check_nonnegative,
    scale_by_learning_rate,
)


class ScaleByAdemamixState(NamedTuple):
    """Step counts (of the fast moments and of the slow EMA's schedules), the fast EMA m1,
    the slow EMA m2 and the second moment."""

    count: jax.Array
    count_m2: jax.Array
    m1: Any
    m2: Any
    nu: Any


def scale_by_ademamix(
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """AdEMAMix's scaling (Pagliardini, Ablin and Grangier 2024, "The AdEMAMix Optimizer:
    Better, Faster, Older", arXiv:2409.03137, Algorithm 1)::

        m1 = b1 m1 + (1 - b1) g,   m2 = b3 m2 + (1 - b3) g,   v = b2 v + (1 - b2) |g|^2
        u = (m1 / (1 - b1^t) + alpha * m2) / (sqrt(v / (1 - b2^t) + eps_root) + eps)

    m2 is not bias-corrected (the paper's choice). b3 and alpha may be schedules of the step
    count (the paper warms both up); scale_by_ademamix's alpha default is 6.0 while
    `ademamix`'s is 5.0, both optax's.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    if not callable(b3):
        check_decay_rate("b3", b3)
    if not callable(alpha):
        check_nonnegative("alpha", alpha)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdemamixState(
            count=jnp.zeros([], jnp.int32),
            count_m2=jnp.zeros([], jnp.int32),
            m1=tree.zeros_like(params, dtype=mu_dtype),
            m2=tree.zeros_like(params, dtype=mu_dtype),
            nu=tree.zeros_like(params, dtype=mu_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        current_b3 = b3(state.count_m2) if callable(b3) else b3
        current_alpha = alpha(state.count_m2) if callable(alpha) else alpha
        m1 = tree.moving_average(updates, state.m1, b1, 1)
        m2 = tree.moving_average(updates, state.m2, current_b3, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, b2)
        count = numerics.safe_increment(state.count)
        m1_hat = tree.bias_correction(m1, b1, count)
        nu_hat = tree.bias_correction(nu, b2, count)
        updates = jax.tree.map(
            lambda fast, slow, v: (fast + current_alpha * slow) / (jnp.sqrt(v + eps_root) + eps), m1_hat, m2, nu_hat
        )
        count_m2 = numerics.safe_increment(state.count_m2)
        return updates, ScaleByAdemamixState(count=count, count_m2=count_m2, m1=m1, m2=m2, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    """AdEMAMix (Pagliardini et al. 2024): Adam plus alpha times a slow (b3 = 0.9999) EMA of
    the gradients, with decoupled weight decay; see `scale_by_ademamix`."""
    return optax.chain(
        scale_by_ademamix(b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
