"""The checks behind `python -m bench verify inits` and tests/inits: one case generator, one judge.

Twins of `jax.nn.initializers` must give the same bytes as the built-in for the same key, shape,
dtype and arguments (or raise the same exception type where the built-in cannot, e.g. a
half-precision QR). Strategies with no twin are judged by their defining property (moments and
a Kolmogorov-Smirnov test at fixed seeds, so a verdict never flickers).
Each check returns a list of failure messages: empty means it holds.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import inits
from inits import data_dependent, fan_scaling, orthogonal_kernels

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
    ours = _call(_build(inits, name, case.kwargs), case)
    builtin = _call(_build(jax.nn.initializers, name, case.kwargs), case)
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


def _lsuv_demo():
    """A Conv -> Conv -> Dense -> Dense net, its orthogonal params, and a batch."""
    import flax.linen as nn

    class ConvDense(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3), kernel_init=inits.orthogonal())(x))
            x = nn.tanh(nn.Conv(8, (3, 3), strides=2, kernel_init=inits.orthogonal())(x))
            x = nn.relu(nn.Dense(32, kernel_init=inits.orthogonal())(x.reshape(x.shape[0], -1)))
            return nn.Dense(10, kernel_init=inits.orthogonal())(x)

    model = ConvDense()
    x = 3.0 * jax.random.normal(jax.random.key(7), (32, 8, 8, 3))
    return model, model.init(jax.random.key(0), x), x


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


SHORT_REFERENCES = {
    "glorot": "Glorot & Bengio 2010", "xavier": "Glorot & Bengio 2010", "he": "He et al. 2015",
    "kaiming": "He et al. 2015", "lecun": "LeCun et al. 1998", "variance_scaling": "He et al. 2015 (general form)",
    "orthogonal": "Saxe et al. 2014", "delta_orthogonal": "Xiao et al. 2018", "small_random": "Glorot & Bengio 2010",
    "uniform": "- (U[0, scale): not symmetric)", "lsuv": "Mishkin & Matas 2016",
}


def short_reference(name: str) -> str:
    """The paper behind `name` in a table cell; "-" for plain distributions."""
    if name in SHORT_REFERENCES:
        return SHORT_REFERENCES[name]
    return SHORT_REFERENCES.get(name.split("_")[0], "-")
