"""`python -m bench verify [all|inits|optimizers]`: the hand-written pieces against their twins.

inits: every hand-written initializer against its `jax.nn.initializers` twin, bit for bit on every
case of `inits.conformance.twin_cases` (dense and 1-D/2-D/3-D conv kernels, other in/out/batch
axes, float32/bfloat16/float16/complex64/default dtype, raw and typed keys, plain and vmapped);
where the built-in itself raises (no half-precision QR), the twin must raise the same error. The
rest are checked by property (`inits.conformance.property_checks`).

--optimizer SPEC --against NAME / --init SPEC --against NAME: a researcher's own implementation
(any name or `PATH.py:NAME` that `bench.plugins` resolves) against the reference NAME, by the
same comparison (`verify_optimizer_against`, `verify_init_against`).

optimizers: every optimizer and setting against optax, step by step; the comparison itself (what
is run, what "relative difference" means, the bars) lives in `optimizers.agreement`, shared with
the tests. Exit code 0 when every row passes, else 1.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.console import output_console
from bench.errors import UsageError

from inits import conformance
from optimizers import agreement


def verify(what: str = "all") -> int:
    ok = True
    if what in ("all", "inits"):
        ok &= verify_inits()
    if what in ("all", "optimizers"):
        ok &= verify_optimizers()
    return 0 if ok else 1


def _twin_row(name: str, extra_checks) -> tuple[str, str, bool]:
    cases = conformance.twin_cases(name)
    failures = [f for f in (conformance.compare_with_builtin(name, case) for case in cases) if f]
    raising = sum(conformance.raises_alike(name, case) for case in cases)
    tried = f"{len(cases)}" + (f" ({raising} raise alike)" if raising else "")
    extra_failures = [f for _, check in extra_checks for f in check()]
    if failures or extra_failures:
        return tried, f"{len(failures)} differ: {(failures + extra_failures)[0]}", False
    extra = "".join(f"; {what} holds" for what, _ in extra_checks)
    return tried, f"bit-identical{extra}", True


def _property_row(checks) -> tuple[str, str, bool]:
    failures = [f for _, check in checks for f in check()]
    tried = "; ".join(what for what, _ in checks)
    return tried, ("property holds" if not failures else f"FAILED: {failures[0]}"), not failures


def verify_inits(console: Console | None = None) -> bool:
    """Print the table; True when every row passes."""
    console = console or output_console()
    properties = conformance.property_checks()
    table = Table(title="inits: hand-written initializers vs jax.nn.initializers", show_lines=False)
    for column in ("initializer", "reference", "cases tried", "result"):
        table.add_column(column, overflow="fold")
    ok = True
    with console.status("checking initializers, about a minute (compiling jax.random samplers takes most of the time)..."):
        for name in conformance.TWIN_NAMES + [n for n in properties if n not in conformance.TWIN_NAMES]:
            if name in conformance.TWIN_NAMES:
                tried, result, passed = _twin_row(name, properties.get(name, []))
            else:
                tried, result, passed = _property_row(properties[name])
            ok &= passed
            style = "green" if passed else "bold red"
            table.add_row(name, conformance.short_reference(name), tried, f"[{style}]{result}[/{style}]")
    console.print(table)
    console.print("[green]all initializers verified[/green]" if ok else "[bold red]some initializers FAILED[/bold red]")
    return ok


def _verdict(row32: agreement.Agreement, row64: agreement.Agreement) -> str:
    problems = []
    for row in (row32, row64):
        if not row.dtypes_match:
            problems.append(f"{row.dtype}: update dtypes differ")
        elif row.vacuous:
            problems.append(f"{row.dtype}: vacuous (optax's updates zero on {row.steps - row.active_steps} steps)")
        elif row.difference > agreement.BARS[row.dtype]:
            problems.append(f"{row.dtype}: {row.difference:.1e} > {agreement.BARS[row.dtype]:.0e}")
    if problems:
        return "[bold red]FAIL[/] " + "; ".join(problems)
    return "[green]pass[/]" + (f" ({row32.case.note})" if row32.case.note else "")


def verify_optimizers(console: Console | None = None) -> bool:
    """Print the agreement table; True when every row is within both bars."""
    console = console or output_console()
    cases = agreement.build_cases()
    with console.status("running every optimizer against optax in float32 and float64..."):
        rows32 = agreement.compare_many(cases, "float32")
        rows64 = agreement.compare_many(cases, "float64")
    table = Table(
        title=f"optimizers vs optax: {agreement.STEPS} steps on random parameter trees and gradient streams",
        caption=(
            "max relative difference = max over steps, leaves, updates and parameters of "
            "max|ours - optax| / max|optax| (per leaf, max norm; 0 = bit-identical); "
            f"bars: float32 {agreement.BARS['float32']:.0e}, float64 {agreement.BARS['float64']:.0e}"
        ),
    )
    for column in ("optimizer", "reference", "hyperparameters", "steps"):
        table.add_column(column)
    table.add_column("max rel. diff\nfloat32", justify="right")
    table.add_column("max rel. diff\nfloat64", justify="right")
    table.add_column("verdict")
    ok = True
    for row32, row64 in zip(rows32, rows64):
        case = row32.case
        ok &= row32.passed and row64.passed
        table.add_row(
            case.optimizer,
            case.reference_name,
            case.hyperparams,
            str(row32.steps),
            f"{row32.difference:.1e}",
            f"{row64.difference:.1e}",
            _verdict(row32, row64),
        )
    console.print(table)
    failed = sum(not (a.passed and b.passed) for a, b in zip(rows32, rows64))
    console.print(f"{len(cases) - failed}/{len(cases)} settings agree with optax" + ("" if ok else f"; {failed} FAILED"))
    return ok


# ---------------------------------------------------------------------------------------------
# A researcher's own implementation against a reference: verify --optimizer/--init SPEC --against


AGAINST_LEARNING_RATES = (1e-3, 1e-1)


def optimizer_reference(name: str) -> tuple[str, Callable, dict]:
    """(label, factory, fixed hyperparameters) of the reference NAME: a built-in optimizer's
    optax twin with the suite's settings (momentum is optax.sgd with momentum=0.9), or an optax
    alias by its name (optax.adam)."""
    import optax

    from bench.suite.config import check_name
    from optimizers import OPTIMIZERS

    if name in OPTIMIZERS:
        spec = OPTIMIZERS[name]
        reference = spec.optax_reference
        return _reference_label(reference), reference, dict(spec.hyperparams)
    alias = getattr(optax, name, None)
    if callable(alias) and not isinstance(alias, type):
        return f"optax.{name}", alias, {}
    check_name("optimizer reference (a built-in name or an optax alias)", name, list(OPTIMIZERS))
    raise AssertionError("unreachable")  # check_name raised


def _reference_label(reference: Callable) -> str:
    """"optax.adam"; a functools.partial (nadam: optax.adam with nesterov=True) by its function
    and its fixed arguments, "optax.adam(nesterov=True)"."""
    import functools

    if isinstance(reference, functools.partial):
        fixed = ", ".join(f"{key}={value!r}" for key, value in reference.keywords.items())
        return f"{_reference_label(reference.func)}({fixed})"
    module = getattr(reference, "__module__", None) or "optax"
    return f"{module.split('.')[0]}.{getattr(reference, '__name__', type(reference).__name__)}"


def parse_hyperparams(text: str | None) -> dict[str, Any]:
    """`--hyperparams k=v,k=v` -> {k: number or True/False}."""
    values: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        if not key.strip() or not value.strip():
            raise UsageError(f"--hyperparams takes k=v pairs like momentum=0.9,nesterov=true, got '{item}'")
        lowered = value.strip().lower()
        try:
            values[key.strip()] = {"true": True, "false": False}[lowered] if lowered in ("true", "false") \
                else float(value)
        except ValueError:
            raise UsageError(f"--hyperparams {key.strip()}: '{value}' is not a number") from None
    return values


def against_cases(name: str, factory: Callable, fixed: dict, label: str, reference: Callable,
                  reference_fixed: dict, hyperparams: dict) -> list[agreement.Case]:
    """The rows of a researcher's optimizer against a reference: two learning rates on the
    real problem, and the first on the complex one where the reference takes complex
    parameters."""
    shown = ", ".join(f"{k}={v}" for k, v in hyperparams.items())
    cases = []
    for complex_parameters in (False, True):
        for lr in AGAINST_LEARNING_RATES[:1] if complex_parameters else AGAINST_LEARNING_RATES:
            cases.append(agreement.Case(
                optimizer=name, reference_name=label,
                hyperparams=("complex: " if complex_parameters else "") + f"lr={lr:g}" + (f", {shown}" if shown else ""),
                ours=lambda lr=lr: factory(learning_rate=lr, **{**fixed, **hyperparams}),
                reference=lambda lr=lr: reference(learning_rate=lr, **{**reference_fixed, **hyperparams}),
                complex_parameters=complex_parameters))
    return [case for case in cases if not case.complex_parameters or _takes_complex(case.reference)]


def _takes_complex(make_reference: Callable) -> bool:
    import jax

    params, gradients = agreement.random_problem(0, np.complex64, 2)
    try:
        transformation = make_reference()
        first = jax.tree.map(lambda g: g[1], gradients)
        jax.eval_shape(lambda g: transformation.update(g, transformation.init(params), params)[0], first)
    except Exception:  # noqa: BLE001 - a reference that cannot take complex parameters
        return False
    return True


def first_difference(case: agreement.Case, dtype: str) -> str:
    """Where a failing row first leaves its bar: the step and the leaf (updates, then params)."""
    import jax
    import jax.numpy as jnp

    bar = agreement.BARS[dtype]
    with jax.enable_x64(dtype == "float64"):
        problem_dtype = agreement.COMPLEX_DTYPES[dtype] if case.complex_parameters else dtype
        params, gradients = agreement.random_problem(0, jnp.dtype(problem_dtype))
        ours_updates, ref_updates, ours_params, ref_params = jax.device_get(jax.jit(
            lambda p, g: agreement.trajectories(case.ours(), case.reference(), p, g,
                                                case.reference_sign))(params, gradients))
    found = []
    for order, (what, ours, reference) in enumerate((("updates", ours_updates, ref_updates),
                                                     ("params", ours_params, ref_params))):
        leaves = jax.tree_util.tree_flatten_with_path(reference)[0]
        for (path, ref_leaf), our_leaf in zip(leaves, jax.tree.leaves(ours)):
            error = agreement.relative_difference([our_leaf], [ref_leaf])
            over = np.flatnonzero(~(error <= bar))
            if over.size:  # the earliest step; at one step, an update before a parameter
                found.append((int(over[0]), order, f"{what}{jax.tree_util.keystr(path)}",
                              float(error[over[0]])))
    if not found:
        return "no step over the bar (update dtypes differ)"
    step, _, leaf, error = min(found)
    return f"first differs at step {step}, leaf {leaf}: relative difference {error:.2e} > {bar:.0e}"


def verify_optimizer_against(spec: str, against: str, hyperparams: str | None = None,
                             console: Console | None = None) -> int:
    """A researcher's optimizer (any spec `bench.plugins` takes) against the optax reference of
    `against`, step by step as the built-ins are checked: 0 when every row agrees in float32
    and float64, else 1 with the first differing step and leaf."""
    from bench import plugins
    from optimizers import OPTIMIZERS

    console = console or output_console()
    resolved = plugins.resolve("optimizer", spec, OPTIMIZERS)
    label, reference, reference_fixed = optimizer_reference(against)
    values = parse_hyperparams(hyperparams)
    cases = against_cases(resolved.name, resolved.obj.factory, dict(resolved.obj.hyperparams), label,
                          reference, reference_fixed, values)
    try:
        rows32 = agreement.compare_many(cases, "float32")
        rows64 = agreement.compare_many(cases, "float64")
    except Exception as error:  # noqa: BLE001 - the user's code, reported in one line
        raise UsageError(f"optimizer {spec} failed against {label}: {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}") from None
    return _print_against(console, f"{spec} vs {label}", rows32, rows64)


def _print_against(console: Console, title: str, rows32, rows64) -> int:
    table = Table(title=f"{title}: {agreement.STEPS} steps on random parameter trees and gradient streams")
    for column in ("hyperparameters", "max rel. diff float32", "max rel. diff float64", "verdict"):
        table.add_column(column)
    failures = []
    for row32, row64 in zip(rows32, rows64):
        table.add_row(row32.case.hyperparams, f"{row32.difference:.1e}", f"{row64.difference:.1e}",
                      _verdict(row32, row64))
        for row in (row32, row64):
            if not row.passed and row.dtypes_match and not row.vacuous:
                failures.append(f"{row.case.hyperparams} ({row.dtype}): {first_difference(row.case, row.dtype)}")
            elif not row.passed:
                failures.append(f"{row.case.hyperparams} ({row.dtype}): {_verdict(row, row)}")
    console.print(table)
    if failures:
        console.print(f"[bold red]DIFFERS[/] {failures[0]}")
        return 1
    console.print(f"[green]agrees[/]: {len(rows32)} settings within float32 {agreement.BARS['float32']:.0e} "
                  f"and float64 {agreement.BARS['float64']:.0e} over {agreement.STEPS} steps")
    return 0


def init_reference(name: str) -> tuple[str, Callable]:
    """The jax.nn.initializers twin NAME (he_normal, orthogonal, ...), built at its defaults."""
    import jax

    from bench.suite.config import check_name

    check_name("initializer reference (a jax.nn.initializers twin)", name, conformance.TWIN_NAMES)
    member = getattr(jax.nn.initializers, name)
    return f"jax.nn.initializers.{name}", member if name in conformance.NOT_FACTORIES else member()


def verify_init_against(spec: str, against: str, console: Console | None = None) -> int:
    """A researcher's initializer against the jax twin `against`, bit for bit over the suite's
    shapes, dtypes and key kinds: 0 when every case agrees, else 1 with the first that differs."""
    from bench import plugins
    from inits import STRATEGIES

    console = console or output_console()
    resolved = plugins.resolve("init", spec, STRATEGIES)
    label, reference = init_reference(against)
    cases = conformance.against_cases()
    try:
        failures = [f for f in (conformance.compare_initializers(resolved.obj.kernel_init, reference, case)
                                for case in cases) if f]
    except Exception as error:  # noqa: BLE001 - the user's code, reported in one line
        raise UsageError(f"init {spec} failed against {label}: {type(error).__name__}: {error}") from None
    if failures:
        console.print(f"[bold red]DIFFERS[/] {spec} vs {label}: {len(failures)} of {len(cases)} cases; "
                      f"first: {failures[0]}")
        return 1
    console.print(f"[green]agrees[/]: {spec} is bit-identical to {label} on {len(cases)} cases "
                  "(shapes, dtypes, key kinds, vmapped)")
    return 0
