"""Step-by-step agreement of the hand-written optimizers with optax.

Used by `python -m bench verify optimizers` (which renders it) and by `tests/optimizers`.

What is compared. Both optimizers start from the same random parameter tree (nested dicts
holding a scalar, a vector, a matrix and a 4-D conv kernel) and are fed the same random gradient
stream for `STEPS` steps: per-leaf and per-step scales spanning several decades, and all-zero
gradients at the steps in `ZERO_STEPS` (the first one included, so zero-initialised
accumulators meet a zero gradient). Each follows its own parameter trajectory (weight decay
reads the parameters). At every step both the updates and the new parameters are compared.
Complex cases (`Case.complex_parameters`) run the same on a tree of complex leaves (complex64
in the float32 run, complex128 in the float64 one), real and imaginary parts N(0, 1).

"Relative difference" is norm-wise per leaf, in the max norm:

    rel(a, b) = max_i |a_i - b_i| / max(max_i |b_i|, tiny)      (b: optax, tiny: dtype's smallest normal)

and a row's number is the maximum over leaves, steps, and {updates, parameters}. Any NaN or
infinity in either side makes it infinite. Updates carry the test: they are compared before
being added to parameters of size ~1, which would otherwise dilute an error in a small update.
Where optax's update leaf is exactly zero, any nonzero value of ours gives |a| / tiny, a
failure. A row also fails if optax's updates are zero on more steps than the zero-gradient
ones (a vacuous comparison) or if the update dtypes differ. The difference is taken on the host in
float64 (complex128) from the values the compiled program returns, so it is exact.

Bars (after 100 steps): float64 and complex128 within 1e-10, float32 and complex64 within 1e-5.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers import alias, contrib

STEPS = 100
ZERO_STEPS = (0, 50)
BARS = {"float32": 1e-5, "float64": 1e-10}
COMPLEX_DTYPES = {"float32": "complex64", "float64": "complex128"}

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


def _standard_normal(rng: np.random.Generator, shape, dtype):
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return rng.standard_normal(shape)


def random_params(rng: np.random.Generator, dtype=jnp.float32):
    """A tree shaped like PARAM_SHAPES with N(0, 1) leaves (NumPy's generator: nothing to compile);
    for a complex dtype, real and imaginary parts N(0, 1)."""
    return jax.tree.map(
        lambda shape: jnp.asarray(_standard_normal(rng, shape, dtype), dtype),
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
        return jnp.asarray(_standard_normal(rng, (steps, *param.shape), param.dtype) * scale, param.dtype)

    return jax.tree.map(leaf, params)


def random_problem(seed: int, dtype, steps: int = STEPS):
    """(params, gradient stream) for `seed`; call with x64 enabled for float64 or complex128."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, dtype)
    return params, random_gradient_stream(rng, params, steps)


def relative_difference(ours, reference) -> np.ndarray:
    """Per step (leading axis): max over leaves of max|a - b| / max(max|b|, tiny), in float64
    (complex128) on the host, so the subtraction itself is exact; infinite where anything is
    non-finite."""
    per_leaf = []
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        tiny = np.finfo(b.dtype).tiny
        exact = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64
        a64 = np.asarray(a).astype(exact).reshape(a.shape[0], -1)
        b64 = np.asarray(b).astype(exact).reshape(b.shape[0], -1)
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
    """One row of the verification: our optimizer and optax's, built the same way.

    complex_parameters: run on the complex tree. zero_first_gradient=False replaces the
    all-zero first gradient by the second one, for methods that optax itself turns to NaN on
    an all-zero first gradient (Prodigy: 0 / 0 in its first distance estimate).
    """

    optimizer: str
    reference_name: str
    hyperparams: str
    ours: Callable[[], optax.GradientTransformation]
    reference: Callable[[], optax.GradientTransformation]
    reference_sign: float = 1.0
    note: str = ""
    complex_parameters: bool = False
    zero_first_gradient: bool = True


class Agreement(NamedTuple):
    case: Case
    dtype: str
    steps: int
    update_difference: float
    param_difference: float
    active_steps: int
    dtypes_match: bool

    @property
    def parameter_dtype(self) -> str:
        """The dtype the parameters had: dtype, or its complex counterpart."""
        return COMPLEX_DTYPES[self.dtype] if self.case.complex_parameters else self.dtype

    @property
    def difference(self) -> float:
        return max(self.update_difference, self.param_difference)

    @property
    def vacuous(self) -> bool:
        zero_steps = [s for s in ZERO_STEPS if s < self.steps and (s > 0 or self.case.zero_first_gradient)]
        return self.active_steps < self.steps - len(zero_steps)

    @property
    def passed(self) -> bool:
        return self.dtypes_match and not self.vacuous and self.difference <= BARS[self.dtype]


def _problem_for(case: Case, problems):
    params, gradients = problems[case.complex_parameters]
    if not case.zero_first_gradient:
        gradients = jax.tree.map(lambda g: g.at[0].set(g[1]), gradients)
    return params, gradients


def compare_many(cases: list[Case], dtype: str = "float32", steps: int = STEPS, seed: int = 0) -> list[Agreement]:
    """Run every case for `steps` steps in `dtype` ("float32" or "float64", complex cases in
    its complex counterpart; x64 is enabled only inside this call), all in one compiled
    program, and measure each one's agreement."""
    with jax.enable_x64(dtype == "float64"):
        problems = {False: random_problem(seed, jnp.dtype(dtype), steps),
                    True: random_problem(seed, jnp.dtype(COMPLEX_DTYPES[dtype]), steps)}
        built = [(case.ours(), case.reference(), case.reference_sign) for case in cases]

        def update_dtypes(transformation, case):
            params, gradients = problems[case.complex_parameters]
            first = jax.tree.map(lambda g: g[0], gradients)
            shapes = jax.eval_shape(lambda g: transformation.update(g, transformation.init(params), params)[0], first)
            return [leaf.dtype for leaf in jax.tree.leaves(shapes)]

        dtypes_match = [update_dtypes(ours, case) == update_dtypes(reference, case)
                        for case, (ours, reference, _) in zip(cases, built)]

        def run(problems):
            return [trajectories(ours, reference, *_problem_for(case, problems), sign)
                    for case, (ours, reference, sign) in zip(cases, built)]

        outputs = jax.device_get(jax.jit(run)(problems))
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
          complex_parameters=False, zero_first_gradient=True, **kwargs) -> Case:
    shown = [f"lr={lr_label or learning_rate}"] + [f"{k}={_label(v)}" for k, v in kwargs.items()]
    if random:
        shown.insert(0, "random:")
    if complex_parameters:
        shown.insert(0, "complex:")
    return Case(
        optimizer=optimizer,
        reference_name=_reference_name(optimizer, ref_fn),
        hyperparams=", ".join(shown).replace(":,", ":"),
        ours=lambda: ours_fn(learning_rate, **kwargs),
        reference=lambda: ref_fn(learning_rate, **kwargs),
        reference_sign=sign,
        note=note,
        complex_parameters=complex_parameters,
        zero_first_gradient=zero_first_gradient,
    )


