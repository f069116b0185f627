"""Work that waits for the train program's compile, to run in a thread beside it.

XLA:CPU compiles the train program on somewhat less than both cores (digits-mlp: 1.6 CPU-s in
0.95 s of wall on the 2-core machine) and releases the GIL meanwhile, so work queued here runs
in the cycles it leaves: SciPy's import (`bench.imports.preload_beside_compile`) and the init
program's compile and run (`runner.initialize`, a `Deferred`). The runner calls `compiling()`
just before the compile; where no compile comes (every program's executables reused), the
work is done where its result is first needed.

The init program compiled on one core while the other was idle (0.45-0.6 s of the start-up
command's wall time); beside the train program's compile, the command's time outside the
ecosystem's imports and training fell by 0.28-0.68 s in 4 alternating pairs of processes
(docs/performance.md). Beside the train program's trace it gained nothing: the trace and the
small programs' compiles already kept both cores busy.

This module imports nothing but the standard library and `bench.phases`.
"""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable, Generic, TypeVar

from bench.phases import beside

T = TypeVar("T")

_waiting: list[Callable[[], None]] = []
_lock = threading.Lock()


def beside_next_compile(start: Callable[[], None]) -> None:
    """Call `start` (which must return at once: it starts a thread) when the next long compile
    begins (`compiling`)."""
    with _lock:
        _waiting.append(start)


def compiling() -> None:
    """A long XLA compile starts now: start the work waiting for one."""
    with _lock:
        waiting = list(_waiting)
        _waiting.clear()
    for start in waiting:
        start()


class Deferred(Generic[T]):
    """`compute()`'s value, computed once: in a daemon thread beside the next long compile
    (`compiling`), or by the first `result()` if that comes first (then on its caller's
    thread). `result()` waits for the thread and raises what `compute` raised, as if it had
    been called there. `name` labels the thread and its `bench.phases.beside` marks."""

    def __init__(self, name: str, compute: Callable[[], T]):
        self.name = name
        self._compute: Callable[[], T] | None = compute
        self._future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._claim = threading.Lock()
        beside_next_compile(self._start)

    def _take(self) -> Callable[[], T] | None:
        """The computation, for the one caller that gets to run it (None for the others); the
        queue lets go of it then, so that no value outlives its users there."""
        with self._claim:
            compute, self._compute = self._compute, None
        if compute is not None:
            with _lock:
                if self._start in _waiting:
                    _waiting.remove(self._start)
        return compute

    def _run(self, compute: Callable[[], T], marked: bool = False) -> None:
        if marked:
            beside(self.name, "start")
        try:
            value = compute()
        except BaseException as error:  # noqa: BLE001 - handed to result()'s caller
            if marked:
                beside(self.name, "end")
            self._future.set_exception(error)
        else:
            if marked:  # before the value: whoever waits for it sees the mark first
                beside(self.name, "end")
            self._future.set_result(value)

    def _start(self) -> None:
        compute = self._take()
        if compute is not None:
            threading.Thread(target=self._run, args=(compute, True), name=f"initopt-{self.name}",
                             daemon=True).start()

    def started(self) -> bool:
        """Whether the computation has begun (in a thread or on a caller's)."""
        with self._claim:
            return self._compute is None

    def result(self) -> T:
        compute = self._take()
        if compute is not None:
            self._run(compute)
        return self._future.result()
