"""Prodigy (Mishchenko and Defazio 2024): Adam with a learned distance-to-solution step size, as
optax.contrib.prodigy, in optax 0.2.8's order of floating-point operations and checked against it
in `optimizers.agreement`.
"""
from __future__ import annotations

import operator
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.transform import ScalarOrSchedule, check_decay_rate, check_nonnegative


def _tree_vdot(tree_x, tree_y):
    """sum over leaves of <x, y> = sum conj(x) * y, at the highest matmul precision (optax.tree.vdot)."""

    def vdot(a, b):
        a, b = jnp.asarray(a), jnp.asarray(b)
        if jnp.iscomplexobj(a):
            a = jnp.conj(a)
        return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST)

    return jax.tree.reduce(operator.add, jax.tree.map(vdot, tree_x, tree_y), initializer=0)


def _tree_sum(values):
    return jax.tree.reduce(operator.add, jax.tree.map(jnp.sum, values), initializer=0)


class ProdigyState(NamedTuple):
    """Adam's moments of d * g, the weighted sum s of d * g, the initial params, the distance
    estimate d (estim_lr), the weighted numerator, and the step count."""

    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple = (0.9, 0.999),
    beta3: Optional[float] = None,
    eps: float = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: float = 1.0,
    weight_decay: float = 0.0,
    safeguard_warmup: bool = False,
) -> optax.GradientTransformation:
    """Prodigy (Mishchenko and Defazio 2024, "Prodigy: An Expeditiously Adaptive
    Parameter-Free Learner", ICML, Algorithm 4 with Adam), as optax.contrib.prodigy::

        d_k = estim_lr (d_1 = estim_lr0 = 1e-6),  lr_k = learning_rate(k - 1) sqrt(1 - b2^k) / (1 - b1^k)
        m = b1 m + (1 - b1) d g,   v = b2 v + (1 - b2) (d g)^2
        s = b3 s + (d lr_k / d_0) d g          (s = b3 s + (d / d_0) d g with safeguard_warmup)
        r = b3 r + (d / d_0) d lr_k <g, theta_0 - theta>
        d_{k+1} = max(d_k, estim_lr_coef * r / ||s||_1)
        u = -d_k lr_k (wd theta + m / (sqrt(v) + d_{k+1} eps))

    As in optax, the step size uses d_k and the eps term d_{k+1}; b3 = sqrt(b2) by default.
    learning_rate multiplies the estimated step (1.0: no tuning). Complex parameters are not
    supported by optax's formula (v accumulates (d g)^2, not `|d g|^2`, and d turns complex), nor
    here: we agree with optax step for step, and on a complex parabola both barely move (d stays
    near estim_lr0; tests/optimizers/test_complex.py holds ours to optax's trajectory).
    """
    beta1, beta2 = betas
    check_decay_rate("betas[0]", beta1)
    check_decay_rate("betas[1]", beta2)
    if beta3 is None:
        beta3 = beta2**0.5
    check_decay_rate("beta3", beta3)
    check_nonnegative("eps", eps)
    check_nonnegative("estim_lr_coef", estim_lr_coef)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("learning_rate", learning_rate)
    if numerics.concrete_number(estim_lr0) is not None and not numerics.concrete_number(estim_lr0) > 0:
        raise ValueError(f"estim_lr0 must be > 0, got {estim_lr0!r}")

    def init_fn(params):
        params_dtype = tree.lowest_dtype(params)
        return ProdigyState(
            exp_avg=tree.zeros_like(params),
            exp_avg_sq=tree.zeros_like(params),
            grad_sum=tree.zeros_like(params),
            params0=params,
            estim_lr=jnp.asarray(estim_lr0, dtype=params_dtype),
            numerator_weighted=jnp.zeros((), dtype=params_dtype),
            count=jnp.zeros((), jnp.int32),
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("prodigy needs the params: call update(updates, state, params)")
        count_inc = numerics.safe_increment(state.count)
        scheduled = learning_rate(state.count) if callable(learning_rate) else learning_rate
        estim_lr = state.estim_lr
        bias_correction = ((1 - beta2**count_inc) ** 0.5) / (1 - beta1**count_inc)
        dlr = jnp.asarray(estim_lr * scheduled * bias_correction, dtype=estim_lr.dtype)
        dg = jax.tree.map(lambda g: estim_lr * g, updates)
        param_diff = jax.tree.map(lambda p0, p: p0 - p, state.params0, params)
        numerator_step = _tree_vdot(updates, param_diff)
        exp_avg = jax.tree.map(lambda ea, d: beta1 * ea + (1 - beta1) * d, state.exp_avg, dg)
        exp_avg_sq = jax.tree.map(lambda eas, d: beta2 * eas + (1 - beta2) * d * d, state.exp_avg_sq, dg)
        step_weight = estim_lr if safeguard_warmup else dlr
        grad_sum = jax.tree.map(lambda s, d: beta3 * s + step_weight * d / estim_lr0, state.grad_sum, dg)
        numerator_weighted = beta3 * state.numerator_weighted
        numerator_weighted += (estim_lr / estim_lr0) * dlr * numerator_step
        denominator = _tree_sum(jax.tree.map(jnp.abs, grad_sum))
        lr_estimate = estim_lr_coef * numerator_weighted / denominator
        new_estim_lr = jnp.maximum(state.estim_lr, lr_estimate)
        updates = jax.tree.map(
            lambda ea, eas, p: -weight_decay * dlr * p - dlr * ea / (jnp.sqrt(eas) + new_estim_lr * eps),
            exp_avg, exp_avg_sq, params,
        )
        return updates, ProdigyState(
            exp_avg, exp_avg_sq, grad_sum, state.params0, new_estim_lr, numerator_weighted, count_inc
        )

    return optax.GradientTransformation(init_fn, update_fn)
