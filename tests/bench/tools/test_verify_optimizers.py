"""`python -m bench verify optimizers` fails (exit code 1) when a row fails."""
import io

import optax
from rich.console import Console

from bench.tools import verify as verify_command
from bench.tools import verify as verify_optimizers
from optimizers import agreement, alias


def test_a_failing_row_fails_the_command(monkeypatch):
    good = agreement.Case("adam", "optax.adam", "lr=0.001", lambda: alias.adam(1e-3), lambda: optax.adam(1e-3))
    bad = agreement.Case("adam", "optax.adam", "b2 wrong", lambda: alias.adam(1e-3, b2=0.99), lambda: optax.adam(1e-3))
    monkeypatch.setattr(agreement, "build_cases", lambda: [good, bad])
    output = io.StringIO()
    assert verify_optimizers.verify_optimizers(Console(file=output, width=200)) is False
    text = output.getvalue()
    assert "FAIL" in text and "1/2 settings agree" in text
    monkeypatch.setattr(verify_optimizers, "verify_optimizers", lambda: False)
    assert verify_command.verify("optimizers") == 1
