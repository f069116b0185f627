"""Schedule-free learning (Defazio et al. 2024, "The Road Less Scheduled"): the `schedule_free`
wrapper around any base optimizer, `schedule_free_sgd`, `schedule_free_adamw`, and
`schedule_free_eval_params`, the point to evaluate at; as optax.contrib's, in optax 0.2.8's order
of floating-point operations and checked against them in `optimizers.agreement`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.alias import sgd
from optimizers.schedules import warmup_constant_schedule
from optimizers.transform import ScalarOrSchedule, add_decayed_weights, scale_by_learning_rate, scale_by_rms


def _check_interpolation(name: str, value) -> None:
    number = numerics.concrete_number(value)
    if number is not None and not 0 < number <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


class ScheduleFreeState(NamedTuple):
    """b1 (in the parameters' dtype, for `schedule_free_eval_params`), the sum of the step
    weights, the step count (from 1), the largest learning rate so far, the base optimizer's
    state, and z, the base optimizer's own iterate."""

    b1: jax.Array
    weight_sum: jax.Array
    step_count: jax.Array
    max_lr: jax.Array
    base_optimizer_state: Any
    z: Any


def schedule_free_eval_params(state: ScheduleFreeState, params):
    """The averaged parameters x_t, where schedule-free methods are evaluated, from the
    interpolated y_t that training holds: x_t = (y_t - (1 - b1) z_t) / b1."""
    b1, z = getattr(state, "b1", None), getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError("schedule_free_eval_params requires a ScheduleFreeState as input.")
    return jax.tree.map(lambda y, z: (y - (1.0 - b1) * z) / b1, params, z)


def schedule_free(
    base_optimizer: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """Schedule-free wrapper (Defazio et al. 2024, "The Road Less Scheduled", NeurIPS). ::

        z_{t+1} = z_t + base_update(g at y_t)
        c_{t+1} = w_t / sum_{i<=t} w_i,     w_t = max_{i<=t} lr_i ^ weight_lr_power
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
        y_{t+1} = b1 x_{t+1} + (1 - b1) z_{t+1}            (the params training sees)

    The learning rate (a schedule is read at step counts 1, 2, ..., as in optax) only weighs
    the average here; base_optimizer makes the steps. Evaluate at
    `schedule_free_eval_params(state, params)`, x_t, not at y_t.
    """
    _check_interpolation("b1", b1)

    def init_fn(params):
        params_dtype = tree.lowest_dtype(params)
        z = params if state_dtype is None else tree.cast(params, state_dtype)
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype=params_dtype),
            weight_sum=jnp.zeros([], dtype=params_dtype),
            step_count=jnp.ones([], dtype=jnp.int32),
            max_lr=jnp.zeros([], dtype=params_dtype),
            base_optimizer_state=base_optimizer.init(params),
            z=jax.tree.map(lambda t: t.copy(), z),
        )

    def update_fn(grads, state, params=None):
        lr = learning_rate
        if callable(learning_rate):
            lr = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
        max_lr = jnp.maximum(state.max_lr, lr)
        weight = max_lr**weight_lr_power
        next_total_weight = state.weight_sum + weight
        ck = jnp.where(
            jnp.logical_or(jnp.isnan(weight), jnp.isnan(next_total_weight)),
            jnp.full(weight.shape, jnp.nan),
            jnp.nan_to_num(weight / next_total_weight, nan=0.0, posinf=jnp.inf),
        )
        base_updates, base_state = base_optimizer.update(grads, state.base_optimizer_state, params)
        z = jax.tree.map(lambda z, u: jnp.asarray(z + u).astype(jnp.asarray(z).dtype), state.z, base_updates)
        previous_x = jax.tree.map(lambda y, z: (y - (1.0 - b1) * z) / b1, params, state.z)
        x = jax.tree.map(lambda x, z: (1.0 - ck) * x + ck * z, previous_x, z)
        new_params = jax.tree.map(lambda x, z: b1 * x + (1.0 - b1) * z, x, z)
        updates = jax.tree.map(lambda new, old: new - old, new_params, params)
        return updates, ScheduleFreeState(
            b1=state.b1,
            weight_sum=next_total_weight,
            step_count=numerics.safe_increment(state.step_count),
            max_lr=max_lr,
            base_optimizer_state=base_state,
            z=z,
        )

    return optax.GradientTransformation(init_fn, update_fn)


def schedule_free_sgd(
    learning_rate: float = 1.0,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    weight_decay: Optional[float] = None,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """Schedule-free SGD (Defazio et al. 2024): `schedule_free` around sgd(lr), with an
    optional linear warm-up of the rate from 0 over warmup_steps (optax's warm-up:
    warmup_steps=0 keeps the rate at 0; leave it None for no warm-up) and L2 weight decay
    added to the gradient before the step."""
    if warmup_steps is not None:
        learning_rate = warmup_constant_schedule(0, learning_rate, warmup_steps)
    optimizer = sgd(learning_rate)
    if weight_decay is not None:
        optimizer = optax.chain(add_decayed_weights(weight_decay), optimizer)
    return schedule_free(optimizer, learning_rate, b1=b1, weight_lr_power=weight_lr_power, state_dtype=state_dtype)


def schedule_free_adamw(
    learning_rate: float = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_lr_power: float = 2.0,
    state_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """Schedule-free AdamW (Defazio et al. 2024; AlgoPerf 2024 self-tuning winner): the base
    step is RMSprop with bias correction and eps outside the root, plus decoupled weight decay, ::

        z_{t+1} = z_t - lr * (g / (sqrt(v_t / (1 - b2^t)) + eps) + wd * y_t),

    there is no first moment: b1 only interpolates y between x and z. Warm-up as in
    `schedule_free_sgd`. The paper's AdamW variant evaluates the decay at y, as here and optax.
    """
    if warmup_steps is not None:
        learning_rate = warmup_constant_schedule(0, learning_rate, warmup_steps)
    optimizer = optax.chain(
        scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    return schedule_free(optimizer, learning_rate, b1=b1, weight_lr_power=weight_lr_power, state_dtype=state_dtype)
