"""`python -m bench`: the command line (`bench.cli.main`), and a process that ends without
tearing down what it is about to drop.

After the command, the joins of the threads that are not daemons and every atexit handler
(JAX's, logging's, a user's plugin's), the interpreter would still free module by module what
JAX, Flax, Optax and SciPy built and destroy XLA's client: 0.04-0.05 s of the start-up
command's wall time (docs/performance.md). The handler below, registered before any other of
this program's and so run after them all, flushes stdout and stderr and leaves with the
command's exit code at once. A handler registered before it, at the interpreter's start (a
`sitecustomize` or `.pth` hook: a coverage or profiling tool's), would be skipped. A command
that raises, an uncaught KeyboardInterrupt and argparse's own exit are left to Python.
"""
import atexit
import os
import sys

_status: list[int] = []


def _leave_without_teardown() -> None:
    if _status:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (`| head`) or stream: nothing to keep
                pass
        os._exit(_status[0])


atexit.register(_leave_without_teardown)  # first registered, last run

from bench.cli import main  # noqa: E402  (after the handler: JAX's import registers its own)

_status.append(main())
sys.exit(_status[0])
