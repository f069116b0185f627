"""`python -m bench verify inits`: every hand-written initializer against its twin or its defining property.

One row per initializer. Twins of `jax.nn.initializers` must match bit for bit on every case of
`inits.conformance.twin_cases` (dense and 1-D/2-D/3-D conv kernels, other in/out/batch axes,
float32/bfloat16/float16/complex64/default dtype, raw and typed keys, plain and vmapped); where
the built-in itself raises (no half-precision QR), the twin must raise the same error. The rest
are checked by property (`inits.conformance.property_checks`). The same checks back tests/inits.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from inits import conformance


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
    console = console or Console()
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