def _defaults_case(optimizer, ours_fn, ref_fn, *, complex_parameters=False, zero_first_gradient=True) -> Case:
    """Both factories called with no argument at all (those whose learning rate has a default)."""
    return Case(
        optimizer=optimizer,
        reference_name=_reference_name(optimizer, ref_fn),
        hyperparams=("complex: " if complex_parameters else "") + "defaults",
        ours=lambda: ours_fn(),
        reference=lambda: ref_fn(),
        complex_parameters=complex_parameters,
        zero_first_gradient=zero_first_gradient,
    )


def _reference_name(optimizer, ref_fn) -> str:
    return f"optax.contrib.{optimizer}" if getattr(ref_fn, "__module__", "").startswith("optax.contrib") else f"optax.{optimizer}"


def _label(value) -> str:
    if value is kernel_mask:
        return "kernels"
    if value is PREFIX_MASK:
        return "prefix"
    if hasattr(value, "label"):
        return value.label
    if isinstance(value, type) or hasattr(value, "dtype"):  # a dtype such as jnp.float32
        return np.dtype(value).name
    if callable(value):
        return "schedule"
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
ALPHA_WARMUP = _labelled(optax.linear_schedule(0.0, 5.0, 50), "linear(0->5)")
B3_WARMUP = _labelled(optax.linear_schedule(0.9, 0.9999, 50), "linear(0.9->0.9999)")
HALF_QUARTER_POWER = _labelled(lambda count: 0.5 * count**0.25, "0.5 t^0.25")


