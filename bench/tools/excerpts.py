"""`python -m bench readme [--check]`: the README's quotes of the committed results, written by code.

Every number the README quotes from a run lives between two markers,

    <!-- excerpt: NAME -->
    ...
    <!-- /excerpt -->

and is made by EXCERPTS[NAME] from the committed files under `results/reference/` (the console
tables as `python -m bench` prints them, the MNIST-1D and muP tables): never typed. `readme`
rewrites them after the reference results are regenerated; `readme --check` (and a test) says
which excerpts no longer match their files.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Callable

from bench.errors import UsageError

REFERENCE = Path("results") / "reference"
MARKER = re.compile(r"(<!-- excerpt: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /excerpt -->)", re.S)


def _load(root: Path, name: str) -> dict:
    from bench.results.document import load_results

    return load_results(str(root / REFERENCE / name))


def _console_text(render: Callable) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, force_terminal=False)
    render(console)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def default_run(root: Path) -> str:
    """What `python -m bench` printed for the committed default run."""
    from bench.analysis.tables import print_tables

    results = _load(root, "default.json")
    tables = _console_text(lambda console: print_tables(results, console))
    return f"```text\n$ python -m bench\n{tables}\n```\n"


def tune_run(root: Path) -> str:
    """The chosen configurations of the committed search."""
    from bench.analysis.search import chosen_table

    results = _load(root, "tune-digits-mlp.json")
    argv = " ".join(results["meta"]["argv"][1:])
    table = _console_text(lambda console: console.print(chosen_table(results)))
    return f"```text\n$ python -m bench {argv}\n{table}\n```\n"


MNIST1D_MODELS = (("mnist1d-linear", "logistic regression"), ("mnist1d-mlp", "MLP"),
                  ("mnist1d-cnn", "CNN"), ("mnist1d-gru", "GRU"),
                  ("mnist1d-shuffled-mlp", "MLP, shuffled"), ("mnist1d-shuffled-cnn", "CNN, shuffled"))


def mnist1d_table(root: Path) -> str:
    """Test accuracy of the committed mnist1d run beside the paper's, per model."""
    from bench.records.queries import chosen_rows
    from bench.tasks import TASKS

    results = _load(root, "mnist1d.json")
    lines = ["| model | paper | this suite | 95% bootstrap CI (seeds) |", "|---|---|---|---|"]
    for task, label in MNIST1D_MODELS:
        rows = list(chosen_rows(results, "evaluation", task).values())
        if not rows:
            continue
        row = rows[0]
        low, high = row.get("test_accuracy_ci95") or (None, None)
        interval = "" if low is None else f"[{100 * low:.1f}, {100 * high:.1f}]"
        paper = TASKS[task].published_accuracy
        lines.append(f"| {label} | {100 * paper:.0f} | {100 * row['test_accuracy_mean']:.1f} | {interval} |")
    return "\n".join(lines) + "\n\n"


def mup_table(root: Path) -> str:
    """Each width's best learning rate per parametrization in the committed mup run."""
    from bench.analysis import mup

    headers, rows = mup.table(_load(root, "mup.json"))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"


EXCERPTS: dict[str, Callable[[Path], str]] = {
    "default-run": default_run, "tune-run": tune_run, "mnist1d-table": mnist1d_table,
    "mup-table": mup_table,
}


def rewritten(text: str, root: Path) -> tuple[str, list[str]]:
    """The README with every excerpt made anew, and the names of those that changed."""
    changed = []

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in EXCERPTS:
            raise UsageError(f"README: unknown excerpt '{name}'; known: {', '.join(EXCERPTS)}")
        body = EXCERPTS[name](root)
        if body != match.group("body"):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return MARKER.sub(replace, text), changed


def readme(path: str = "README.md", check: bool = False) -> int:
    """Rewrite (or, with `check`, compare) the excerpts of the README at `path`; exit code."""
    from bench.results.files import atomic_write

    readme_path = Path(path)
    if not readme_path.is_file():
        raise UsageError(f"readme: no such file '{path}'")
    text = readme_path.read_text(encoding="utf-8")
    new, changed = rewritten(text, readme_path.resolve().parent)
    if check:
        print("README excerpts match results/reference" if not changed
              else f"README excerpts out of date: {', '.join(changed)} (run `python -m bench readme`)")
        return 1 if changed else 0
    if changed:
        atomic_write(str(readme_path), new)
    print(f"rewrote {len(changed)} excerpt(s): {', '.join(changed)}" if changed else "README excerpts up to date")
    return 0
