"""Step-by-step agreement of the hand-written optimizers with optax.

Used by `python -m bench verify optimizers` (which renders it) and by `tests/optimizers`.

What is compared. Both optimizers start from the same random parameter tree (nested dicts
holding a scalar, a vector, a matrix and a 4-D conv kernel) and are fed the same random gradient
stream for `STEPS` steps: per-leaf and per-step scales spanning several decades, and all-zero
gradients at the steps in `ZERO_STEPS` (the first one included, so zero-initialised
accumulators meet a zero gradient). Each follows its own parameter trajectory (weight decay
reads the parameters). At every step both the updates and the new parameters are compared.

"Relative difference" is norm-wise per leaf, in the max norm:

    rel(a, b) = max_i |a_i - b_i| / max(max_i |b_i|, tiny)      (b: optax, tiny: dtype's smallest normal)

and a row's number is the maximum over leaves, steps, and {updates, parameters}. Any NaN or
infinity in either side makes it infinite. Updates carry the test: they are compared before
being added to parameters of size ~1, which would otherwise dilute an error in a small update.
Where optax's update leaf is exactly zero, any nonzero value of ours gives |a| / tiny, a
failure. A row also fails if optax's updates are zero on more steps than the zero-gradient
ones (a vacuous comparison) or if the update dtypes differ. The difference is taken on the host in
float64 from the values the compiled program returns, so it is exact.

Bars (after 100 steps): float64 within 1e-10, float32 within 1e-5.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers import alias

STEPS = 100
ZERO_STEPS = (0, 50)
BARS = {"float32": 1e-5, "float64": 1e-10}

PARAM_SHAPES = {
    "conv": {"kernel": (3, 3, 4, 8)},
    "dense": {"kernel": (12, 16), "bias": (16,)},
    "scale": (),
}


def kernel_mask(params):
    """True for leaves named "kernel" (decay them), False for biases and scales."""
    return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key == "kernel", params)


# A prefix of the params tree: decay everything under "dense", nothing else.
PREFIX_MASK = {"conv": False, "dense": True, "scale": False}


def random_params(rng: np.random.Generator, dtype=jnp.float32):
    """A tree shaped like PARAM_SHAPES with N(0, 1) leaves (NumPy's generator: nothing to compile)."""
    return jax.tree.map(
        lambda shape: jnp.asarray(rng.standard_normal(shape), dtype),
        PARAM_SHAPES,
        is_leaf=lambda x: isinstance(x, tuple),
    )


def random_gradient_stream(rng: np.random.Generator, params, steps: int = STEPS):
    """A tree like `params` with a leading axis of `steps`: N(0, 1) times a per-leaf scale in
    [1e-2, 10] times a per-step scale in [0.1, 10], zero at every step in ZERO_STEPS."""
    step_scale = 10.0 ** rng.uniform(-1.0, 1.0, steps)
    step_scale[[s for s in ZERO_STEPS if s < steps]] = 0.0

    def leaf(param):
        scale = step_scale.reshape((steps,) + (1,) * param.ndim) * 10.0 ** rng.uniform(-2.0, 1.0)
        return jnp.asarray(rng.standard_normal((steps, *param.shape)) * scale, param.dtype)

    return jax.tree.map(leaf, params)


def random_problem(seed: int, dtype, steps: int = STEPS):
    """(params, gradient stream) for `seed`; call with x64 enabled for float64."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, dtype)
    return params, random_gradient_stream(rng, params, steps)


def relative_difference(ours, reference) -> np.ndarray:
    """Per step (leading axis): max over leaves of max|a - b| / max(max|b|, tiny), in float64
    on the host (so the subtraction itself is exact); infinite where anything is non-finite."""
    per_leaf = []
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        tiny = np.finfo(b.dtype).tiny
        a64 = np.asarray(a, np.float64).reshape(a.shape[0], -1)
        b64 = np.asarray(b, np.float64).reshape(b.shape[0], -1)
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.max(np.abs(a64 - b64), axis=1, initial=0.0) / np.maximum(np.max(np.abs(b64), axis=1, initial=0.0), tiny)
        finite = np.all(np.isfinite(a64), axis=1) & np.all(np.isfinite(b64), axis=1)
        per_leaf.append(np.where(finite, error, np.inf))
    return np.max(np.stack(per_leaf), axis=0)


def trajectories(ours, reference, params, gradients, reference_sign: float = 1.0):
    """Run both transformations over the gradient stream (one lax.scan) and return, stacked
    over steps, (our updates, optax's updates, our params, optax's params)."""

    def step(carry, gradient):
        ours_params, ours_state, ref_params, ref_state = carry
        ours_updates, ours_state = ours.update(gradient, ours_state, ours_params)
        ref_updates, ref_state = reference.update(gradient, ref_state, ref_params)
        ref_updates = jax.tree.map(lambda u: reference_sign * u, ref_updates)
        ours_params = optax.apply_updates(ours_params, ours_updates)
        ref_params = optax.apply_updates(ref_params, ref_updates)
        carry = (ours_params, ours_state, ref_params, ref_state)
        return carry, (ours_updates, ref_updates, ours_params, ref_params)

    carry = (params, ours.init(params), params, reference.init(params))
    return jax.lax.scan(step, carry, gradients)[1]


class Case(NamedTuple):
    """One row of the verification: our optimizer and optax's, built the same way."""

    optimizer: str
    reference_name: str
    hyperparams: str
    ours: Callable[[], optax.GradientTransformation]
    reference: Callable[[], optax.GradientTransformation]
    reference_sign: float = 1.0
    note: str = ""


class Agreement(NamedTuple):
    case: Case
    dtype: str
    steps: int
    update_difference: float
    param_difference: float
    active_steps: int
    dtypes_match: bool

    @property
    def difference(self) -> float:
        return max(self.update_difference, self.param_difference)

    @property
    def vacuous(self) -> bool:
        return self.active_steps < self.steps - len([s for s in ZERO_STEPS if s < self.steps])

    @property
    def passed(self) -> bool:
        return self.dtypes_match and not self.vacuous and self.difference <= BARS[self.dtype]


def compare_many(cases: list[Case], dtype: str = "float32", steps: int = STEPS, seed: int = 0) -> list[Agreement]:
    """Run every case for `steps` steps in `dtype` ("float32" or "float64"; x64 is enabled only
    inside this call), all in one compiled program, and measure each one's agreement."""
    with jax.enable_x64(dtype == "float64"):
        params, gradients = random_problem(seed, jnp.dtype(dtype), steps)
        pairs = [(case.ours(), case.reference(), case.reference_sign) for case in cases]
        first = jax.tree.map(lambda g: g[0], gradients)

        def update_dtypes(transformation):
            shapes = jax.eval_shape(lambda g: transformation.update(g, transformation.init(params), params)[0], first)
            return [leaf.dtype for leaf in jax.tree.leaves(shapes)]

        dtypes_match = [update_dtypes(ours) == update_dtypes(reference) for ours, reference, _ in pairs]
        run = jax.jit(lambda p, g: [trajectories(o, r, p, g, sign) for o, r, sign in pairs])
        outputs = jax.device_get(run(params, gradients))
    results = []
    for case, match, (ours_updates, ref_updates, ours_params, ref_params) in zip(cases, dtypes_match, outputs):
        update_size = np.max(np.stack([np.abs(u).reshape(steps, -1).max(axis=1) for u in jax.tree.leaves(ref_updates)]), axis=0)
        results.append(
            Agreement(
                case=case,
                dtype=dtype,
                steps=steps,
                update_difference=float(np.max(relative_difference(ours_updates, ref_updates))),
                param_difference=float(np.max(relative_difference(ours_params, ref_params))),
                active_steps=int(np.sum(update_size > 0)),
                dtypes_match=match,
            )
        )
    return results


def compare(case: Case, dtype: str = "float32", steps: int = STEPS, seed: int = 0) -> Agreement:
    """`compare_many` for one case."""
    return compare_many([case], dtype, steps, seed)[0]


# --- the cases: every optimizer at its defaults and at non-default settings -----------------


def _case(optimizer, ours_fn, ref_fn, learning_rate, lr_label=None, *, sign=1.0, note="", random=False,
          **kwargs) -> Case:
    shown = [f"lr={lr_label or learning_rate}"] + [f"{k}={_label(v)}" for k, v in kwargs.items()]
    if random:
        shown.insert(0, "random:")
    return Case(
        optimizer=optimizer,
        reference_name=f"optax.{optimizer}",
        hyperparams=", ".join(shown).replace(":,", ":"),
        ours=lambda: ours_fn(learning_rate, **kwargs),
        reference=lambda: ref_fn(learning_rate, **kwargs),
        reference_sign=sign,
        note=note,
    )


def _label(value) -> str:
    if value is kernel_mask:
        return "kernels"
    if value is PREFIX_MASK:
        return "prefix"
    if callable(value):
        return getattr(value, "label", "schedule")
    return repr(value)


def _labelled(schedule, label):
    def labelled(count):
        return schedule(count)

    labelled.label = label
    return labelled


COSINE = _labelled(optax.cosine_decay_schedule(0.1, STEPS), "cosine(0.1)")
WARMUP_COSINE = _labelled(optax.warmup_cosine_decay_schedule(0.0, 3e-3, 10, STEPS), "warmup_cosine(3e-3)")
EXPONENTIAL = _labelled(optax.exponential_decay(0.1, 10, 0.8), "exp_decay(0.1)")
LINEAR_DECAY = _labelled(optax.linear_schedule(0.1, 0.0, STEPS), "linear(0.1->0)")


def _adadelta_default() -> Case:
    return Case(
        optimizer="adadelta",
        reference_name="-optax.adadelta",
        hyperparams="defaults (ours lr=1.0, optax lr=None)",
        ours=lambda: alias.adadelta(),
        reference=lambda: optax.adadelta(),
        reference_sign=-1.0,
        note="by design: optax's default climbs (+delta); ours = -optax",
    )


def random_cases(seed: int = 0) -> list[Case]:
    """One setting per optimizer with every hyperparameter drawn at random (3 significant
    digits), flags included."""
    rng = np.random.default_rng(seed)
    uniform = lambda low, high: float(f"{rng.uniform(low, high):.3g}")
    log_uniform = lambda low, high: float(f"{10.0 ** rng.uniform(low, high):.3g}")
    flag = lambda: bool(rng.integers(2))
    lr = lambda: log_uniform(-4, -1)
    one_minus_log_uniform = lambda low, high: float(f"{1 - log_uniform(low, high):.6g}")
    moments = lambda: {"b1": uniform(0.5, 0.99), "b2": one_minus_log_uniform(-4, -1)}
    a = alias
    draws = [
        ("sgd", a.sgd, optax.sgd, {"momentum": uniform(0.0, 0.99), "nesterov": flag()}),
        ("adagrad", a.adagrad, optax.adagrad, {"initial_accumulator_value": uniform(0.0, 1.0), "eps": log_uniform(-10, -6)}),
        ("adadelta", a.adadelta, optax.adadelta,
         {"rho": uniform(0.5, 0.99), "eps": log_uniform(-8, -4), "weight_decay": log_uniform(-4, -1)}),
        ("rmsprop", a.rmsprop, optax.rmsprop,
         {"decay": one_minus_log_uniform(-3, -0.3), "eps": log_uniform(-9, -5), "initial_scale": uniform(0.0, 1.0),
          "eps_in_sqrt": flag(), "centered": flag(), "momentum": uniform(0.0, 0.95), "nesterov": flag(),
          "bias_correction": flag()}),
        ("adam", a.adam, optax.adam, {**moments(), "eps": log_uniform(-9, -5), "eps_root": log_uniform(-10, -6),
                                      "nesterov": flag()}),
        ("adamw", a.adamw, optax.adamw, {**moments(), "eps": log_uniform(-9, -5), "weight_decay": log_uniform(-4, -1),
                                         "mask": kernel_mask, "nesterov": flag()}),
        ("nadam", a.nadam, optax.nadam, {**moments(), "eps": log_uniform(-9, -5)}),
        ("amsgrad", a.amsgrad, optax.amsgrad, {**moments(), "eps": log_uniform(-9, -5), "eps_root": log_uniform(-10, -6),
                                               "bias_correction_mu": flag(), "bias_correction_nu": flag()}),
        ("adamax", a.adamax, optax.adamax, {**moments(), "eps": log_uniform(-9, -5)}),
        ("lion", a.lion, optax.lion, {**moments(), "weight_decay": log_uniform(-4, -1)}),
    ]
    return [_case(name, ours, reference, lr(), random=True, **kwargs) for name, ours, reference, kwargs in draws]


def build_cases() -> list[Case]:
    """Every optimizer at its defaults, at chosen non-default settings, then at random ones."""
    return _chosen_cases() + random_cases()


def _chosen_cases() -> list[Case]:
    a = alias
    return [
        _case("sgd", a.sgd, optax.sgd, 0.1),
        _case("sgd", a.sgd, optax.sgd, 0.05, momentum=0.9),
        _case("sgd", a.sgd, optax.sgd, 0.05, momentum=0.5, nesterov=True),
        _case("sgd", a.sgd, optax.sgd, COSINE, "cosine(0.1)", momentum=0.9, nesterov=True),
        _case("adagrad", a.adagrad, optax.adagrad, 0.1),
        _case("adagrad", a.adagrad, optax.adagrad, 0.05, initial_accumulator_value=0.0, eps=1e-10),
        _case("adagrad", a.adagrad, optax.adagrad, EXPONENTIAL, "exp_decay(0.1)"),
        _adadelta_default(),
        _case("adadelta", a.adadelta, optax.adadelta, 1.0),
        _case("adadelta", a.adadelta, optax.adadelta, 0.5, rho=0.95, eps=1e-5, weight_decay=0.01,
              weight_decay_mask=kernel_mask),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.01),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.01, decay=0.99, eps_in_sqrt=False),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.01, centered=True),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.01, centered=True, eps_in_sqrt=False, bias_correction=True),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.003, initial_scale=1.0, momentum=0.9, nesterov=True),
        _case("rmsprop", a.rmsprop, optax.rmsprop, 0.003, bias_correction=True, momentum=0.5),
        _case("rmsprop", a.rmsprop, optax.rmsprop, WARMUP_COSINE, "warmup_cosine(3e-3)", centered=True, momentum=0.9),
        _case("adam", a.adam, optax.adam, 1e-3),
        _case("adam", a.adam, optax.adam, 1e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
        _case("adam", a.adam, optax.adam, 1e-3, nesterov=True),
        _case("adam", a.adam, optax.adam, WARMUP_COSINE, "warmup_cosine(3e-3)"),
        _case("adamw", a.adamw, optax.adamw, 1e-3),
        _case("adamw", a.adamw, optax.adamw, 1e-3, weight_decay=0.1, mask=kernel_mask),
        _case("adamw", a.adamw, optax.adamw, 1e-3, weight_decay=0.05, mask=PREFIX_MASK, nesterov=True),
        _case("adamw", a.adamw, optax.adamw, 1e-3, weight_decay=LINEAR_DECAY),
        _case("nadam", a.nadam, optax.nadam, 1e-3),
        _case("nadam", a.nadam, optax.nadam, 1e-3, b2=0.99, eps_root=1e-8),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3, bias_correction_mu=False, bias_correction_nu=False),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3, b1=0.5, eps_root=1e-8),
        _case("adamax", a.adamax, optax.adamax, 2e-3),
        _case("adamax", a.adamax, optax.adamax, 2e-3, b1=0.5, b2=0.9, eps=1e-6),
        _case("lion", a.lion, optax.lion, 1e-4),
        _case("lion", a.lion, optax.lion, 3e-4, b1=0.95, b2=0.98, weight_decay=0.1, mask=kernel_mask),
        _case("lion", a.lion, optax.lion, COSINE, "cosine(0.1)", weight_decay=0.0),
    ]
