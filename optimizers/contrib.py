"""The `optax.contrib` optimizers the suite runs, hand-written like `optimizers.transform`:
Muon, schedule-free AdamW and SGD, Prodigy, AdEMAMix and ADOPT.

Each is written in optax 0.2.8's order of floating-point operations, under optax's name,
signature and defaults, and checked against its twin in `optimizers.agreement`. From optax only
base types and combinators are used: `GradientTransformation`, `EmptyState`, `chain`,
`partition`, `MaskedNode` (what `partition` puts where a leaf belongs to the other group), and
`MuonDimensionNumbers` (the type users describe a leaf's matrix view with, so that one value
means the same thing to optax's muon and to ours).
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.alias import adamw, sgd
from optimizers.schedules import warmup_constant_schedule
from optimizers.transform import (
    MaskOrFn,
    ScalarOrSchedule,
    ScaleByAdamState,
    add_decayed_weights,
    check_decay_rate,
    check_nonnegative,
    scale_by_learning_rate,
    scale_by_rms,
)

# --- Muon -------------------------------------------------------------------------------------

MuonDimensionNumbers = optax.contrib.MuonDimensionNumbers

DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
# Per-step coefficients of the Dion paper (Ahn et al. 2025), optax's "dion" preset.
DION_NS_COEFFS = [
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
]
NS_COEFFS_PRESETS = {"standard": DEFAULT_NS_COEFFS, "dion": DION_NS_COEFFS}
PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


def _is_dimension_numbers(x) -> bool:
    return isinstance(x, MuonDimensionNumbers)


def _normalize_axes(x, dimension_numbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(reduction axes, output axes) as non-negative tuples."""
    as_tuple = lambda axes: (axes,) if isinstance(axes, int) else tuple(axes)
    reduction = tuple(axis % x.ndim for axis in as_tuple(dimension_numbers.reduction_axis))
    output = tuple(axis % x.ndim for axis in as_tuple(dimension_numbers.output_axis))
    return reduction, output


def _matrix_view(x, dimension_numbers):
    """Functions to and from a (batch, fan_in, fan_out) view of x: batch axes (those in neither
    group) first, then the reduction axes, then the output axes, each group flattened."""
    if x.ndim < 2:
        raise ValueError(f"Muon optimized parameters must have rank >= 2, got {x.ndim=}")
    reduction, output = _normalize_axes(x, dimension_numbers)
    if set(reduction) & set(output):
        raise ValueError(f"reduction axes {reduction} and output axes {output} must be disjoint ({x.shape=})")
    batch = tuple(sorted(set(range(x.ndim)) - set(reduction) - set(output)))
    order = batch + reduction + output
    inverse_order = tuple(sorted(range(x.ndim), key=lambda i: order[i]))
    sizes = lambda axes: tuple(x.shape[axis] for axis in axes)
    flat_shape = (math.prod(sizes(batch)), math.prod(sizes(reduction)), math.prod(sizes(output)))
    unflat_shape = sizes(batch) + sizes(reduction) + sizes(output)
    to_matrices = lambda y: y.transpose(order).reshape(flat_shape)
    from_matrices = lambda y: y.reshape(unflat_shape).transpose(inverse_order)
    return to_matrices, from_matrices


def _fans(x, dimension_numbers) -> tuple[int, int]:
    reduction, output = _normalize_axes(x, dimension_numbers)
    return math.prod(x.shape[axis] for axis in reduction), math.prod(x.shape[axis] for axis in output)


def _resolve(weight_dimension_numbers, updates):
    return weight_dimension_numbers(updates) if callable(weight_dimension_numbers) else weight_dimension_numbers


def scale_by_shape(weight_dimension_numbers=None, consistent_rms=None) -> optax.GradientTransformation:
    """Muon's shape factor per matrix leaf (fan_in, fan_out from its dimension numbers):

        u = sqrt(max(1, fan_out / fan_in)) * g                 (consistent_rms=None)
        u = sqrt(max(fan_in, fan_out)) * consistent_rms * g    (update RMS ~ consistent_rms)

    The first is Jordan et al.'s (2024) width-transfer factor, the second Liu et al.'s (2025,
    "Muon is Scalable for LLM Training") scaling to AdamW's update RMS (0.2).
    """

    def scale_leaf(update, dimension_numbers):
        fan_in, fan_out = _fans(update, dimension_numbers)
        if consistent_rms is None:
            factor = jnp.sqrt(jnp.maximum(1, fan_out / fan_in))
        else:
            factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
        return factor * update

    def update_fn(updates, state, params=None):
        del params
        dimension_numbers = _resolve(weight_dimension_numbers, updates)
        return jax.tree.map(scale_leaf, updates, dimension_numbers, is_leaf=_is_dimension_numbers), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def _newton_schulz_step(x, coeffs):
    """X <- a X + (b A + c A^2) X with A = X X^H: one quintic Newton-Schulz step."""
    a = x @ x.T.conj()
    b = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + b @ x