def conv_as_one_matrix(params):
    """Muon dimension numbers: the conv kernel (3, 3, 4, 8) as one (36, 8) matrix, the dense
    kernel as itself, everything else to AdamW."""
    return {"conv": {"kernel": contrib.MuonDimensionNumbers(reduction_axis=(0, 1, 2), output_axis=3)},
            "dense": {"kernel": contrib.MuonDimensionNumbers(), "bias": None}, "scale": None}


def conv_as_matrix_batch(params):
    """Muon dimension numbers: the conv kernel as 3 x 3 matrices (4, 8), the spatial axes a
    batch; the dense kernel transposed (reduction axis 1)."""
    return {"conv": {"kernel": contrib.MuonDimensionNumbers(reduction_axis=2, output_axis=3)},
            "dense": {"kernel": contrib.MuonDimensionNumbers(reduction_axis=1, output_axis=0), "bias": None},
            "scale": None}


conv_as_one_matrix.label = "conv as one matrix"
conv_as_matrix_batch.label = "conv as 3x3 matrices"


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
    # the classic draws first, learning rates included, so that adding optimizers leaves them as they were
    cases = [_case(name, ours, reference, lr(), random=True, **kwargs) for name, ours, reference, kwargs in draws]
    draws = [
        ("nadamw", a.nadamw, optax.nadamw, {**moments(), "eps": log_uniform(-9, -5), "eps_root": log_uniform(-10, -6),
                                            "weight_decay": log_uniform(-4, -1), "mask": kernel_mask}),
        ("radam", a.radam, optax.radam, {**moments(), "eps": log_uniform(-9, -5), "eps_root": log_uniform(-10, -6),
                                         "threshold": uniform(4.0, 6.0), "nesterov": flag()}),
        ("adabelief", a.adabelief, optax.adabelief, {**moments(), "eps": log_uniform(-16, -8),
                                                     "eps_root": log_uniform(-16, -8), "nesterov": flag()}),
        ("yogi", a.yogi, optax.yogi, {**moments(), "eps": log_uniform(-6, -2)}),
        ("lamb", a.lamb, optax.lamb, {**moments(), "eps": log_uniform(-9, -5), "eps_root": log_uniform(-10, -6),
                                      "weight_decay": log_uniform(-4, -1)}),
        ("lars", a.lars, optax.lars, {"weight_decay": log_uniform(-5, -2), "trust_coefficient": log_uniform(-3, -1),
                                      "eps": log_uniform(-10, -6), "momentum": uniform(0.0, 0.99), "nesterov": flag()}),
        ("adafactor", a.adafactor, optax.adafactor,
         {"min_dim_size_to_factor": int(rng.choice([4, 8, 128])), "decay_rate": uniform(0.5, 1.0),
          "decay_offset": int(rng.integers(-10, 1)), "multiply_by_parameter_scale": flag(),
          "clipping_threshold": uniform(0.5, 2.0), "momentum": uniform(0.5, 0.99),
          "weight_decay_rate": log_uniform(-4, -2), "eps": log_uniform(-30, -20), "factored": flag()}),
        ("signum", a.signum, optax.signum, {"beta": uniform(0.5, 0.99)}),
        ("muon", contrib.muon, optax.contrib.muon,
         {"beta": uniform(0.8, 0.99), "eps": log_uniform(-9, -6), "weight_decay": log_uniform(-4, -2),
          "nesterov": flag(), "adaptive": flag(), "adam_b1": uniform(0.5, 0.99),
          "adam_b2": one_minus_log_uniform(-4, -1), "adam_eps_root": log_uniform(-10, -6),
          "adam_weight_decay": log_uniform(-4, -2), "adam_learning_rate": lr()}),
        ("schedule_free_adamw", contrib.schedule_free_adamw, optax.contrib.schedule_free_adamw,
         {"warmup_steps": int(rng.integers(1, 20)), **moments(), "eps": log_uniform(-9, -5),
          "weight_decay": log_uniform(-4, -2), "weight_lr_power": uniform(0.0, 3.0)}),
        ("schedule_free_sgd", contrib.schedule_free_sgd, optax.contrib.schedule_free_sgd,
         {"warmup_steps": int(rng.integers(1, 20)), "b1": uniform(0.5, 0.99), "weight_decay": log_uniform(-4, -2),
          "weight_lr_power": uniform(0.0, 3.0)}),
        ("ademamix", contrib.ademamix, optax.contrib.ademamix,
         {**moments(), "b3": one_minus_log_uniform(-5, -2), "alpha": uniform(1.0, 10.0), "eps": log_uniform(-9, -5),
          "eps_root": log_uniform(-10, -6), "weight_decay": log_uniform(-4, -2)}),
        ("adopt", contrib.adopt, optax.contrib.adopt, {"b1": uniform(0.5, 0.99), "b2": one_minus_log_uniform(-5, -2),
                                                       "eps": log_uniform(-9, -5), "nesterov": flag(),
                                                       "use_clipping": flag()}),
    ]
    cases += [_case(name, ours, reference, lr(), random=True, **kwargs) for name, ours, reference, kwargs in draws]
    prodigy = {"betas": (uniform(0.5, 0.99), one_minus_log_uniform(-4, -1)), "beta3": uniform(0.5, 0.99),
               "eps": log_uniform(-9, -5), "estim_lr0": log_uniform(-7, -4), "estim_lr_coef": uniform(0.5, 2.0),
               "weight_decay": log_uniform(-4, -2), "safeguard_warmup": flag()}
    return cases + [_case("prodigy", contrib.prodigy, optax.contrib.prodigy, uniform(0.5, 2.0), random=True,
                          zero_first_gradient=False, **prodigy)]


