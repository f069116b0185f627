"""`python -m bench verify [all|inits|optimizers]`: exit code 0 when every row passes, else 1."""
from __future__ import annotations


def verify(what: str = "all") -> int:
    ok = True
    if what in ("all", "inits"):
        from bench.verify_inits import verify_inits

        ok &= verify_inits()
    if what in ("all", "optimizers"):
        from bench.verify_optimizers import verify_optimizers

        ok &= verify_optimizers()
    return 0 if ok else 1
