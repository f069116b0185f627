"""Muon (Jordan et al. 2024): orthogonalized momentum on matrix leaves, AdamW on the rest, as
optax.contrib.muon; and its blocks `scale_by_muon`, `scale_by_shape`,
`orthogonalize_via_newton_schulz`.

Written in optax 0.2.8's order of floating-point operations, under optax's names, signatures and
defaults, and checked against its twin in `optimizers.agreement`. From optax only base types and
combinators are used: `GradientTransformation`, `EmptyState`, `chain`, `partition`,
`MaskedNode` (what `partition` puts where a leaf belongs to the other group), and
`MuonDimensionNumbers` (the type users describe a leaf's matrix view with, so that one value
means the same thing to optax's muon and to ours).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree
from optimizers.alias import adamw
from optimizers.transform import (
    MaskOrFn,
    ScalarOrSchedule,
    add_decayed_weights,
    check_decay_rate,
    check_nonnegative,
    scale_by_learning_rate,
)


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
    """Muon's shape factor per matrix leaf (fan_in, fan_out from its dimension numbers)::

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
    networks"; Bernstein and Newhouse 2024, "Old Optimizer, New Norm"). ::

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
    """Muon (Jordan et al. 2024) on matrices, AdamW everywhere else, as optax.contrib.muon::

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
