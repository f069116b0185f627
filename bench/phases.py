"""Where a run's start-up time goes: marks at the ends of its phases, for `perf --startup`.

`mark(name)` says that the phase `name` ended now (the phase began at the previous mark, or at
the process's start). Only when the environment asks (PHASES_VARIABLE=1, set by `python -m
bench perf --startup` in the processes it times) does it do anything: it writes a line to
stderr, where `python -X importtime` writes its own lines in the same order, so that the
imports made during each phase can be told apart from the phase's own work. Otherwise it costs
one test of a flag. A phase that comes round again (one per program) adds up under its name.

`beside(name, event)` marks the start and the end of work a thread does beside the phases
(`bench.overlap`: SciPy's import, `bench.imports.preload`, and the init program's compile and
run): it overlaps the phases, so `perf --startup` shows it in a row of its own instead of taking
it out of the phase it fell in.

This module imports nothing but the standard library: it is imported before JAX.
"""
from __future__ import annotations

import os
import time

PHASES_VARIABLE = "INITOPT_PHASES"
LINE_PREFIX = "initopt-phase"  # stderr: "initopt-phase NAME UNIX_SECONDS"
BESIDE_PREFIX = "initopt-beside"  # stderr: "initopt-beside NAME start|end UNIX_SECONDS"

# the phase of a program's calls after its first (and, where a program has several chunks, the
# next chunks' calls to set up and a last save): training, whose time grows with the steps and
# runs; the rest of a run is its fixed cost (`perf --startup`'s "outside training")
TRAINING = "training: the other calls"

_report = os.environ.get(PHASES_VARIABLE) == "1"


def mark(name: str) -> None:
    """The phase `name` ended now."""
    if _report:
        os.write(2, f"{LINE_PREFIX} {name} {time.time():.6f}\n".encode())


def beside(name: str, event: str) -> None:
    """Work `name` in a thread beside the phases has reached `event` ("start" or "end")."""
    if _report:
        os.write(2, f"{BESIDE_PREFIX} {name} {event} {time.time():.6f}\n".encode())
