"""Modules a command needs only at its end, imported late or beside its compiles.

SciPy's statistics take 0.5-0.6 s to import (2-core AMD EPYC), about a fifth of what a run
spends before its first training call, and a run needs them only once it has trained: for its
records, tests and intervals. The modules that use them hold a `LazyModule` in its place, and
`preload` imports it in a thread while XLA compiles (XLA releases the GIL, and compiles on
somewhat less than both cores), so that it is there when the records need it.

`preload_beside_compile` waits for the train program's compile (`bench.overlap.compiling`,
called by the runner just before it) to start that thread. Started at the run's beginning, the
import shared the cores with the small programs' compiles (the init program's, the epoch
orders') and slowed them by 0.25-0.3 s; beside the train program's compile, the longest, it
slows that one by about 0.2 s (the start-up command, 4 alternating pairs of processes: each of
the 4 faster, by 0.08-0.76 s).

`importlib.util.LazyLoader` defers the same way, but Python 3.11's is not safe to load from
two threads at once; `LazyModule` imports with `importlib.import_module`, which is.
"""
from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

from bench.overlap import beside_next_compile
from bench.phases import beside


class LazyModule:
    """Stands for the module `name`: imports it at the first attribute looked up on it."""

    def __init__(self, name: str):
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)  # once; then sys.modules' copy

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def preload(*names: str) -> threading.Thread:
    """Import `names` in a daemon thread, now; its failures are left for the import that needs
    the module to raise (one clear error there, never a traceback from this thread)."""

    def load() -> None:
        beside("preload", "start")
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the real import reports it
                pass
        beside("preload", "end")

    thread = threading.Thread(target=load, name="initopt-preload", daemon=True)
    thread.start()
    return thread


_waiting: list[str] = []


def preload_beside_compile(*names: str) -> None:
    """`preload` `names` once the next long compile starts (`bench.overlap.compiling`); where
    none comes (every program's executables reused), `LazyModule` imports them at first use."""
    new = [name for name in names if name not in _waiting]
    if new:
        if not _waiting:
            beside_next_compile(_preload_waiting)
        _waiting.extend(new)


def _preload_waiting() -> None:
    names = tuple(_waiting)
    _waiting.clear()
    if names:
        preload(*names)
