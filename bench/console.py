"""The one console helper: where the suite's rich tables and progress bars go, and how wide.

A table printed to a terminal fits the terminal; piped or captured (a file, CI, a test), there
is no width to fit, so rows are kept whole at `PIPED_WIDTH` columns instead of being folded
into a column of single characters.
"""
from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 200


def output_console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A console for tables on stdout (or stderr): the terminal's width, or PIPED_WIDTH when piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(stderr=stderr, quiet=quiet, width=width)


class RunProgress:
    """Rich progress for a suite: one bar for the programs, one for the current program's
    run-steps (runs x steps, so chunked programs fill their bar exactly once).

    Shown on a terminal only: piped or captured, a live bar has no use and its teardown would
    still write a line, ahead of any error message.
    """

    def __init__(self, n_programs: int, console: Console):
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                            TimeElapsedColumn(), console=console, transient=True,
                            disable=not console.is_terminal)
        self.programs = self.bar.add_task("programs", total=n_programs)
        self.current = None
        self.jobs: dict[str, int] = {}

    def __enter__(self) -> "RunProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def start(self, description: str, total_steps: int) -> None:
        if self.current is not None:
            self.bar.update(self.current, visible=False)
            self.bar.advance(self.programs)
        self.current = self.bar.add_task(description, total=total_steps)

    def advance(self, steps: int) -> None:
        self.bar.advance(self.current, steps)

    def job(self, label: str, state: str) -> None:
        """A program run as a job: one row each, its state (queued, running, done, failed,
        reused) and the time since it was queued."""
        if label not in self.jobs:
            self.jobs[label] = self.bar.add_task(f"{label}: {state}", total=1)
        self.bar.update(self.jobs[label], description=f"{label}: {state}",
                        completed=1 if state in ("done", "failed", "reused") else 0)
        if state in ("done", "failed", "reused"):
            self.bar.advance(self.programs)

    def note(self, text: str) -> None:
        """One line above the bars (printed as it is when the bars are not shown)."""
        self.bar.console.print(text, highlight=False)
