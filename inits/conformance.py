"""The checks behind `python -m bench verify inits` and tests/inits: one case generator, one judge.

Twins of `jax.nn.initializers` must give the same bytes as the built-in for the same key, shape,
dtype and arguments (or raise the same exception type where the built-in cannot, e.g. a
half-precision QR). Strategies with no twin are judged by their defining property (moments and
a Kolmogorov-Smirnov test at fixed seeds, so a verdict never flickers).
Each check returns a list of failure messages: empty means it holds.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import inits
from inits import data_dependent, deterministic, fan_scaling, mup, orthogonal_kernels, residual

DENSE_SHAPES = [(5, 7), (7, 5)]  # wide and tall
CONV_SHAPES = [(3, 4, 6), (3, 3, 4, 8), (2, 3, 3, 2, 5)]  # 1-D, 2-D, 3-D convolution kernels
HALF_AND_FULL = [jnp.float32, jnp.bfloat16, jnp.float16, None]  # None: the default float dtype
WITH_COMPLEX = HALF_AND_FULL + [jnp.complex64]
# Few distinct shapes on purpose: compiling jax.random's samplers per (shape, dtype) is what a
# sweep costs (running them afterwards takes milliseconds). in/out/batch axes other than Flax's
# (..., in, out) layout, on a 2-D convolution kernel.
AXES_VARIANTS = [
    dict(in_axis=0, out_axis=1),
    dict(in_axis=-2, out_axis=-1, batch_axis=0),
    dict(in_axis=(1, 2), out_axis=-1),
    dict(in_axis=-1, out_axis=(0, 1), batch_axis=()),
]
AXES_SHAPE = (3, 3, 4, 8)
FAN_SCALED_NAMES = ["glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal", "he_uniform",
                    "he_normal", "kaiming_uniform", "kaiming_normal", "lecun_uniform", "lecun_normal"]


@dataclass(frozen=True)
class Case:
    """One call: factory(**kwargs)(key(seed), shape, dtype), optionally vmapped over 3 keys."""

    kwargs: dict = field(default_factory=dict)
    shape: tuple = (5, 7)
    dtype: Any = jnp.float32
    typed_key: bool = False
    seed: int = 0
    vmapped: bool = False

    def key(self) -> jax.Array:
        key = jax.random.key(self.seed) if self.typed_key else jax.random.PRNGKey(self.seed)
        return jax.random.split(key, 3) if self.vmapped else key

    def __str__(self) -> str:
        dtype = "default" if self.dtype is None else jnp.dtype(self.dtype).name
        key = "typed key" if self.typed_key else "raw key"
        return f"{self.kwargs or ''} shape={self.shape} {dtype} {key} seed={self.seed}{' vmapped' if self.vmapped else ''}"


def _cycle_cases(kwargs_list, shapes, dtypes, vmapped_every: int = 5) -> list[Case]:
    """Every (kwargs, shape) pair once, dtype/key kind/seed cycled so that each value shows up."""
    cases = []
    pairs = list(itertools.product(kwargs_list, shapes))
    for i, (kwargs, shape) in enumerate(pairs):
        cases.append(Case(kwargs=kwargs, shape=shape, dtype=dtypes[i % len(dtypes)], typed_key=bool(i % 2),
                          seed=i, vmapped=i % vmapped_every == vmapped_every - 1))
    for i, dtype in enumerate(dtypes):  # make sure every dtype meets a convolution kernel and both keys
        cases.append(Case(kwargs=kwargs_list[0], shape=CONV_SHAPES[i % len(CONV_SHAPES)], dtype=dtype,
                          typed_key=not i % 2, seed=100 + i))
    return cases


QUICK_CASES_PER_NAME = 3  # the first cases cycle through float32, bfloat16, float16 and both key kinds


def twin_cases(name: str, quick: bool = False) -> list[Case]:
    """The cases on which `inits.<name>` must match `jax.nn.initializers.<name>` bit for bit.

    quick: the first few only, for the fast test tier; the full sweep is `verify inits` and the
    slow tests.
    """
    cases = _all_twin_cases(name)
    if not quick:
        return cases
    with_axes = [case for case in cases[QUICK_CASES_PER_NAME:] if "in_axis" in case.kwargs or "column_axis" in case.kwargs]
    return cases[:QUICK_CASES_PER_NAME] + with_axes[:1]


def _all_twin_cases(name: str) -> list[Case]:
    shapes = DENSE_SHAPES + CONV_SHAPES
    if name == "variance_scaling":
        kwargs = [dict(scale=s, mode=m, distribution=d) for s, (m, d) in zip(
            itertools.cycle([1.0, 2.0, 0.5]), itertools.product(fan_scaling.MODES, fan_scaling.DISTRIBUTIONS))]
        axes = [dict(scale=1.0, mode="fan_avg", distribution="normal", **a) for a in AXES_VARIANTS]
        return _cycle_cases(kwargs, [(5, 7), (3, 3, 4, 8)], WITH_COMPLEX) + _cycle_cases(axes, [AXES_SHAPE], WITH_COMPLEX)
    if name in FAN_SCALED_NAMES:
        return _cycle_cases([{}], shapes, WITH_COMPLEX) + _cycle_cases(AXES_VARIANTS, [AXES_SHAPE], HALF_AND_FULL)
    if name == "orthogonal":
        kwargs = [{}, dict(scale=2.0), dict(column_axis=0), dict(column_axis=-2, scale=0.5)]
        return _cycle_cases(kwargs, [(5, 7), (7, 5), (3, 4, 6), (3, 3, 4, 8)], [jnp.float32, None, jnp.complex64,
                                                                               jnp.bfloat16, jnp.float16], 3)
    if name == "delta_orthogonal":
        return _cycle_cases([{}, dict(scale=2.0)], [(3, 4, 6), (3, 3, 4, 8), (2, 3, 3, 2, 5), (1, 3, 3)],
                            [jnp.float32, None, jnp.float16], 3)
    if name in ("zeros", "ones"):
        return _cycle_cases([{}], shapes, WITH_COMPLEX)
    if name == "constant":
        return _cycle_cases([dict(value=0.01), dict(value=-7)], shapes, WITH_COMPLEX)
    if name in ("normal", "uniform"):
        arg = "stddev" if name == "normal" else "scale"
        return _cycle_cases([{}, {arg: 2.5}, {arg: 1e-3}], shapes, HALF_AND_FULL)
    if name == "truncated_normal":
        return _cycle_cases([{}, dict(stddev=0.5, lower=-1.0, upper=3.0)], shapes, HALF_AND_FULL)
    raise KeyError(f"{name!r} has no twin in jax.nn.initializers")


TWIN_NAMES = ["variance_scaling", *FAN_SCALED_NAMES, "orthogonal", "delta_orthogonal", "zeros", "ones",
              "constant", "normal", "uniform", "truncated_normal"]
NOT_FACTORIES = ("zeros", "ones")  # initializers themselves, not factories of one


def _build(module: Any, name: str, kwargs: dict) -> Callable:
    member = getattr(module, name)
    return member if name in NOT_FACTORIES else member(**kwargs)


def _call(init: Callable, case: Case) -> Any:
    """The array, or the exception type when the call fails (a failure the twin must share)."""
    try:
        if case.vmapped:
            return jax.vmap(lambda key: init(key, case.shape, case.dtype))(case.key())
        return init(case.key(), case.shape, case.dtype)
    except Exception as error:  # noqa: BLE001 - the type is compared with the built-in's
        return type(error)


def compare_with_builtin(name: str, case: Case) -> Optional[str]:
    """None when `inits.<name>` and the built-in agree bit for bit on `case`, else what differs."""
    return compare_initializers(_build(inits, name, case.kwargs),
                                _build(jax.nn.initializers, name, case.kwargs), case)


def against_cases() -> list[Case]:
    """The cases a researcher's initializer meets against a twin (`verify --init SPEC --against
    NAME`): dense and 1-D/2-D/3-D conv kernels, every half and full dtype and complex64, both
    key kinds, plain and vmapped."""
    return _cycle_cases([{}], DENSE_SHAPES + CONV_SHAPES, WITH_COMPLEX)


def compare_initializers(ours: Callable, builtin: Callable, case: Case) -> Optional[str]:
    """None when two initializers agree bit for bit on `case` (or both raise the same error
    type), else what differs."""
    ours = _call(ours, case)
    builtin = _call(builtin, case)
    if isinstance(ours, type) or isinstance(builtin, type):
        if ours is builtin:
            return None
        return f"{case}: ours gave {_describe(ours)}, built-in gave {_describe(builtin)}"
    if (ours.shape, ours.dtype) != (builtin.shape, builtin.dtype):
        return f"{case}: ours {ours.dtype}{ours.shape}, built-in {builtin.dtype}{builtin.shape}"
    if np.asarray(ours).tobytes() != np.asarray(builtin).tobytes():
        differ = int(np.sum(np.asarray(ours) != np.asarray(builtin)))
        return f"{case}: {differ} of {ours.size} entries differ"
    return None


def _describe(result) -> str:
    return f"an error ({result.__name__})" if isinstance(result, type) else f"an array {result.dtype}{result.shape}"


def raises_alike(name: str, case: Case) -> bool:
    return isinstance(_call(_build(jax.nn.initializers, name, case.kwargs), case), type)


# ---- strategies with no twin: their defining properties ------------------------------------------

SAMPLE_SHAPE = (256, 256)  # 65,536 draws: stddev known to 0.3%, KS sees a 5% change of scale
STDDEV_RELATIVE_TOLERANCE = 0.015
KS_MIN_P_VALUE = 1e-3
PROPERTY_SEEDS = (0, 1, 2)


def _sample(init, seed: int, dtype=jnp.float32) -> np.ndarray:
    return np.asarray(init(jax.random.key(seed), SAMPLE_SHAPE, dtype), dtype=np.float64).ravel()


def check_distribution(init, reference: stats.rv_continuous, label: str, symmetric_bound: float | None = None,
                       seeds=PROPERTY_SEEDS) -> list[str]:
    """Mean, standard deviation and KS p-value of `init`'s draws against `reference` (frozen scipy law)."""
    failures = []
    for seed in seeds:
        draws = _sample(init, seed)
        standard_error = reference.std() / np.sqrt(draws.size)
        if abs(draws.mean() - reference.mean()) > 5 * standard_error:
            failures.append(f"{label} seed {seed}: mean {draws.mean():.3g}, expected {reference.mean():.3g}")
        if abs(draws.std() / reference.std() - 1) > STDDEV_RELATIVE_TOLERANCE:
            failures.append(f"{label} seed {seed}: stddev {draws.std():.4g}, expected {reference.std():.4g}")
        p_value = stats.kstest(draws, reference.cdf).pvalue
        if p_value < KS_MIN_P_VALUE:
            failures.append(f"{label} seed {seed}: KS p-value {p_value:.2g} < {KS_MIN_P_VALUE}")
        if symmetric_bound is not None and not (draws.min() >= -symmetric_bound and draws.max() < symmetric_bound):
            failures.append(f"{label} seed {seed}: draws outside [-{symmetric_bound}, {symmetric_bound})")
    return failures


def property_checks() -> dict[str, list[tuple[str, Callable[[], list[str]]]]]:
    """name -> [(what is checked, check)]: mean, stddev and KS test on 65,536 draws per seed; LSUV's variances."""
    return {
        "small_random": [("N(0, 0.01^2) x3 seeds", lambda: check_distribution(
            inits.small_random(), stats.norm(0, 0.01), "small_random"))],
        "random_normal": [(f"N(0, {s}^2) x3 seeds", lambda s=s: check_distribution(
            inits.random_normal(s), stats.norm(0, s), f"random_normal({s})")) for s in (1.0, 0.3)],
        "random_uniform": [(f"U[-{b}, {b}) x3 seeds", lambda b=b: check_distribution(
            inits.random_uniform(b), stats.uniform(-b, 2 * b), f"random_uniform({b})", symmetric_bound=b))
            for b in (1.0, 2.5)],
        "orthogonal": [("Q^T Q = I", check_orthonormal)],
        "lsuv": [("Var = 1 +- 0.1, 2 Conv + 2 Dense", check_lsuv_unit_variance),
                 ("same under jit(vmap), 3 runs", check_lsuv_under_jit_vmap)],
        "delta_orthogonal": [("strategy: Conv kernel 0 but an orthogonal centre, 1-3-D", check_delta_orthogonal_convs),
                             ("|conv(x)| = |x| at every position", check_delta_orthogonal_norm_preserving)],
        "fixup": [("branch ends and classifier exactly 0", check_fixup_zeros),
                  ("other branch kernels: std = He x L^(-1/(2m-2))", check_fixup_branch_std),
                  ("output = the no-branch path", check_fixup_output_is_shortcut_path),
                  ("no branch: NotResidualError", check_fixup_refuses_plain_net)],
        "zero_hadamard": [("same for every key, also vmapped", check_zero_hadamard_deterministic),
                          ("= Algorithm 1 (scipy Hadamard): square, expanding, shrinking", check_zero_hadamard_matrices),
                          ("Conv: 0 but the centre", check_zero_hadamard_convs)],
        "kraehenbuehl": [("per unit mean 0, Var 1, 2 Conv + 2 Dense", check_kraehenbuehl_unit_moments),
                         ("same under jit(vmap), 3 runs", check_kraehenbuehl_under_jit_vmap)],
        "mup": [("lr multipliers at width 64 and 256 = Table 3 (Adam, SGD)", check_mup_multipliers),
                ("Var = 1/fan_in, output base/fan_in^2; = lecun_normal at the base width", check_mup_init),
                ("not an MLP: NotMLPError", check_mup_refuses_cnn)],
    }


def orthonormality_error(kernel: jax.Array, column_axis: int = -1) -> float:
    """max |Q^T Q - I| (tall) or |Q Q^T - I| (wide) of the kernel as a matrix with columns on column_axis."""
    matrix = np.moveaxis(np.asarray(kernel, np.float64), column_axis, -1).reshape(-1, kernel.shape[column_axis])
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    return float(np.abs(gram - np.eye(gram.shape[0])).max())


def check_orthonormal(tolerance: float = 1e-5) -> list[str]:
    failures = []
    for shape, column_axis, seed in [((64, 64), -1, 0), ((7, 5), -1, 1), ((5, 7), -1, 2), ((3, 3, 4, 8), -1, 3),
                                     ((6, 10), 0, 4)]:
        kernel = inits.orthogonal(column_axis=column_axis)(jax.random.key(seed), shape)
        error = orthonormality_error(kernel, column_axis)
        if error > tolerance:
            failures.append(f"orthogonal{shape} column_axis={column_axis}: |Q^T Q - I| = {error:.2g}")
    return failures


# ---- LSUV ---------------------------------------------------------------------------------------

def layer_output_variances(model, variables, x) -> dict[str, float]:
    """Variance over all entries of each Dense/Conv output, by the layer's path."""
    _, state = model.apply(variables, x, capture_intermediates=lambda module, method: (
        method == "__call__" and isinstance(module, data_dependent.RESCALED_LAYERS)))
    flat = jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
    return {jax.tree_util.keystr(path): jnp.var(value) for path, value in flat}


def _conv_dense_net():
    """A Conv -> Conv -> Dense -> Dense net with orthogonal kernels, and a batch."""
    import flax.linen as nn

    class ConvDense(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3), kernel_init=inits.orthogonal())(x))
            x = nn.tanh(nn.Conv(8, (3, 3), strides=2, kernel_init=inits.orthogonal())(x))
            x = nn.relu(nn.Dense(32, kernel_init=inits.orthogonal())(x.reshape(x.shape[0], -1)))
            return nn.Dense(10, kernel_init=inits.orthogonal())(x)

    return ConvDense(), 3.0 * jax.random.normal(jax.random.key(7), (32, 8, 8, 3))


@functools.cache
def _lsuv_demo():
    """The Conv -> Conv -> Dense -> Dense net, its orthogonal params, and a batch."""
    model, x = _conv_dense_net()
    return model, model.init(jax.random.key(0), x), x


def _abstract_conv_dense_net():
    """The same net with shapes for params: all a refusal needs."""
    model, x = _conv_dense_net()
    return model, jax.eval_shape(model.init, jax.random.key(0), x), x


def check_lsuv_unit_variance(tol: float = 0.1) -> list[str]:
    model, variables, x = _lsuv_demo()
    variances = layer_output_variances(model, inits.lsuv(model, variables, x, tol=tol), x)
    failures = [f"{path}: Var = {float(v):.3f}" for path, v in variances.items() if abs(float(v) - 1) > tol]
    return failures or ([] if len(variances) == 4 else [f"expected 4 layers, found {len(variances)}"])


def check_lsuv_under_jit_vmap(tol: float = 0.1, runs: int = 3) -> list[str]:
    model, _, x = _lsuv_demo()

    def init_then_lsuv(key):
        return inits.lsuv(model, model.init(key, x), x, tol=tol)

    batched = jax.jit(jax.vmap(init_then_lsuv))(jax.random.split(jax.random.key(1), runs))
    failures = []
    for run in range(runs):
        variables = jax.tree.map(lambda leaf: leaf[run], batched)
        failures += [f"run {run} {path}: Var = {float(v):.3f}"
                     for path, v in layer_output_variances(model, variables, x).items() if abs(float(v) - 1) > tol]
    return failures


# ---- delta-orthogonal for convolutions (Xiao et al. 2018) ----------------------------------------

def check_delta_orthogonal_convs(tolerance: float = 1e-5) -> list[str]:
    """Conv kernels: zero but the spatial centre, which is orthonormal (the twin's bits when in <= out)."""
    failures = []
    init = inits.STRATEGIES["delta_orthogonal"].kernel_init
    for seed, shape in enumerate([(3, 4, 6), (3, 3, 4, 8), (2, 3, 3, 2, 5), (3, 3, 8, 4)]):
        kernel = np.array(init(jax.random.key(seed), shape))
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        if orthonormality_error(kernel[centre]) > tolerance:
            failures.append(f"{shape}: centre not orthonormal ({orthonormality_error(kernel[centre]):.2g})")
        kernel[centre] = 0
        if kernel.any():
            failures.append(f"{shape}: nonzero away from the centre")
        if shape[-2] <= shape[-1]:
            twin = inits.delta_orthogonal()(jax.random.key(seed), shape)
            if np.asarray(twin).tobytes() != np.asarray(init(jax.random.key(seed), shape)).tobytes():
                failures.append(f"{shape}: differs from the delta_orthogonal twin")
    for seed, shape in enumerate([(5, 7), (7, 5), (64, 64)]):
        error = orthonormality_error(init(jax.random.key(seed), shape))
        if error > tolerance:
            failures.append(f"Dense {shape}: |Q^T Q - I| = {error:.2g}")
    return failures


NORM_CASES = [(8, (3, 3), (2, 6, 6, 4)), (5, (3,), (3, 7, 5)), (6, (3, 3, 3), (1, 4, 4, 4, 2))]  # features, kernel, x


def check_delta_orthogonal_norm_preserving(tolerance: float = 1e-5, cases=NORM_CASES) -> list[str]:
    """A delta-orthogonal conv with in <= out maps each position's input vector to one of the same norm."""
    import flax.linen as nn

    failures = []
    for features, kernel_size, x_shape in cases:
        conv = nn.Conv(features, kernel_size, padding="SAME", use_bias=False,
                       kernel_init=inits.STRATEGIES["delta_orthogonal"].kernel_init)
        x = jax.random.normal(jax.random.key(features), x_shape)
        y = jax.jit(lambda key, x: conv.apply(conv.init(key, x), x))(jax.random.key(1), x)
        ratio = np.linalg.norm(np.asarray(y), axis=-1) / np.linalg.norm(np.asarray(x), axis=-1)
        if np.abs(ratio - 1).max() > tolerance:
            failures.append(f"conv {kernel_size} {x_shape[-1]}->{features}: |y|/|x| off 1 by {np.abs(ratio - 1).max():.2g}")
    return failures


# ---- Fixup (Zhang et al. 2019) ---------------------------------------------------------------------

@functools.cache
def _residual_demo():
    """A residual MLP: stem Dense, 3 branches of 2 Dense (the last after a projection), Dense classifier; He kernels.

    Dense, not Conv: the property does not care, and CPU compiles of convolutions are slow
    (tests/inits/test_fixup.py holds a convolutional block too).
    """
    import flax.linen as nn

    kernel_init = inits.STRATEGIES["fixup"].kernel_init

    class DenseBranch(residual.ResidualBranch):
        width: int

        @nn.compact
        def __call__(self, x):
            dense = lambda: nn.Dense(self.width, kernel_init=kernel_init)
            x = nn.relu(residual.Bias()(dense()(residual.Bias()(x))))
            return residual.Bias()(residual.Scale()(dense()(residual.Bias()(x))))

    class ResidualMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(64, kernel_init=kernel_init)(x))
            for width in (64, 64, 128):
                shortcut = x if x.shape[-1] == width else nn.Dense(width, kernel_init=kernel_init)(x)
                x = nn.relu(shortcut + DenseBranch(width)(x))
            return nn.Dense(10, kernel_init=kernel_init)(residual.Bias()(x))

    model = ResidualMLP()
    x = jax.random.normal(jax.random.key(5), (16, 20))
    return model, jax.jit(model.init)(jax.random.key(0), x), x


def check_fixup_zeros(model=None, variables=None, x=None) -> list[str]:
    if model is None:
        model, variables, x = _residual_demo()
    fixed = inits.fixup(model, variables, x)["params"]
    ends = [layers[-1] for layers in inits.find_residual_branches(model, variables, x)]
    classifier = data_dependent.find_layers(model, variables, x)[-1][0]
    return [f"{'/'.join(path)}: kernel not zero" for path in ends + [classifier]
            if np.asarray(data_dependent.get_at(fixed, path)["kernel"]).any()]


def check_fixup_branch_std(model=None, variables=None, x=None) -> list[str]:
    """Every branch layer but the last: std = sqrt(2 / fan_in) L^(-1/(2m-2)) within 5 standard errors."""
    if model is None:
        model, variables, x = _residual_demo()
    fixed = inits.fixup(model, variables, x)["params"]
    branches = inits.find_residual_branches(model, variables, x)
    failures = []
    for layers in branches:
        for path in layers[:-1]:
            kernel = np.asarray(data_dependent.get_at(fixed, path)["kernel"], np.float64)
            fan_in = kernel.size // kernel.shape[-1]
            expected = np.sqrt(2 / fan_in) * residual.fixup_branch_scale(len(branches), len(layers))
            # std of n draws is known to about 1/sqrt(2n) relative (a truncated normal does better)
            if abs(kernel.std() / expected - 1) > 5 / np.sqrt(2 * kernel.size):
                failures.append(f"{'/'.join(path)}: std {kernel.std():.4g}, expected {expected:.4g}")
    return failures


def final_layer_input(model, variables, x, without_branches: bool = False) -> jax.Array:
    """What the last Dense/Conv receives; without_branches: with every ResidualBranch's output replaced by 0."""
    import flax.linen as nn

    classifier = data_dependent.find_layers(model, variables, x)[-1][0]
    captured = []

    def intercept(next_fun, args, kwargs, context):
        if without_branches and context.method_name == "__call__" and isinstance(context.module, residual.ResidualBranch):
            return jax.tree.map(jnp.zeros_like, next_fun(*args, **kwargs))
        if data_dependent.is_layer_call(context) and tuple(context.module.scope.path) == classifier and not captured:
            captured.append(args[0])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(intercept):
        model.apply(variables, x)
    return captured[0]


def check_fixup_output_is_shortcut_path(model=None, variables=None, x=None) -> list[str]:
    """At init every branch adds exactly 0: the classifier sees what the net computes without its branches."""
    if model is None:
        model, variables, x = _residual_demo()
    fixed = inits.fixup(model, variables, x)
    # jit: one compile per pass rather than one per operation (convolutions compile slowly on CPU)
    with_branches, without, output = (np.asarray(a) for a in jax.jit(lambda fixed, x: (
        final_layer_input(model, fixed, x), final_layer_input(model, fixed, x, without_branches=True),
        model.apply(fixed, x)))(fixed, x))
    if not np.abs(without).any():
        return ["the shortcut path carries no signal: the check would be vacuous"]
    if not np.array_equal(with_branches, without):
        return [f"classifier input differs from the no-branch path by {np.abs(with_branches - without).max():.2g}"]
    if output.any():
        return ["output not zero with a zero classifier"]
    return []


def check_fixup_refuses_plain_net() -> list[str]:
    model, variables, x = _abstract_conv_dense_net()
    try:
        inits.fixup(model, variables, x)
    except inits.NotResidualError as error:
        return [] if "\n" not in str(error) and "ConvDense" in str(error) else [f"message not one line naming the model: {error}"]
    return ["fixup accepted a net with no residual branch"]


# ---- ZerO (Zhao et al. 2022) -----------------------------------------------------------------------

def check_zero_hadamard_deterministic() -> list[str]:
    init = inits.STRATEGIES["zero_hadamard"].kernel_init
    failures = []
    for shape in [(4, 4), (3, 6), (6, 3), (3, 3, 2, 5)]:
        first = np.asarray(init(jax.random.key(0), shape))
        others = [init(jax.random.key(7), shape), init(jax.random.PRNGKey(3), shape),
                  *jax.vmap(lambda key: init(key, shape))(jax.random.split(jax.random.key(1), 3))]
        if not all(np.array_equal(first, np.asarray(other)) for other in others):
            failures.append(f"{shape}: depends on the key")
    return failures


def zero_expected(n_in: int, n_out: int) -> np.ndarray:
    """Algorithm 1 spelled out with scipy's Hadamard matrix, as a Flax (in, out) kernel."""
    from scipy.linalg import hadamard

    if n_out <= n_in:  # P <= Q: (partial) identity, W = I* (P x Q), kernel = W^T
        return np.eye(n_out, n_in).T
    m = int(np.ceil(np.log2(n_out)))
    w = 2.0 ** (-(m - 1) / 2) * np.eye(n_out, 2 ** m) @ hadamard(2 ** m) @ np.eye(2 ** m, n_in)
    return w.T


def check_zero_hadamard_matrices() -> list[str]:
    init = inits.STRATEGIES["zero_hadamard"].kernel_init
    failures = []
    for n_in, n_out in [(4, 4), (1, 1), (6, 4), (9, 2), (3, 6), (2, 8), (5, 16), (5, 17), (1, 3)]:
        kernel = np.asarray(init(jax.random.key(0), (n_in, n_out)), np.float64)
        expected = zero_expected(n_in, n_out)
        if kernel.shape != expected.shape or np.abs(kernel - expected).max() > 1e-7:
            failures.append(f"({n_in}, {n_out}): not Algorithm 1's matrix")
    return failures


def check_zero_hadamard_convs() -> list[str]:
    init = inits.STRATEGIES["zero_hadamard"].kernel_init
    failures = []
    for shape in [(3, 4, 6), (3, 3, 2, 5), (3, 3, 6, 2), (2, 3, 3, 3, 3), (4, 4, 2, 2)]:
        kernel = np.array(init(jax.random.key(0), shape), np.float64)
        centre = tuple(k // 2 for k in shape[:-2])
        if np.abs(kernel[centre] - zero_expected(*shape[-2:])).max() > 1e-7:
            failures.append(f"{shape}: centre is not Algorithm 1's matrix")
        kernel[centre] = 0
        if kernel.any():
            failures.append(f"{shape}: nonzero away from the centre")
    return failures


# ---- Kraehenbuehl et al. 2016 ----------------------------------------------------------------------

def unit_moments(model, variables, x) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per output unit of each Dense/Conv: (mean, variance) of its pre-activation over batch and positions."""
    _, state = model.apply(variables, x, capture_intermediates=lambda module, method: (
        method == "__call__" and isinstance(module, data_dependent.RESCALED_LAYERS)))
    flat = jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
    moments = {}
    for path, value in flat:
        value = np.asarray(value, np.float64).reshape(-1, value.shape[-1])
        moments[jax.tree_util.keystr(path)] = (value.mean(axis=0), value.var(axis=0))
    return moments


def unit_moment_failures(moments, label: str = "", mean_tol: float = 1e-4, var_tol: float = 1e-3) -> list[str]:
    """What departs from mean 0, variance 1 in `moments` (path -> (mean, variance)), one line each."""
    failures = []
    for path, (mean, variance) in moments.items():
        if np.abs(mean).max() > mean_tol or np.abs(variance - 1).max() > var_tol:
            failures.append(f"{label}{path}: unit means up to {np.abs(mean).max():.2g}, "
                            f"variances off 1 by up to {np.abs(variance - 1).max():.2g}")
    return failures


def check_kraehenbuehl_unit_moments() -> list[str]:
    model, variables, x = _lsuv_demo()
    moments = unit_moments(model, inits.kraehenbuehl(model, variables, x), x)
    return unit_moment_failures(moments) or ([] if len(moments) == 4 else [f"expected 4 layers, found {len(moments)}"])


def check_kraehenbuehl_under_jit_vmap(runs: int = 3) -> list[str]:
    model, _, x = _lsuv_demo()
    batched = jax.jit(jax.vmap(lambda key: inits.kraehenbuehl(model, model.init(key, x), x)))(
        jax.random.split(jax.random.key(1), runs))
    failures = []
    for run in range(runs):
        variables = jax.tree.map(lambda leaf: leaf[run], batched)
        failures += unit_moment_failures(unit_moments(model, variables, x), f"run {run} ")
    return failures


# ---- muP (Yang et al. 2021) ------------------------------------------------------------------------

def _mlp_demo(width: int, depth: int = 2, kernel_init=None, abstract: bool = False):
    """An MLP 20 -> width x depth -> 10 (ReLU), a batch and its LeCun params (abstract: shapes only)."""
    import flax.linen as nn

    kernel_init = kernel_init or inits.lecun_normal()

    class WidthMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(depth):
                x = nn.relu(nn.Dense(width, kernel_init=kernel_init)(x))
            return nn.Dense(10, kernel_init=kernel_init)(x)

    model = WidthMLP()
    x = jax.random.normal(jax.random.key(2), (4, 20))
    key = jax.random.key(0)
    return model, jax.eval_shape(model.init, key, x) if abstract else jax.jit(model.init)(key, x), x


# Table 3 relative to the base width B = 64, by hand: (kernel, bias) multiplier per layer.
MUP_EXPECTED_MULTIPLIERS = {
    # width: {rule: [input, hidden, output]}
    64: {"adam": [(1, 1), (1, 1), (1, 1)], "sgd": [(1, 1), (1, 1), (1, 1)]},
    256: {"adam": [(1, 1), (1 / 4, 1), (1 / 4, 1)], "sgd": [(4, 4), (1, 4), (1 / 4, 1)]},
}


def check_mup_multipliers() -> list[str]:
    failures = []
    for width, by_rule in MUP_EXPECTED_MULTIPLIERS.items():
        model, variables, x = _mlp_demo(width, abstract=True)  # multipliers are a function of shapes
        for rule, expected in by_rule.items():
            multipliers = mup.mup_lr_multipliers(model, variables, x, rule, base_width=64)
            got = [(multipliers[f"Dense_{i}"]["kernel"], multipliers[f"Dense_{i}"]["bias"]) for i in range(3)]
            if not np.allclose(got, expected, rtol=1e-12):
                failures.append(f"width {width} {rule}: {got}, expected {expected}")
    return failures


def check_mup_init() -> list[str]:
    failures = []
    strategy = mup.mup_strategy(base_width=64)
    model, variables, x = _mlp_demo(256, kernel_init=strategy.kernel_init)
    params = strategy.post_init(model, variables, x)["params"]
    for index, fan_in, variance in [(0, 20, 1 / 20), (1, 256, 1 / 256), (2, 256, 64 / 256 ** 2)]:
        kernel = np.asarray(params[f"Dense_{index}"]["kernel"], np.float64)
        if abs(kernel.std() / np.sqrt(variance) - 1) > 5 / np.sqrt(2 * kernel.size):
            failures.append(f"Dense_{index} (fan_in {fan_in}): std {kernel.std():.4g}, expected {np.sqrt(variance):.4g}")
    model, variables, x = _mlp_demo(64, kernel_init=strategy.kernel_init)
    at_base = strategy.post_init(model, variables, x)
    if not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(at_base), jax.tree.leaves(variables))):
        failures.append("at the base width muP differs from its LeCun init")
    return failures


def check_mup_refuses_cnn() -> list[str]:
    model, variables, x = _abstract_conv_dense_net()
    try:
        inits.STRATEGIES["mup"].post_init(model, variables, x)
    except mup.NotMLPError as error:
        return [] if "\n" not in str(error) and "Conv" in str(error) else [f"message not one line naming Conv: {error}"]
    return ["mup accepted a CNN"]


SHORT_REFERENCES = {
    "glorot": "Glorot & Bengio 2010", "xavier": "Glorot & Bengio 2010", "he": "He et al. 2015",
    "kaiming": "He et al. 2015", "lecun": "LeCun et al. 1998", "variance_scaling": "He et al. 2015 (general form)",
    "orthogonal": "Saxe et al. 2014", "delta_orthogonal": "Xiao et al. 2018", "small_random": "Glorot & Bengio 2010",
    "uniform": "- (U[0, scale): not symmetric)", "lsuv": "Mishkin & Matas 2016",
    "fixup": "Zhang et al. 2019", "zero_hadamard": "Zhao et al. 2022", "kraehenbuehl": "Kraehenbuehl et al. 2016",
    "mup": "Yang et al. 2021",
}


def short_reference(name: str) -> str:
    """The paper behind `name` in a table cell; "-" for plain distributions."""
    if name in SHORT_REFERENCES:
        return SHORT_REFERENCES[name]
    return SHORT_REFERENCES.get(name.split("_")[0], "-")
