"""`python -m bench verify optimizers`: the hand-written optimizers against optax, step by step.

One row per optimizer and setting; the comparison itself (what is run, what "relative
difference" means, the bars) lives in `optimizers.agreement`, shared with the tests.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from optimizers import agreement


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
    console = console or Console()
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
