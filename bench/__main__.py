"""`python -m bench`: the command line (`bench.cli.main`), and a process that ends without
tearing down what it is about to drop.

After the command and every atexit handler (JAX's, logging's, the thread pools' joins), the
interpreter would still free module by module what JAX, Flax, Optax and SciPy built and destroy
XLA's client: 0.04-0.05 s of the start-up command's wall time (docs/performance.md). The
handler below, registered before any other and so run after them all, flushes stdout and stderr
and leaves with the command's exit code at once. A command that raises is left to Python (its
traceback, exit code 1).
"""
import atexit
import os
import sys

_status: list[int] = []


def _leave_without_teardown() -> None:
    if _status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status[0])


atexit.register(_leave_without_teardown)  # first registered, last run

from bench.cli import main  # noqa: E402  (after the handler: JAX's import registers its own)

_status.append(main())
sys.exit(_status[0])