def _aol_first_step(x, coeffs, eps=1e-8):
    """The first step, with X rescaled row-wise by (sum_j |A_ij|)^(-1/2) (almost-orthogonal
    layers, Prach and Lampert 2022), which bounds the spectral norm by 1."""
    a = x @ x.T.conj()
    rescaling = jnp.clip(jnp.abs(a).sum(axis=-1), min=eps)
    s = jnp.expand_dims(jax.lax.rsqrt(rescaling), -1)
    x, a = x * s, a * s * s.transpose(-1, -2)
    b = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + b @ x


def _schatten_first_step(x, coeffs, eps=1e-8):
    """The first step, with X divided by ||X X^T||_F^(1/2) (a Schatten-4 bound). X^T, not X^H,
    as in optax: for complex X this is not a norm of X, so use another preconditioning."""
    a = x @ x.T
    rescaling = jnp.clip(jnp.linalg.norm(a, ord="fro", axis=(-2, -1)), min=eps)
    s = jnp.expand_dims(jax.lax.rsqrt(rescaling), (0, -1))
    x, a = x * s, a * s**2
    b = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + b @ x


def _with_first_step(first_step):
    return lambda i, x, coeffs: jax.lax.cond(
        i == 0, lambda x: first_step(x, coeffs), lambda x: _newton_schulz_step(x, coeffs), x
    )


_STEP_FUNCTIONS = {
    "frobenius": lambda i, x, coeffs: _newton_schulz_step(x, coeffs),
    "spectral": lambda i, x, coeffs: _newton_schulz_step(x, coeffs),
    "aol": _with_first_step(_aol_first_step),
    "schatten": _with_first_step(_schatten_first_step),
}


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: jax.Array,
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: float = 1e-8,
    dimension_numbers: Optional[MuonDimensionNumbers] = None,
) -> jax.Array:
    """An approximation of U V^H for X = U S V^H (Bernstein and Newhouse 2024; Jordan et al.
    2024): X is scaled to spectral norm <= 1 (by its Frobenius norm + eps, its spectral norm +
    eps, or in the first step for "aol"/"schatten"), transposed to be wide, then put through
    ns_steps quintic Newton-Schulz steps with coefficients ns_coeffs, shape (3,) or one row
    per step (n, 3). A leaf of rank > 2 is a batch of matrices given by its dimension numbers.
    ns_steps is a loop count: a static int.
    """
    if x.ndim != 2 and not _is_dimension_numbers(dimension_numbers):
        raise ValueError(f"a leaf of shape {x.shape} needs MuonDimensionNumbers, got {dimension_numbers=}")
    if x.ndim == 2:
        dimension_numbers = MuonDimensionNumbers(reduction_axis=0, output_axis=1)
    if ns_coeffs.ndim > 2 or ns_coeffs.shape[-1] != 3:
        raise ValueError(f"Newton-Schulz coefficients must have shape (3,) or (n, 3), got {ns_coeffs.shape}")
    step = _STEP_FUNCTIONS[preconditioning]

    def orthogonalize(x):
        transposed = x.shape[0] > x.shape[1]
        if transposed:
            x = x.T
        if preconditioning == "frobenius":
            x /= jnp.linalg.norm(x, ord="fro") + eps
        elif preconditioning == "spectral":
            x /= jnp.linalg.norm(x, ord=2) + eps
        coeffs = ns_coeffs.astype(x.dtype)
        if coeffs.ndim == 1:
            # unrolled, as in optax, so that it composes efficiently with vmap
            x = jax.lax.fori_loop(0, ns_steps, lambda i, x: step(i, x, coeffs), x, unroll=True)
        else:
            body = lambda carry, row: ((carry[0] + 1, step(carry[0], carry[1], row)), None)
            (_, x), _ = jax.lax.scan(body, (jnp.asarray(0, dtype=jnp.int32), x), coeffs)
        return x.T if transposed else x

    to_matrices, from_matrices = _matrix_view(x, dimension_numbers)
    return from_matrices(jax.vmap(orthogonalize)(to_matrices(x)))


