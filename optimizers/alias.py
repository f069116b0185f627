"""Optimizers as chains of the building blocks, with optax's names, signatures and defaults.

As in optax's `_src/alias.py`, each alias is a few lines of `optax.chain(...)`. One deliberate
difference: `adadelta` defaults to `learning_rate=1.0` (Zeiler 2012) and so descends, where
`optax.adadelta()`'s default `learning_rate=None` skips the scaling, sign flip included, and
climbs the loss. For every explicit learning rate the two agree. The `optax.contrib` ones
(muon, schedule-free, prodigy, ademamix, adopt) are in `optimizers.contrib`, one module per
method (`optimizers/contrib/muon.py`, ...).
"""
from __future__ import annotations

from typing import Any, Optional

import optax

import jax.numpy as jnp

from optimizers.factorized import scale_by_factored_rms
from optimizers.transform import (
    MaskOrFn,
    ScalarOrSchedule,
    add_decayed_weights,
    clip_by_block_rms,
    ema,
    identity,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_param_block_rms,
    scale_by_radam,
    scale_by_rms,
    scale_by_rss,
    scale_by_sign,
    scale_by_stddev,
    scale_by_trust_ratio,
    scale_by_yogi,
    trace,
)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
    """(Stochastic) gradient descent, optionally with heavy-ball or Nesterov momentum
    (Robbins and Monro 1951; Polyak 1964; Sutskever et al. 2013). ::

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
    *,
    nesterov: bool = True,
) -> optax.GradientTransformation:
    """NAdam (Dozat 2016): Adam with the Nesterov first moment
    m^_t = b1 * m_t / (1 - b1^(t+1)) + (1 - b1) * g_t / (1 - b1^t); optax's form, not PyTorch's.

    optax's `nadam` is `functools.partial(adam, nesterov=True)`, so it takes the keyword-only
    nesterov too, and nesterov=False is plain `adam`; the same here."""
    return adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov)


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
    """Adamax (Kingma and Ba 2015, section 7.1): `u_t = -lr * m_t / (1 - b1^t) / max(b2 * v_{t-1}, |g_t| + eps)`."""
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


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = True,
) -> optax.GradientTransformation:
    """NAdamW (Dozat 2016; Loshchilov and Hutter 2019): AdamW with the Nesterov first moment of
    `nadam`, AlgoPerf's baseline (Dahl et al. 2023). optax's `nadamw` is
    `functools.partial(adamw, nesterov=True)`; the same here (keyword-only nesterov included:
    nesterov=False is plain `adamw`), and so optax's form of NAdam, not PyTorch's (see
    `scale_by_adam`). AlgoPerf's NAdamW (init2winit's) differs slightly too: it divides the whole
    look-ahead b1 * m_t + (1 - b1) * g_t by (1 - b1^t)."""
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov)


def radam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """RAdam (Liu et al. 2020): Adam whose adaptive step is switched on, and scaled by the
    rectification r_t, once the variance of v^ is tractable; see `scale_by_radam`."""
    return optax.chain(
        scale_by_radam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam with the second moment of g - m instead of g; see
    `scale_by_belief`. optax's eps = eps_root = 1e-16 are the paper's; PyTorch's reference
    implementation uses eps = 1e-16 too but adds it inside and outside the root."""
    return optax.chain(
        scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


def yogi(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-3
) -> optax.GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam with an additive second-moment update; see `scale_by_yogi`."""
    return optax.chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    """LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76
    minutes", ICLR): AdamW's direction r = m^ / (sqrt(v^) + eps) + wd * theta, rescaled per
    leaf to the trust ratio `||theta|| / ||r||`:  `u = -lr * ||theta|| / ||r|| * r`.

    As in optax the trust ratio has no clipping function phi and applies to every leaf
    (biases too); eps = 1e-6 is the paper's.
    """
    return optax.chain(
        scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
        add_decayed_weights(weight_decay=weight_decay, mask=mask),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: float = 0.9,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """LARS (You, Gitman and Ginsburg 2017, "Large Batch Training of Convolutional Networks",
    arXiv:1708.03888)::

        r = g + wd * theta;   r <- r * eta * ||theta|| / (||r|| + eps)   (eta = trust_coefficient)
        m_t = -lr * r + momentum * m_{t-1};   u_t = m_t

    As in optax the momentum buffer holds learning-rate-scaled steps (the paper's Algorithm 1
    too); the masks (True: every leaf) choose the leaves that decay and that are rescaled.
    Because the trust ratio is `~eta * ||theta|| / ||g||`, good learning rates are ~1/eta larger
    than SGD's.
    """
    return optax.chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        optax.masked(scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(decay=momentum, nesterov=nesterov),
    )


def signum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, accumulator_dtype: Optional[Any] = None
) -> optax.GradientTransformation:
    """Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex
    Problems", ICML, Algorithm 3): u_t = -lr * sign(m_t), m_t = beta * m_{t-1} + (1 - beta) * g_t.

    For complex g the sign is `g / |g|` (jnp.sign), as in optax, whose tests list Signum as not
    supporting complex parameters; it still descends a complex parabola with a decaying rate.
    """
    return optax.chain(
        ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
        scale_by_sign(),
        scale_by_learning_rate(learning_rate),
    )


def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[float] = 1.0,
    momentum: Optional[float] = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: float = 1e-30,
    factored: bool = True,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    """Adafactor (Shazeer and Stern 2018, ICML)::

        u = -lr * max(rms(theta), 1e-3) * clip(g / sqrt(V^_t))    (see `scale_by_factored_rms`)

    then optional momentum (an undebiased EMA, kept in dtype_momentum = float32 as in optax)
    and decoupled weight decay, applied after the learning rate. As in optax, the default
    learning_rate=None means no scaling at all: the step size is the parameter scale alone
    (the paper's relative step). Only leaves whose second-largest dimension reaches
    min_dim_size_to_factor = 128 are factored; see `optimizers.factorized` for conv kernels.
    With complex parameters and momentum, pass a complex dtype_momentum: the default float32
    accumulator drops the imaginary part (optax's too; JAX warns that the cast will become an
    error). decay_offset shifts the step count of the decay schedule, (t - decay_offset + 1)^-0.8, for
    resumed training: with a fresh state it must be <= 0, or the first steps are NaN, as in optax.
    """
    return optax.chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps),
        identity() if clipping_threshold is None else clip_by_block_rms(clipping_threshold),
        scale_by_learning_rate(learning_rate, flip_sign=False),
        scale_by_param_block_rms() if multiply_by_parameter_scale else identity(),
        identity() if momentum is None else ema(momentum, debias=False, accumulator_dtype=dtype_momentum),
        identity() if weight_decay_rate is None else add_decayed_weights(weight_decay_rate, mask=weight_decay_mask),
        scale(-1),
    )