def build_cases() -> list[Case]:
    """Every optimizer at its defaults, at chosen non-default settings, then at random ones,
    then on complex parameters."""
    return chosen_cases() + random_cases() + complex_cases()


def complex_cases() -> list[Case]:
    """Every optimizer on complex parameters: at its defaults, and at the settings whose
    complex arithmetic differs (centered and eps-outside RMSprop, factored Adafactor, adaptive
    and AOL-preconditioned Muon, ADOPT without clipping: with clipping optax raises, tested in
    tests/optimizers/test_complex.py). Adadelta and Prodigy run as optax runs them, which is
    not a sensible complex method (see their docstrings); Muon's "schatten" preconditioning
    transposes without conjugating and turns NaN in optax, so it is left out."""
    a, c, C = alias, contrib, optax.contrib
    complex_case = lambda *args, **kwargs: _case(*args, complex_parameters=True, **kwargs)
    return [
        complex_case("sgd", a.sgd, optax.sgd, 0.05, momentum=0.9, nesterov=True),
        complex_case("adagrad", a.adagrad, optax.adagrad, 0.1),
        complex_case("adadelta", a.adadelta, optax.adadelta, 1.0, note="optax squares complex g; not supported"),
        complex_case("rmsprop", a.rmsprop, optax.rmsprop, 0.01, momentum=0.9),
        complex_case("rmsprop", a.rmsprop, optax.rmsprop, 0.01, centered=True, eps_in_sqrt=False, bias_correction=True),
        complex_case("adam", a.adam, optax.adam, 1e-3),
        complex_case("adamw", a.adamw, optax.adamw, 1e-3, weight_decay=0.1, nesterov=True),
        complex_case("nadam", a.nadam, optax.nadam, 1e-3),
        complex_case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3),
        complex_case("adamax", a.adamax, optax.adamax, 2e-3),
        complex_case("lion", a.lion, optax.lion, 1e-4, weight_decay=0.1),
        complex_case("nadamw", a.nadamw, optax.nadamw, 1e-3),
        complex_case("radam", a.radam, optax.radam, 1e-3),
        complex_case("adabelief", a.adabelief, optax.adabelief, 1e-3),
        complex_case("yogi", a.yogi, optax.yogi, 1e-2),
        complex_case("lamb", a.lamb, optax.lamb, 1e-3, weight_decay=0.01),
        complex_case("lars", a.lars, optax.lars, 0.1, weight_decay=1e-3),
        _defaults_case("adafactor", a.adafactor, optax.adafactor, complex_parameters=True),
        complex_case("adafactor", a.adafactor, optax.adafactor, 1e-2, min_dim_size_to_factor=4, momentum=0.9,
                     dtype_momentum=jnp.complex64),
        complex_case("signum", a.signum, optax.signum, 1e-3),
        complex_case("muon", c.muon, C.muon, 1e-3),
        complex_case("muon", c.muon, C.muon, 1e-3, adaptive=True, preconditioning="aol",
                     muon_weight_dimension_numbers=conv_as_matrix_batch),
        _defaults_case("schedule_free_adamw", c.schedule_free_adamw, C.schedule_free_adamw, complex_parameters=True),
        _defaults_case("schedule_free_sgd", c.schedule_free_sgd, C.schedule_free_sgd, complex_parameters=True),
        _defaults_case("prodigy", c.prodigy, C.prodigy, complex_parameters=True, zero_first_gradient=False),
        complex_case("ademamix", c.ademamix, C.ademamix, 1e-3),
        complex_case("adopt", c.adopt, C.adopt, 1e-3, use_clipping=False),
    ]


