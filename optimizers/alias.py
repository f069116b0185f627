"""Optimizers as chains of the building blocks, with optax's names, signatures and defaults.

As in optax's `_src/alias.py`, each alias is a few lines of `optax.chain(...)`. One deliberate
difference: `adadelta` defaults to `learning_rate=1.0` (Zeiler 2012) and so descends, where
`optax.adadelta()`'s default `learning_rate=None` skips the scaling, sign flip included, and
climbs the loss. For every explicit learning rate the two agree.
"""
from __future__ import annotations

from typing import Any, Optional

import optax

from optimizers.transform import (
    MaskOrFn,
    ScalarOrSchedule,
    add_decayed_weights,
    identity,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
    trace,
)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """(Stochastic) gradient descent, optionally with heavy-ball or Nesterov momentum
    (Robbins and Monro 1951; Polyak 1964; Sutskever et al. 2013).

        u_t = -lr * g_t                                  (momentum=None)
        m_t = g_t + momentum * m_{t-1},  u_t = -lr * m_t (or -lr * (g_t + momentum * m_t))

    Full-batch gradient descent is the same transformation fed full-batch gradients.
    """
    momentum_part = identity() if momentum is None else trace(momentum, nesterov, accumulator_dtype)
    return optax.chain(momentum_part, scale_by_learning_rate(learning_rate))


def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> optax.GradientTransformation:
    """Adagrad (Duchi et al. 2011): u_t = -lr * g_t / sqrt(s_0 + sum g^2 + eps).

    optax's conventions (s_0 = 0.1, eps = 1e-7 inside the root), not PyTorch's (s_0 = 0,
    eps = 1e-10 outside); see `scale_by_rss`.
    """
    return optax.chain(
        scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
        scale_by_learning_rate(learning_rate),
    )


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    """Adadelta (Zeiler 2012): u_t = -lr * sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t.

    Default learning_rate=1.0, the paper's (and PyTorch's), so the default descends. optax's
    default is None, which skips `scale_by_learning_rate` entirely and returns +delta (for a
    first gradient of +1 an update of +sqrt(1e-6 / 0.100001) = +0.00316: it climbs). We refuse
    None rather than climb; every explicit learning rate agrees with optax.
    """
    if learning_rate is None:
        raise ValueError(
            "adadelta: learning_rate=None (optax's default) returns +delta and climbs the loss; "
            "pass a number (Zeiler 2012 uses 1.0)"
        )
    return optax.chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        scale_by_adadelta(rho=rho, eps=eps),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """RMSprop (Hinton 2012; centered: Graves 2013): u_t = -lr * g_t / sqrt(v_t + eps).

    optax puts eps inside the root by default (eps_in_sqrt=True); PyTorch's is outside
    (eps_in_sqrt=False matches it) and PyTorch's decay ("alpha") is 0.99, not 0.9. Momentum,
    if any, is applied after the learning rate, as in optax (the same as PyTorch's for a
    constant learning rate; with a schedule the buffer holds already-scaled steps).
    """
    scaling = scale_by_stddev if centered else scale_by_rms
    return optax.chain(
        scaling(
            decay=decay,
            eps=eps,
            initial_scale=initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
        ),
        scale_by_learning_rate(learning_rate),
        identity() if momentum is None else trace(momentum, nesterov),
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Adam (Kingma and Ba 2015): u_t = -lr * m^_t / (sqrt(v^_t + eps_root) + eps); see `scale_by_adam`."""
    return optax.chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """NAdam (Dozat 2016): Adam with the Nesterov first moment
    m^_t = b1 * m_t / (1 - b1^(t+1)) + (1 - b1) * g_t / (1 - b1^t); optax's form, not PyTorch's."""
    return adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=True)


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """AdamW (Loshchilov and Hutter 2019): u_t = -lr * (m^_t / (sqrt(v^_t + eps_root) + eps) + wd * theta_t).

    optax's default weight_decay is 1e-4; PyTorch's AdamW uses 1e-2. The decay is multiplied by
    the learning rate (optax, PyTorch), not by the schedule factor alone (the paper).
    """
    return optax.chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> optax.GradientTransformation:
    """AMSGrad (Reddi et al. 2018): Adam with the running maximum of v^; see `scale_by_amsgrad`."""
    return optax.chain(
        scale_by_amsgrad(
            b1=b1,
            b2=b2,
            eps=eps,
            eps_root=eps_root,
            mu_dtype=mu_dtype,
            bias_correction_mu=bias_correction_mu,
            bias_correction_nu=bias_correction_nu,
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamax(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """Adamax (Kingma and Ba 2015, section 7.1): u_t = -lr * m_t / (1 - b1^t) / max(b2 * v_{t-1}, |g_t| + eps)."""
    return optax.chain(scale_by_adamax(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    """Lion (Chen et al. 2023): u_t = -lr * (sign(b1 * m_{t-1} + (1 - b1) * g_t) + wd * theta_t).

    Its steps have unit size per coordinate, so good learning rates are 3-10x smaller than
    Adam's; optax's default weight_decay is 1e-3.
    """
    return optax.chain(
        scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
