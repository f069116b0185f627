"""`python -m bench verify [all|inits|optimizers]`: the hand-written pieces against their twins.

inits: every hand-written initializer against its `jax.nn.initializers` twin, bit for bit on every
case of `inits.conformance.twin_cases` (dense and 1-D/2-D/3-D conv kernels, other in/out/batch
axes, float32/bfloat16/float16/complex64/default dtype, raw and typed keys, plain and vmapped);
where the built-in itself raises (no half-precision QR), the twin must raise the same error. The
rest are checked by property (`inits.conformance.property_checks`).

optimizers: every optimizer and setting against optax, step by step; the comparison itself (what
is run, what "relative difference" means, the bars) lives in `optimizers.agreement`, shared with
the tests. Exit code 0 when every row passes, else 1.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bench.console import output_console

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