def chosen_cases() -> list[Case]:
    """Every optimizer at chosen settings: defaults, each option, schedules, masks."""
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
        _case("nadam", a.nadam, optax.nadam, 1e-3, nesterov=False),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3, bias_correction_mu=False, bias_correction_nu=False),
        _case("amsgrad", a.amsgrad, optax.amsgrad, 1e-3, b1=0.5, eps_root=1e-8),
        _case("adamax", a.adamax, optax.adamax, 2e-3),
        _case("adamax", a.adamax, optax.adamax, 2e-3, b1=0.5, b2=0.9, eps=1e-6),
        _case("lion", a.lion, optax.lion, 1e-4),
        _case("lion", a.lion, optax.lion, 3e-4, b1=0.95, b2=0.98, weight_decay=0.1, mask=kernel_mask),
        _case("lion", a.lion, optax.lion, COSINE, "cosine(0.1)", weight_decay=0.0),
    ] + _chosen_new_cases()


def _chosen_new_cases() -> list[Case]:
    """The optimizers after Lion: optax core, then optax.contrib."""
    a, c, C = alias, contrib, optax.contrib
    return [
        _case("nadamw", a.nadamw, optax.nadamw, 1e-3),
        _case("nadamw", a.nadamw, optax.nadamw, 1e-3, b1=0.8, b2=0.99, weight_decay=0.1, mask=kernel_mask),
        _case("nadamw", a.nadamw, optax.nadamw, WARMUP_COSINE, "warmup_cosine(3e-3)", weight_decay=LINEAR_DECAY),
        _case("nadamw", a.nadamw, optax.nadamw, 1e-3, weight_decay=0.1, nesterov=False),
        _case("radam", a.radam, optax.radam, 1e-3),
        _case("radam", a.radam, optax.radam, 1e-3, b2=0.99, eps_root=1e-8, threshold=4.0, nesterov=True),
        _case("radam", a.radam, optax.radam, COSINE, "cosine(0.1)", b1=0.5, eps=1e-6),
        _case("adabelief", a.adabelief, optax.adabelief, 1e-3),
        _case("adabelief", a.adabelief, optax.adabelief, 1e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-12, nesterov=True),
        _case("adabelief", a.adabelief, optax.adabelief, WARMUP_COSINE, "warmup_cosine(3e-3)"),
        _case("yogi", a.yogi, optax.yogi, 1e-2),
        _case("yogi", a.yogi, optax.yogi, 1e-2, b1=0.5, b2=0.99, eps=1e-6),
        _case("yogi", a.yogi, optax.yogi, EXPONENTIAL, "exp_decay(0.1)"),
        _case("lamb", a.lamb, optax.lamb, 1e-3),
        _case("lamb", a.lamb, optax.lamb, 1e-3, b2=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.01, mask=kernel_mask),
        _case("lamb", a.lamb, optax.lamb, COSINE, "cosine(0.1)", weight_decay=LINEAR_DECAY),
        _case("lars", a.lars, optax.lars, 0.1),
        _case("lars", a.lars, optax.lars, 0.1, weight_decay=1e-3, weight_decay_mask=kernel_mask,
              trust_ratio_mask=kernel_mask, nesterov=True),
        _case("lars", a.lars, optax.lars, COSINE, "cosine(0.1)", weight_decay=1e-2, weight_decay_mask=PREFIX_MASK,
              trust_coefficient=0.02, eps=1e-9, momentum=0.5),
        _defaults_case("adafactor", a.adafactor, optax.adafactor),
        _case("adafactor", a.adafactor, optax.adafactor, 1e-2, min_dim_size_to_factor=4),
        _case("adafactor", a.adafactor, optax.adafactor, 1e-2, min_dim_size_to_factor=8, decay_rate=0.5, decay_offset=-3,
              momentum=0.9, weight_decay_rate=1e-3, weight_decay_mask=kernel_mask, eps=1e-20),
        _case("adafactor", a.adafactor, optax.adafactor, WARMUP_COSINE, "warmup_cosine(3e-3)",
              multiply_by_parameter_scale=False, clipping_threshold=None, momentum=0.5, factored=False),
        _case("signum", a.signum, optax.signum, 1e-3),
        _case("signum", a.signum, optax.signum, COSINE, "cosine(0.1)", beta=0.5),
        _case("muon", c.muon, C.muon, 1e-3),
        _case("muon", c.muon, C.muon, 1e-3, beta=0.9, eps=1e-6, nesterov=False, adaptive=True),
        _case("muon", c.muon, C.muon, 1e-3, preconditioning="spectral", muon_weight_dimension_numbers=conv_as_one_matrix),
        _case("muon", c.muon, C.muon, 1e-3, preconditioning="aol", muon_weight_dimension_numbers=conv_as_matrix_batch),
        _case("muon", c.muon, C.muon, 1e-3, preconditioning="schatten", ns_coeffs="dion"),
        _case("muon", c.muon, C.muon, 1e-3, ns_coeffs=(3.0, -3.2, 1.2), ns_steps=3, consistent_rms=0.2,
              weight_decay=0.01, weight_decay_mask=kernel_mask, adam_b1=0.8, adam_b2=0.99, adam_eps_root=1e-8,
              adam_weight_decay=0.01, adam_learning_rate=3e-4),
        _case("muon", c.muon, C.muon, WARMUP_COSINE, "warmup_cosine(3e-3)", mu_dtype=jnp.float32),
        _defaults_case("schedule_free_adamw", c.schedule_free_adamw, C.schedule_free_adamw),
        _case("schedule_free_adamw", c.schedule_free_adamw, C.schedule_free_adamw, 1e-3, b1=0.95, b2=0.99, eps=1e-6,
              weight_decay=1e-3, weight_lr_power=1.0),
        _case("schedule_free_adamw", c.schedule_free_adamw, C.schedule_free_adamw, 1e-2, warmup_steps=10),
        _defaults_case("schedule_free_sgd", c.schedule_free_sgd, C.schedule_free_sgd),
        _case("schedule_free_sgd", c.schedule_free_sgd, C.schedule_free_sgd, 0.1, warmup_steps=10, b1=0.5,
              weight_decay=1e-3, weight_lr_power=0.5),
        _defaults_case("prodigy", c.prodigy, C.prodigy, zero_first_gradient=False),
        _case("prodigy", c.prodigy, C.prodigy, 0.5, betas=(0.8, 0.99), beta3=0.9, eps=1e-6, estim_lr0=1e-5,
              estim_lr_coef=2.0, weight_decay=1e-3, safeguard_warmup=True, zero_first_gradient=False),
        _case("prodigy", c.prodigy, C.prodigy, COSINE, "cosine(0.1)", zero_first_gradient=False),
        _case("ademamix", c.ademamix, C.ademamix, 1e-3),
        _case("ademamix", c.ademamix, C.ademamix, 1e-3, b1=0.8, b2=0.99, b3=0.999, alpha=8.0, eps_root=1e-8,
              weight_decay=1e-2, mask=kernel_mask),
        _case("ademamix", c.ademamix, C.ademamix, 1e-3, b3=B3_WARMUP, alpha=ALPHA_WARMUP),
        _case("adopt", c.adopt, C.adopt, 1e-3),
        _case("adopt", c.adopt, C.adopt, 1e-3, b1=0.8, b2=0.999, eps=1e-8, nesterov=True, use_clipping=False),
        _case("adopt", c.adopt, C.adopt, WARMUP_COSINE, "warmup_cosine(3e-3)", clip_value_fn=HALF_QUARTER_POWER),
    ]
