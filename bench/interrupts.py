"""Ctrl-C and SIGTERM for the command line: the first interrupt lets a run save its finished
programs and exit 130; the second exits 130 at once, even inside a long XLA call.

`with Interrupts():` around a command installs the handlers (main thread only) and restores the
previous ones after; `Interrupts.reported` says whether the user has been told already.
"""
from __future__ import annotations

import _thread
import os
import signal
import sys
import threading


class Interrupts:
    """Ctrl-C and SIGTERM. The first raises KeyboardInterrupt in the main thread: a run saves
    its finished programs and exits 130. The second exits 130 at once, from a watcher thread
    woken by the signal itself, so it works even while the main thread waits inside a long
    XLA call (where Python runs no signal handler until the call returns).

    Python may run the handler inside a garbage-collector or weakref callback (jax registers
    one), where the KeyboardInterrupt it raises is swallowed as "unraisable" and printed as a
    traceback. `_unraisable` catches exactly that case and delivers the interrupt again, so the
    first Ctrl-C is never lost and never printed; the watcher does not count a re-delivery."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    raised = False  # the first interrupt has been raised in the main thread
    reported = False  # the main thread has told the user about it
    redelivered = 0  # interrupts sent again by `_unraisable`, not by the user

    def __enter__(self):
        self.active = threading.current_thread() is threading.main_thread()
        if not self.active:
            return self
        Interrupts.reported = Interrupts.raised = False
        Interrupts.redelivered = 0
        self.previous_unraisable = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.write_end, False)
        self.previous = {sig: signal.signal(sig, self._first) for sig in self.SIGNALS}
        self.previous_wakeup = signal.set_wakeup_fd(self.write_end, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="initopt-interrupts", daemon=True).start()
        return self

    def __exit__(self, *exc):
        if not self.active:
            return False
        signal.set_wakeup_fd(self.previous_wakeup)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = self.previous_unraisable
        os.close(self.write_end)  # the watcher reads end-of-file and stops
        return False

    @staticmethod
    def _first(signum, frame):
        # Only once: a second KeyboardInterrupt could land anywhere (a weakref callback prints
        # a traceback) while the main thread saves; the watcher ends the process instead.
        if not Interrupts.raised:
            Interrupts.raised = True
            raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        if (isinstance(unraisable.exc_value, KeyboardInterrupt) and Interrupts.raised
                and not Interrupts.reported):
            # our first interrupt, swallowed by a callback: raise it again once the callback is
            # over (from another thread: here, it would be raised inside this hook, and swallowed)
            Interrupts.raised = False
            Interrupts.redelivered += 1  # before the signal, so the watcher never counts it as the user's
            threading.Timer(0.01, _thread.interrupt_main, (signal.SIGINT,)).start()
            return
        self.previous_unraisable(unraisable)

    def _watch(self):
        seen = 0
        try:
            while True:
                woken = os.read(self.read_end, 64)
                if not woken:
                    return
                seen += sum(byte in (int(sig) for sig in self.SIGNALS) for byte in woken)
                if seen - Interrupts.redelivered >= 2:
                    exit_now()
        finally:
            os.close(self.read_end)


def exit_now():
    """Exit 130 without unwinding: no waiting for the accelerator, the file on disk as it is."""
    from bench.results.files import abandon_locks

    if not Interrupts.reported:
        os.write(2, b"interrupted twice: stopped at once; the results file keeps the programs "
                    b"saved before (run the same command to finish)\n")
    abandon_locks()
    os._exit(130)
