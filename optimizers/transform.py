"""Gradient transformations, written by hand in the style of optax's `_src/transform.py`.

Each building block is one function returning `optax.GradientTransformation(init_fn, update_fn)`
with a NamedTuple state. From optax only the base types (`GradientTransformation`, `EmptyState`)
and the `masked` combinator are used; every formula below is written here, in the same order
of floating-point operations as optax 0.2.8, so that the two agree to rounding (see
`optimizers.agreement`).

Hyperparameters may be Python numbers or JAX arrays (also traced ones, e.g. a vmapped learning
rate or b1). Concrete scalars (Python, NumPy, or a 0-d JAX array that is not a tracer) are
range-checked at construction with a `ValueError`; traced values pass through unchecked, so
nothing is ever concretized. Structural options (nesterov, centered, masks, dtypes) are static.

Complex parameters are handled as optax handles them: second moments accumulate
`|g|^2 = (conj(g) * g).real` (`optimizers.numerics.abs_sq`, optax's formula), norms are those of `|g|`,
and `sign` is jnp.sign, `g / |g|` for complex g. Where optax squares a complex g instead
(Adadelta), so do we: the agreement checks hold us to optax's behaviour, and the docstring
says so.

The formulas the blocks share with `optimizers.factorized` and `optimizers.contrib` live in two
public modules: `optimizers.tree` (moving averages of g and `|g|^2`, bias correction, Dozat's
look-ahead first moment, zeros and casts over a tree) and `optimizers.numerics` (`|x|^2`, the
saturating step count, concrete-number and dtype helpers). Helpers used only here stay private.

Notation: g is the incoming update (the gradient, or what earlier transformations made of
it), t the step count starting at 1, u the outgoing update.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import optax

from optimizers import numerics, tree

Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = Union[float, jax.Array, Schedule]
MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]


# --- validation: concrete numbers only -----------------------------------------------------


def _is_number(value) -> bool:
    """A Python or NumPy real number (optax's `weight_decay == 0` shortcut looks only at these)."""
    return isinstance(value, numbers.Real)


def check_nonnegative(name: str, value) -> None:
    """Raise ValueError if `value` is a concrete number that is negative or NaN."""
    number = numerics.concrete_number(value)
    if number is not None and (math.isnan(number) or number < 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def check_decay_rate(name: str, value) -> None:
    """Raise ValueError if `value` is a concrete number outside [0, 1)."""
    number = numerics.concrete_number(value)
    if number is not None and not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


# --- helpers used only here (the shared ones are in optimizers.tree and optimizers.numerics) --


def _full_like(params, fill_value):
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value), params)


def _safe_norm(x, min_norm):
    """`||x||_2` of the whole leaf, or min_norm where it is <= min_norm, with a gradient that is
    finite at 0 (optax's `numerics.safe_norm`, for ord=None and axis=None)."""
    norm = jnp.linalg.norm(x, keepdims=True)
    x = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
    norm = jnp.squeeze(norm)
    masked_norm = jnp.linalg.norm(x)
    return jnp.where(norm <= min_norm, min_norm, masked_norm)


def _safe_root_mean_squares(x, min_rms):
    """`sqrt(mean |x|^2)`, or min_rms where it is <= min_rms (optax's `safe_root_mean_squares`)."""
    rms = jnp.sqrt(jnp.mean(numerics.abs_sq(x)))
    x = jnp.where(rms <= min_rms, jnp.ones_like(x), x)
    return jnp.where(rms <= min_rms, min_rms, jnp.sqrt(jnp.mean(numerics.abs_sq(x))))


# --- building blocks ------------------------------------------------------------------------


def identity() -> optax.GradientTransformation:
    """u = g; the stand-in for an absent component (no momentum, no learning rate)."""

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


class TraceState(NamedTuple):
    """The momentum buffer m."""

    trace: Any


