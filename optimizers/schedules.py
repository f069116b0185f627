"""Learning-rate schedules whose every argument may be a traced array (vmapped per run).

optax's schedules take their step counts as Python ints and branch on them in Python
(`if transition_steps <= 0`, `peak_value == 0.0`), so a vmapped warm-up length or peak fails
to trace. These are the same formulas, in optax 0.2.8's order of floating-point operations,
with every branch on a value written as `jnp.where`, so that one compiled program can run a
different schedule per run::

    constant_schedule(value)
    warmup_cosine_decay(peak_value, warmup_steps, total_steps, final_fraction=0.0)
        ~ optax.warmup_cosine_decay_schedule(0.0, peak_value, warmup_steps, total_steps,
                                             end_value=final_fraction * peak_value)
    warmup_linear_decay(peak_value, warmup_steps, total_steps, final_fraction=0.0)
        ~ optax.join_schedules([optax.linear_schedule(0.0, peak_value, warmup_steps),
                                optax.linear_schedule(peak_value, final_fraction * peak_value,
                                                      total_steps - warmup_steps)],
                               [warmup_steps])

The two "~" are exact without x64 and equal to float32 precision under x64, where ours compute
in float64 and optax's fractions are float32 (see `_in_default_precision`).

A schedule maps the step count (0, 1, 2, ...; an int32 array) to a value; pass it as the
`learning_rate` of any optimizer here. Step arguments (warm-up, total, boundaries) are
integers: Python ints or integer arrays. In the optax twins (linear_schedule,
cosine_decay_schedule, join_schedules, warmup_constant_schedule, used by schedule-free's
warm-up) integer arrays are cast to the count's int32, so that a traced step argument computes
exactly as a Python int does and as optax does: count / steps in float32 even under x64.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optimizers.numerics import concrete_number

Schedule = Callable[[jax.Array], jax.Array]


def _like(value, result):
    """An array value cast to the dtype of the result it enters, as a Python float is (weak
    typing): with a float32 fraction (optax's, under x64 too) a traced float64 rate then gives
    what a Python float gives, and what optax gives."""
    if isinstance(value, (jax.Array, np.ndarray)):
        return value.astype(result.dtype)
    return value


def _like_count(steps, count):
    """An integer array of steps in the count's dtype (a Python int already promotes weakly)."""
    if isinstance(steps, (jax.Array, np.ndarray)) and jnp.issubdtype(steps.dtype, jnp.integer):
        return steps.astype(count.dtype)
    return steps


def constant_schedule(value) -> Schedule:
    """count -> value."""
    return lambda count: value


def linear_schedule(init_value, end_value, transition_steps, transition_begin=0) -> Schedule:
    """init_value to end_value linearly over transition_steps steps, starting at
    transition_begin, then constant (optax.linear_schedule)::

        t = clip(count - transition_begin, 0, transition_steps)
        value = (init_value - end_value) * (1 - t / transition_steps) + end_value

    A non-positive transition_steps gives init_value at every step, as in optax (which logs it;
    this matters for `schedule_free_*(warmup_steps=0)`, whose rate then stays at 0).
    """
    steps = concrete_number(transition_steps)
    if steps is not None and steps <= 0:
        return lambda count: init_value
    begin = concrete_number(transition_begin)
    if begin is not None and begin < 0:
        transition_begin = 0

    def schedule(count):
        steps = _like_count(transition_steps, count)
        t = jnp.clip(count - _like_count(transition_begin, count), 0, steps)
        fraction = 1 - t / steps
        value = (_like(init_value, fraction) - _like(end_value, fraction)) * fraction + _like(end_value, fraction)
        if concrete_number(transition_steps) is None:  # traced: optax's Python branch, as a select
            value = jnp.where(steps <= 0, init_value, value)
        return value

    return schedule


def cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0) -> Schedule:
    """init_value * ((1 - alpha) * c(count)^exponent + alpha) with
    c = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2 (Loshchilov and Hutter 2017,
    SGDR, without restarts; optax.cosine_decay_schedule). decay_steps must be positive."""
    steps = concrete_number(decay_steps)
    if steps is not None and not steps > 0:
        raise ValueError(f"cosine decay needs positive decay_steps, got {decay_steps!r}")
    if isinstance(decay_steps, int):
        decay_steps = float(decay_steps)

    def schedule(count):
        steps = _like_count(decay_steps, count)
        count = jnp.minimum(count, steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * count / steps))
        return _like(init_value, cosine) * ((1 - _like(alpha, cosine)) * cosine**exponent + _like(alpha, cosine))

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence) -> Schedule:
    """schedules[i] from boundaries[i - 1] on, fed the steps since that boundary
    (optax.join_schedules); boundaries may be traced."""

    def schedule(count):
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:]):
            boundary = _like_count(boundary, count)
            value = jnp.where(count < boundary, value, later(count - boundary))
        return value

    return schedule


def warmup_constant_schedule(init_value, peak_value, warmup_steps) -> Schedule:
    """init_value to peak_value linearly over warmup_steps, then peak_value
    (optax.warmup_constant_schedule; schedule-free's warm-up)."""
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_cosine_decay(peak_value, warmup_steps, total_steps, final_fraction=0.0) -> Schedule:
    """Linear warm-up from 0 to peak_value over warmup_steps, then a cosine decay to
    final_fraction * peak_value at total_steps, constant after (Goyal et al. 2017 warm-up;
    Loshchilov and Hutter 2017 cosine). total_steps must exceed warmup_steps. Equal to optax's
    to float32 precision, computed in float64 under x64 (see `_in_default_precision`)."""
    if concrete_number(total_steps) is not None and concrete_number(warmup_steps) is not None:
        if not total_steps > warmup_steps:
            raise ValueError(f"total_steps ({total_steps!r}) must exceed warmup_steps ({warmup_steps!r})")
    return _in_default_precision(join_schedules(
        [linear_schedule(0.0, peak_value, warmup_steps),
         cosine_decay_schedule(peak_value, total_steps - warmup_steps, alpha=final_fraction)],
        [warmup_steps],
    ))


def warmup_linear_decay(peak_value, warmup_steps, total_steps, final_fraction=0.0) -> Schedule:
    """Linear warm-up from 0 to peak_value over warmup_steps, then a linear decay to
    final_fraction * peak_value at total_steps, constant after. total_steps must exceed
    warmup_steps. Equal to optax's to float32 precision, computed in float64 under x64."""
    if concrete_number(total_steps) is not None and concrete_number(warmup_steps) is not None:
        if not total_steps > warmup_steps:
            raise ValueError(f"total_steps ({total_steps!r}) must exceed warmup_steps ({warmup_steps!r})")
    return _in_default_precision(join_schedules(
        [linear_schedule(0.0, peak_value, warmup_steps),
         linear_schedule(peak_value, final_fraction * peak_value, total_steps - warmup_steps)],
        [warmup_steps],
    ))


def _in_default_precision(schedule: Schedule) -> Schedule:
    """`schedule` read at the count as a float of the default dtype (float64 under x64).

    optax's fractions are float32 under x64 when the step arguments are Python ints, and the
    values float32 when the peak is a Python float; a traced float64 peak makes them float64,
    and a float32 cosine rounds differently vectorized (vmapped over runs) and scalar. Any of
    these would make a vmapped schedule differ from a loop over Python numbers by ~1e-7. In
    the default float dtype they do not; the values equal optax's to float32 precision (and
    exactly without x64).
    """
    return lambda count: schedule(jnp.asarray(count).astype(jax.dtypes.canonicalize_dtype(jnp.float64)))