class MuonState(NamedTuple):
    """Step count, the momentum, and the Newton-Schulz coefficients in use."""

    count: jax.Array
    mu: Any
    ns_coeffs: jax.Array


def scale_by_muon(
    ns_coeffs=DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers=None,
) -> optax.GradientTransformation:
    """Muon's scaling (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural
    networks"; Bernstein and Newhouse 2024, "Old Optimizer, New Norm").

        m_t = beta * m_{t-1} + (1 - beta) * g_t
        m^_t = bias-corrected m_t, or with nesterov Dozat's look-ahead (as in `scale_by_adam`)
        u_t = NS(m^_t)                         ~ U V^H of m^_t = U S V^H
        u_t = <m^_t, NS(m^_t)> * NS(m^_t)      (adaptive, Zhang et al. 2025's MuonAdaptive)

    The momentum is an EMA (dampened) and bias-corrected, as in optax; Jordan's reference
    implementation lerps without bias correction, which differs only by a factor that tends
    to 1 and that orthogonalization removes anyway (NS is scale-invariant up to eps).
    """
    check_decay_rate("beta", beta)
    check_nonnegative("eps", eps)
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(f"Unknown preconditioning {preconditioning!r}; one of {PRECONDITIONINGS}")
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        coeffs = jnp.asarray(ns_coeffs)
        if coeffs.ndim > 2 or coeffs.shape[-1] != 3:
            raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got {coeffs.shape}")
        if coeffs.ndim == 2:
            if not coeffs.shape[0] <= ns_steps:
                raise ValueError(f"Not enough coeffs to perform {ns_steps} steps")
            coeffs = coeffs[-ns_steps:]
        return MuonState(count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params, dtype=mu_dtype), ns_coeffs=coeffs)

    def update_fn(updates, state, params=None):
        del params
        dimension_numbers = _resolve(weight_dimension_numbers, updates)
        mu = tree.moving_average(updates, state.mu, beta, 1)
        count = numerics.safe_increment(state.count)
        mu_hat = tree.first_moment_estimate(mu, updates, beta, count, nesterov)
        orthogonalize = lambda x, numbers: orthogonalize_via_newton_schulz(
            x, state.ns_coeffs, ns_steps, preconditioning, eps, numbers
        )
        updates = jax.tree.map(orthogonalize, mu_hat, dimension_numbers, is_leaf=_is_dimension_numbers)
        if adaptive:
            updates = jax.tree.map(lambda x, y: jnp.sum(x.conj() * y) * y, mu_hat, updates)
        return updates, MuonState(count=count, mu=tree.cast(mu, mu_dtype), ns_coeffs=state.ns_coeffs)

    return optax.GradientTransformation(init_fn, update_fn)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs=DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    weight_decay_mask: MaskOrFn = None,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: float = 0.0,
    adam_learning_rate: Optional[ScalarOrSchedule] = None,
    muon_weight_dimension_numbers=None,
    consistent_rms: Optional[float] = None,
) -> optax.GradientTransformation:
    """Muon (Jordan et al. 2024) on matrices, AdamW everywhere else, as optax.contrib.muon:

        matrix leaves:  u = -lr * (shape factor * NS(m^) + weight_decay * theta)
                        (see `scale_by_muon`, `scale_by_shape`)
        other leaves:   adamw(adam_learning_rate or lr, adam_b1, adam_b2, eps, adam_eps_root,
                              adam_weight_decay, nesterov=nesterov)

    Which leaves are matrices, as in optax: by default exactly the leaves of rank 2, each with
    reduction (fan-in) axis 0 and output axis 1 (Flax's Dense kernel layout); biases, scalars,
    and conv kernels go to AdamW. `muon_weight_dimension_numbers` (a tree, or a function of
    the params returning one, of `MuonDimensionNumbers` or None for AdamW leaves) overrides it:
    a conv kernel (kh, kw, c_in, c_out) with reduction_axis=(0, 1, 2), output_axis=3 is one
    (kh*kw*c_in, c_out) matrix; with reduction_axis=2, output_axis=3 it is kh*kw matrices
    (c_in, c_out), axes in neither group being batch axes. AdamW's eps is Muon's eps (1e-8),
    and Nesterov applies to both parts, as in optax.
    """
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS_PRESETS:
            raise ValueError(f"Unknown ns_coeff preset string: {ns_coeffs}")
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]

    if muon_weight_dimension_numbers is None:
        param_labels = lambda params: jax.tree.map(lambda x: "muon" if x.ndim == 2 else "adam", params)
        muon_weight_dimension_numbers = MuonDimensionNumbers()
    else:
        def param_labels(params):
            numbers = _resolve(muon_weight_dimension_numbers, params)
            label_subtree = lambda number, x: jax.tree.map(lambda _: "muon" if number is not None else "adam", x)
            return jax.tree.map(label_subtree, numbers, params, is_leaf=lambda x: x is None or _is_dimension_numbers(x))

    def matrix_dimension_numbers(params):
        """The dimension numbers of the muon leaves, MaskedNode where `partition` masked a leaf."""
        numbers = _resolve(muon_weight_dimension_numbers, params)
        mask = jax.tree.map(lambda label: label == "muon", param_labels(params))
        is_leaf = lambda x: x is None or _is_dimension_numbers(x) or isinstance(x, optax.MaskedNode)
        fill = lambda number, submask: jax.tree.map(lambda m: number if m else optax.MaskedNode(), submask)
        return jax.tree.map(fill, numbers, mask, is_leaf=is_leaf)

    return optax.partition(
        transforms={
            "muon": optax.chain(
                scale_by_muon(
                    ns_coeffs=ns_coeffs,
                    ns_steps=ns_steps,
                    beta=beta,
                    eps=eps,
                    mu_dtype=mu_dtype,
                    nesterov=nesterov,
                    adaptive=adaptive,
                    preconditioning=preconditioning,
                    weight_dimension_numbers=matrix_dimension_numbers,
                ),
                scale_by_shape(weight_dimension_numbers=matrix_dimension_numbers, consistent_rms=consistent_rms),
                add_decayed_weights(weight_decay, weight_decay_mask),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(
                learning_rate=adam_learning_rate,
                b1=adam_b1,
                b2=adam_b2,
                eps=eps,
                eps_root=adam_eps_root,
                weight_decay=adam_weight_decay,
                mu_dtype=mu_dtype,
                nesterov=nesterov,
            ),
        },
        param_labels=param_labels,
    )


# --- schedule-free ----------------------------------------------------------------------------



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
    """Schedule-free wrapper (Defazio et al. 2024, "The Road Less Scheduled", NeurIPS).

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
    step is RMSprop with bias correction and eps outside the root, plus decoupled weight decay,

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


# --- Prodigy ----------------------------------------------------------------------------------


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
    Parameter-Free Learner", ICML, Algorithm 4 with Adam), as optax.contrib.prodigy:

        d_k = estim_lr (d_1 = estim_lr0 = 1e-6),  lr_k = learning_rate(k - 1) sqrt(1 - b2^k) / (1 - b1^k)
        m = b1 m + (1 - b1) d g,   v = b2 v + (1 - b2) (d g)^2
        s = b3 s + (d lr_k / d_0) d g          (s = b3 s + (d / d_0) d g with safeguard_warmup)
        r = b3 r + (d / d_0) d lr_k <g, theta_0 - theta>
        d_{k+1} = max(d_k, estim_lr_coef * r / ||s||_1)
        u = -d_k lr_k (wd theta + m / (sqrt(v) + d_{k+1} eps))

    As in optax, the step size uses d_k and the eps term d_{k+1}; b3 = sqrt(b2) by default.
    learning_rate multiplies the estimated step (1.0: no tuning). Complex parameters are not
    supported by optax's formula (v accumulates (d g)^2, not |d g|^2, and d turns complex), nor
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


# --- AdEMAMix ---------------------------------------------------------------------------------


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
    Better, Faster, Older", arXiv:2409.03137, Algorithm 1):

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


# --- ADOPT ------------------------------------------------------------------------------------


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
    with the Optimal Rate", NeurIPS, Algorithm 2 with clipping):

        n_t = g_t / max(sqrt(v_{t-1}), eps),  clipped to +-clip_value_fn(t - 1)
        m_t = b1 m_{t-1} + (1 - b1) n_t
        v_t = b2 v_{t-1} + (1 - b2) |g_t|^2
        u_t = m_t   (nesterov: b1 m_t + (1 - b1) n_t)

    n_t uses the previous second moment, which decorrelates it from g_t. As in optax, the
    first step uses b1 := 1 and b2 := 0: v_1 = |g_1|^2 and the first update is zero. jnp.clip rejects
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