def trace(decay: float, nesterov: bool = False, accumulator_dtype: Optional[Any] = None) -> optax.GradientTransformation:
    """Heavy-ball or Nesterov momentum (Polyak 1964; Sutskever et al. 2013). ::

        m_t = g_t + decay * m_{t-1}
        u_t = m_t                      (heavy ball)
        u_t = g_t + decay * m_t        (Nesterov, in the form PyTorch and optax use)

    No dampening: the sum, not the average, of past updates (PyTorch's default too).
    """
    check_nonnegative("momentum (trace decay)", decay)
    accumulator_dtype = numerics.canonical_dtype(accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=tree.zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        accumulate = lambda g, m: g + numerics.multiply_in_dtype(decay, m)
        new_trace = jax.tree.map(accumulate, updates, state.trace)
        updates = jax.tree.map(accumulate, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=tree.cast(new_trace, accumulator_dtype))

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByRssState(NamedTuple):
    """The running sum of squared updates."""

    sum_of_squares: Any


def scale_by_rss(initial_accumulator_value: float = 0.1, eps: float = 1e-7) -> optax.GradientTransformation:
    """Adagrad's scaling (Duchi, Hazan and Singer 2011, JMLR 12). ::

        s_t = s_0 + sum_{k<=t} |g_k|^2,    s_0 = initial_accumulator_value
        u_t = g_t / sqrt(s_t + eps)        (and u_t = 0 where s_t == 0)

    Conventions differ: optax (and this) start the accumulator at 0.1 and put eps = 1e-7
    *inside* the square root; PyTorch's `torch.optim.Adagrad` starts at 0 and adds
    eps = 1e-10 *outside* it, g / (sqrt(s) + eps). The `s_t == 0` guard is optax's: it only
    matters with s_0 = 0 and gradients whose square underflows to zero.
    """
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    check_nonnegative("eps", eps)

    def init_fn(params):
        return ScaleByRssState(sum_of_squares=_full_like(params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        sum_of_squares = jax.tree.map(lambda g, s: numerics.abs_sq(g) + s, updates, state.sum_of_squares)
        inverse_root = jax.tree.map(lambda s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0), sum_of_squares)
        updates = jax.tree.map(lambda r, g: r * g, inverse_root, updates)
        return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdaDeltaState(NamedTuple):
    """Running averages of squared gradients and of squared updates."""

    e_g: Any
    e_x: Any


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> optax.GradientTransformation:
    """Adadelta's scaling (Zeiler 2012, arXiv:1212.5701, Algorithm 1). ::

        E[g^2]_t = rho * E[g^2]_{t-1} + (1 - rho) * g_t^2
        u_t      = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t
        E[dx^2]_t = rho * E[dx^2]_{t-1} + (1 - rho) * u_t^2

    The sign is +: the step -u_t comes from `scale_by_learning_rate`. E[dx^2] tracks u before
    the learning rate (optax's and PyTorch's convention), so with a learning rate of 1 it is
    exactly the paper's E[dx^2].

    Complex parameters are not supported, as in optax (whose tests skip Adadelta for complex):
    optax squares g (`g**2`, not `|g|^2`), so the "second moments" turn complex and the method
    climbs a complex parabola. We square g the same way, so that we agree with optax step for
    step; do not use Adadelta with complex parameters.
    """
    check_decay_rate("rho", rho)
    check_nonnegative("eps", eps)

    def init_fn(params):
        return ScaleByAdaDeltaState(e_g=tree.zeros_like(params), e_x=tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        e_g = tree.moving_average(updates, state.e_g, rho, 2)
        updates = jax.tree.map(
            lambda g, eg, ex: (jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps)) * g, updates, e_g, state.e_x
        )
        e_x = tree.moving_average(updates, state.e_x, rho, 2)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByRmsState(NamedTuple):
    """Step count (for the optional bias correction) and the running average of g^2."""

    count: jax.Array
    nu: Any


def _rms_denominator_inverse(second_moment, eps, eps_in_sqrt):
    if eps_in_sqrt:
        return jax.lax.rsqrt(second_moment + eps)
    return 1 / (jnp.sqrt(second_moment) + eps)


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """RMSprop's scaling (Hinton, Srivastava and Swersky 2012, Coursera lecture 6e). ::

        v_t = decay * v_{t-1} + (1 - decay) * |g_t|^2,    v_0 = initial_scale
        u_t = g_t / sqrt(v_t + eps)          (eps_in_sqrt=True: optax's default)
        u_t = g_t / (sqrt(v_t) + eps)        (eps_in_sqrt=False: PyTorch's form)

    With bias_correction, v_t is divided by (1 - decay^t) first. Defaults differ between
    libraries: optax decay=0.9, eps=1e-8 inside the root, v_0=0; PyTorch alpha=0.99, eps=1e-8
    outside the root, v_0=0; TF1 started v_0 at 1.
    """
    check_decay_rate("decay", decay)
    check_nonnegative("eps", eps)
    check_nonnegative("initial_scale", initial_scale)

    def init_fn(params):
        return ScaleByRmsState(count=jnp.zeros([], jnp.int32), nu=_full_like(params, initial_scale))

    def update_fn(updates, state, params=None):
        del params
        nu = tree.moving_average_of_squares(updates, state.nu, decay)
        count = numerics.safe_increment(state.count) if bias_correction else state.count
        nu_hat = tree.bias_correction(nu, decay, count) if bias_correction else nu
        updates = jax.tree.map(lambda n, g: _rms_denominator_inverse(n, eps, eps_in_sqrt) * g, nu_hat, updates)
        return updates, ScaleByRmsState(count=count, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByStddevState(NamedTuple):
    """Step count and the running averages of g and g^2."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """Centered RMSprop's scaling (Graves 2013, arXiv:1308.0850, eqs. 38-41). ::

        m_t = decay * m_{t-1} + (1 - decay) * g_t
        v_t = decay * v_{t-1} + (1 - decay) * |g_t|^2,    v_0 = initial_scale
        u_t = g_t / sqrt(v_t - |m_t|^2 + eps)    (or g_t / (sqrt(v_t - |m_t|^2) + eps))

    With bias_correction both m_t and v_t are divided by (1 - decay^t) first. Graves put eps
    inside the root (1e-4); PyTorch's centered RMSprop puts it outside.
    """
    check_decay_rate("decay", decay)
    check_nonnegative("eps", eps)
    check_nonnegative("initial_scale", initial_scale)

    def init_fn(params):
        return ScaleByStddevState(
            count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params), nu=_full_like(params, initial_scale)
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, decay, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, decay)
        count = numerics.safe_increment(state.count) if bias_correction else state.count
        mu_hat = tree.bias_correction(mu, decay, count) if bias_correction else mu
        nu_hat = tree.bias_correction(nu, decay, count) if bias_correction else nu
        updates = jax.tree.map(
            lambda m, n, g: _rms_denominator_inverse(n - numerics.abs_sq(m), eps, eps_in_sqrt) * g,
            mu_hat, nu_hat, updates,
        )
        return updates, ScaleByStddevState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdamState(NamedTuple):
    """Step count and the first and second moment estimates (also Adamax's state)."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Adam's scaling (Kingma and Ba 2015, arXiv:1412.6980, Algorithm 1). ::

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = b2 * v_{t-1} + (1 - b2) * |g_t|^2
        m^_t = m_t / (1 - b1^t),   v^_t = v_t / (1 - b2^t)
        u_t = m^_t / (sqrt(v^_t + eps_root) + eps)

    eps is outside the root as in the paper and PyTorch; eps_root (default 0) inside it keeps
    the root differentiable at 0 for meta-gradients. With nesterov (NAdam, Dozat 2016), ::

        m^_t = b1 * m_t / (1 - b1^(t+1)) + (1 - b1) * g_t / (1 - b1^t),

    without Dozat's extra b2 factor on v^ and without PyTorch NAdam's momentum-decay schedule
    (psi = 0.004), so `nadam` here and in optax is not PyTorch's `NAdam`.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params, dtype=mu_dtype), nu=tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, b1, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, b2)
        count = numerics.safe_increment(state.count)
        mu_hat = tree.first_moment_estimate(mu, updates, b1, count, nesterov)
        nu_hat = tree.bias_correction(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        nu = jax.tree.map(lambda new, old: new.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=tree.cast(mu, mu_dtype), nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAmsgradState(NamedTuple):
    """Adam's state plus the running maximum of the second moment."""

    count: jax.Array
    mu: Any
    nu: Any
    nu_max: Any


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> optax.GradientTransformation:
    """AMSGrad's scaling (Reddi, Kale and Kumar 2018, ICLR, Algorithm 2). ::

        m_t, v_t as in Adam;  m^_t = m_t / (1 - b1^t),  v^_t = v_t / (1 - b2^t)
        vmax_t = max(vmax_{t-1}, v^_t)
        u_t = m^_t / (sqrt(vmax_t + eps_root) + eps)

    optax's default takes the maximum of the *bias-corrected* v^_t; the paper uses no bias
    correction (bias_correction_mu=bias_correction_nu=False); PyTorch's `Adam(amsgrad=True)`
    takes the maximum of the uncorrected v_t and divides it by the current (1 - b2^t)
    afterwards, a third variant. For complex parameters the moments are stored in the
    parameters' complex dtype (as in optax) with a zero imaginary part, so the maximum (which
    jnp takes lexicographically for complex numbers) is the maximum of the real parts.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAmsgradState(
            count=jnp.zeros([], jnp.int32),
            mu=tree.zeros_like(params, dtype=mu_dtype),
            nu=tree.zeros_like(params),
            nu_max=tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, b1, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, b2)
        count = numerics.safe_increment(state.count)
        mu_hat = tree.bias_correction(mu, b1, count) if bias_correction_mu else mu
        nu_effective = tree.bias_correction(nu, b2, count) if bias_correction_nu else nu
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu_effective)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_max)
        return updates, ScaleByAmsgradState(count=count, mu=tree.cast(mu, mu_dtype), nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_adamax(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adamax's scaling (Kingma and Ba 2015, arXiv:1412.6980, Algorithm 2, section 7.1). ::

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = max(b2 * v_{t-1}, |g_t| + eps)       (the infinity-norm moment)
        u_t = m_t / (1 - b1^t) / v_t

    The paper has no eps; optax and PyTorch add it to `|g_t|` inside the max, as here.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)

    def init_fn(params):
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params), nu=tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        count = numerics.safe_increment(state.count)
        mu = tree.moving_average(updates, state.mu, b1, 1)
        nu = jax.tree.map(lambda g, v: jnp.maximum(jnp.abs(g) + eps, b2 * v), updates, state.nu)
        mu_hat = tree.bias_correction(mu, b1, count)
        updates = jax.tree.map(lambda m, v: m / v, mu_hat, nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByLionState(NamedTuple):
    """Step count and the momentum."""

    count: jax.Array
    mu: Any


def scale_by_lion(b1: float = 0.9, b2: float = 0.99, mu_dtype: Optional[Any] = None) -> optax.GradientTransformation:
    """Lion's scaling (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
    arXiv:2302.06675, Program 1). ::

        u_t = sign(b1 * m_{t-1} + (1 - b1) * g_t)
        m_t = b2 * m_{t-1} + (1 - b2) * g_t

    Only the hard sign (optax's default mode); optax's "smooth" and "refined" modes are not
    written here. For complex g, jnp.sign is `g / |g|`, as in optax; optax's tests skip Lion for
    complex parameters (unsupported there), but the update is the natural complex extension and
    descends a complex parabola (tests/optimizers/test_complex.py).
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    mu_dtype = numerics.canonical_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByLionState(count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params, dtype=mu_dtype))

    def update_fn(updates, state, params=None):
        del params
        signs = jax.tree.map(lambda g, m: jnp.sign((1.0 - b1) * g + b1 * m), updates, state.mu)
        mu = tree.cast(tree.moving_average(updates, state.mu, b2, 1), mu_dtype)
        return signs, ScaleByLionState(count=numerics.safe_increment(state.count), mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale(step_size) -> optax.GradientTransformation:
    """u = step_size * g (a fixed factor; -1 turns Adafactor's ascent direction into descent)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step_size * g, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def scale_by_sign() -> optax.GradientTransformation:
    """u = sign(g) (signSGD, Bernstein et al. 2018); `g / |g|` for complex g, as jnp.sign."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


class EmaState(NamedTuple):
    """Step count and the exponential moving average."""

    count: jax.Array
    ema: Any


def ema(decay: float, debias: bool = True, accumulator_dtype: Optional[Any] = None) -> optax.GradientTransformation:
    """Exponential moving average of the updates (the momentum of Signum and Adafactor). ::

        m_t = decay * m_{t-1} + (1 - decay) * g_t
        u_t = m_t / (1 - decay^t)     (debias=True)   or   u_t = m_t   (debias=False)

    Unlike `trace`, the average is dampened by (1 - decay).
    """
    check_decay_rate("decay", decay)
    accumulator_dtype = numerics.canonical_dtype(accumulator_dtype)

    def init_fn(params):
        return EmaState(count=jnp.zeros([], jnp.int32), ema=tree.zeros_like(params, dtype=accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        new_ema = tree.moving_average(updates, state.ema, decay, 1)
        count = numerics.safe_increment(state.count)
        updates = tree.bias_correction(new_ema, decay, count) if debias else new_ema
        return updates, EmaState(count=count, ema=tree.cast(new_ema, accumulator_dtype))

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByBeliefState(NamedTuple):
    """Step count, the first moment and the second moment of the prediction error g - m."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_belief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """AdaBelief's scaling (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the
    Belief in Observed Gradients", NeurIPS, Algorithm 2). ::

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        s_t = b2 * s_{t-1} + (1 - b2) * |g_t - m_t|^2 + eps_root
        u_t = m^_t / (sqrt(s^_t) + eps),   m^, s^ bias-corrected as in Adam

    eps_root is added to s_t itself (so it is carried in the state), as in the paper and optax;
    nesterov takes Dozat's look-ahead m^ as in `scale_by_adam`.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)

    def init_fn(params):
        return ScaleByBeliefState(
            count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params), nu=tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, b1, 1)
        prediction_error = jax.tree.map(lambda g, m: g - m, updates, mu)
        nu = tree.moving_average_of_squares(prediction_error, state.nu, b2)
        nu = jax.tree.map(lambda v: v + eps_root, nu)
        count = numerics.safe_increment(state.count)
        mu_hat = tree.first_moment_estimate(mu, updates, b1, count, nesterov)
        nu_hat = tree.bias_correction(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_yogi(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> optax.GradientTransformation:
    """Yogi's scaling (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization",
    NeurIPS, Algorithm 2). ::

        m_t = b1 * m_{t-1} + (1 - b1) * g_t
        v_t = v_{t-1} - (1 - b2) * sign(v_{t-1} - |g_t|^2) * |g_t|^2
        u_t = m^_t / (sqrt(v^_t + eps_root) + eps)

    v changes additively (by at most `(1 - b2) |g|^2`) rather than multiplicatively as in Adam.
    Both moments start at initial_accumulator_value = 1e-6 (the paper's); like optax (and unlike
    the paper) m^ and v^ are bias-corrected as in Adam. eps = 1e-3 is the paper's default.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=_full_like(params, initial_accumulator_value),
            nu=_full_like(params, initial_accumulator_value),
        )

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, b1, 1)
        abs_sq = numerics.abs_sq
        nu = jax.tree.map(lambda g, v: v - (1 - b2) * jnp.sign(v - abs_sq(g)) * abs_sq(g), updates, state.nu)
        count = numerics.safe_increment(state.count)
        mu_hat = tree.bias_correction(mu, b1, count)
        nu_hat = tree.bias_correction(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Rectified Adam's scaling (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate
    and Beyond", ICLR, Algorithm 2). ::

        rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        u_t = r_t * m^_t / (sqrt(v^_t + eps_root) + eps)    where rho_t >= threshold
        u_t = m^_t                                           otherwise (momentum SGD)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))

    The paper switches at rho_t > 4; optax (and PyTorch) at rho_t >= 5 (threshold). With
    b2 = 0.999 the first five steps are un-adapted momentum steps.
    """
    check_decay_rate("b1", b1)
    check_decay_rate("b2", b2)
    check_nonnegative("eps", eps)
    check_nonnegative("eps_root", eps_root)
    rho_infinity = 2.0 / (1.0 - b2) - 1.0

    def rectified(rho, mu_hat, nu_hat):
        r = jnp.sqrt(
            (rho - 4.0) * (rho - 2.0) * rho_infinity / ((rho_infinity - 4.0) * (rho_infinity - 2.0) * rho)
        )
        return jax.tree.map(lambda m, v: r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)

    def init_fn(params):
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=tree.zeros_like(params), nu=tree.zeros_like(params))

    def update_fn(updates, state, params=None):
        del params
        mu = tree.moving_average(updates, state.mu, b1, 1)
        nu = tree.moving_average_of_squares(updates, state.nu, b2)
        count = numerics.safe_increment(state.count)
        b2_power = b2**count
        rho = rho_infinity - 2 * count * b2_power / (1 - b2_power)
        mu_hat = tree.first_moment_estimate(mu, updates, b1, count, nesterov)
        nu_hat = tree.bias_correction(nu, b2, count)
        updates = jax.tree.map(
            lambda adapted, plain: jnp.where(rho >= threshold, adapted, plain), rectified(rho, mu_hat, nu_hat), mu_hat
        )
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_trust_ratio(
    min_norm: float = 0.0, trust_coefficient: float = 1.0, eps: float = 0.0
) -> optax.GradientTransformation:
    """Layer-wise trust ratio of LARS and LAMB (You et al. 2017, arXiv:1708.03888; You et al.
    2020, ICLR), per leaf::

        u = g * trust_coefficient * ||theta|| / (||g|| + eps)   (u = g where either norm is 0)

    Norms are Frobenius norms of the whole leaf (of `|x|` for complex), floored at min_norm.
    """
    check_nonnegative("min_norm", min_norm)
    check_nonnegative("trust_coefficient", trust_coefficient)
    check_nonnegative("eps", eps)

    def scale_leaf(update, param):
        param_norm = _safe_norm(param, min_norm)
        update_norm = _safe_norm(update, min_norm)
        trust_ratio = trust_coefficient * param_norm / (update_norm + eps)
        zero_norm = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
        return update * jnp.where(zero_norm, jnp.array(1.0, dtype=param.dtype), trust_ratio)

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError("scale_by_trust_ratio needs the params: call update(updates, state, params)")
        return jax.tree.map(scale_leaf, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> optax.GradientTransformation:
    """u = g * max(rms(theta), min_scale) per leaf: Adafactor's relative step size (Shazeer and
    Stern 2018, section 8)."""
    check_nonnegative("min_scale", min_scale)

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError("scale_by_param_block_rms needs the params: call update(updates, state, params)")
        return jax.tree.map(lambda u, p: u * _safe_root_mean_squares(p, min_scale), updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def clip_by_block_rms(threshold: float) -> optax.GradientTransformation:
    """u = g / max(1, rms(g) / threshold) per leaf: Adafactor's update clipping (Shazeer and
    Stern 2018, section 6; rms of `|g|` for complex g)."""
    check_nonnegative("clipping threshold", threshold)

    def update_fn(updates, state, params=None):
        del params
        clip = lambda u: u / jnp.maximum(1.0, jnp.sqrt(jnp.mean(numerics.abs_sq(u))) / threshold)
        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


class ScheduleCountState(NamedTuple):
    """The step count fed to a schedule (learning rate or weight decay)."""

    count: jax.Array


def add_decayed_weights(weight_decay: ScalarOrSchedule = 0.0, mask: MaskOrFn = None) -> optax.GradientTransformation:
    """Decoupled weight decay (Loshchilov and Hutter 2019, "Decoupled Weight Decay
    Regularization", ICLR): u_t = g_t + weight_decay * theta_t.

    Placed before `scale_by_learning_rate`, the decay is multiplied by the learning rate, as in
    optax and PyTorch's AdamW (the paper multiplies it by the schedule factor only).
    `weight_decay` may be a schedule of the step count. `mask` (a tree of booleans, or a
    function of the params returning one) selects the leaves that decay; the rest pass
    through, through `optax.masked`.
    """
    check_nonnegative("weight_decay", weight_decay)
    scheduled = callable(weight_decay)

    def init_fn(params):
        del params
        return ScheduleCountState(count=jnp.zeros([], jnp.int32)) if scheduled else optax.EmptyState()

    def update_fn(updates, state, params):
        if params is None:
            raise ValueError("add_decayed_weights needs the params: call update(updates, state, params)")
        if not scheduled and _is_number(weight_decay) and weight_decay == 0:
            return updates, state
        rate = weight_decay(state.count) if scheduled else weight_decay
        updates = jax.tree.map(lambda g, p: g + rate * p, updates, params)
        return updates, ScheduleCountState(count=numerics.safe_increment(state.count)) if scheduled else state

    transformation = optax.GradientTransformation(init_fn, update_fn)
    return transformation if mask is None else optax.masked(transformation, mask)


def scale_by_learning_rate(
    learning_rate: Optional[ScalarOrSchedule] = None, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """u_t = -learning_rate * g_t (or +, with flip_sign=False).

    `learning_rate` is a number, a JAX array (traced too: the runner vmaps over it) or a
    schedule `count -> rate` evaluated at the step count 0, 1, 2, ...; None means no scaling
    at all (identity, no sign flip), as in optax.
    """
    if learning_rate is None:
        return identity()
    check_nonnegative("learning_rate", learning_rate)
    sign = -1 if flip_sign else 1

    if callable(learning_rate):

        def init_fn(params):
            del params
            return ScheduleCountState(count=jnp.zeros([], jnp.int32))

        def update_fn(updates, state, params=None):
            del params
            step_size = sign * learning_rate(state.count)
            updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
            return updates, ScheduleCountState(count=numerics.safe_increment(state.count))

        return optax.GradientTransformation(init_fn, update_fn)

    step_size = sign * learning_rate

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step_size * g, updates), state

    return optax.GradientTransformation(init_fn, update_fn)
