"""`python -m bench verify inits` says False (exit code 1) when a row fails, True when all pass."""
import io

from rich.console import Console

from bench.tools import verify as verify_module
from inits import conformance


def _run(monkeypatch, compare, properties) -> tuple[bool, str]:
    monkeypatch.setattr(conformance, "TWIN_NAMES", ["zeros", "ones"])
    monkeypatch.setattr(conformance, "compare_with_builtin", compare)
    monkeypatch.setattr(conformance, "property_checks", lambda: properties)
    out = io.StringIO()
    ok = verify_module.verify_inits(Console(file=out, width=200))
    return ok, out.getvalue()


def test_all_rows_pass(monkeypatch):
    ok, text = _run(monkeypatch, lambda name, case: None, {"lsuv": [("unit variance", lambda: [])]})
    assert ok and "bit-identical" in text and "property holds" in text


def test_a_differing_twin_fails_the_verification(monkeypatch):
    compare = lambda name, case: "3 of 35 entries differ" if name == "ones" else None
    ok, text = _run(monkeypatch, compare, {})
    assert not ok and "3 of 35 entries differ" in text and "FAILED" in text


def test_a_broken_property_fails_the_verification(monkeypatch):
    ok, text = _run(monkeypatch, lambda name, case: None, {"lsuv": [("unit variance", lambda: ["Var = 3.2"])]})
    assert not ok and "Var = 3.2" in text


def test_every_new_strategy_has_a_property_row():
    properties = conformance.property_checks()
    for name in ("delta_orthogonal", "fixup", "zero_hadamard", "kraehenbuehl", "mup"):
        assert properties.get(name), name
    assert "delta_orthogonal" in conformance.TWIN_NAMES  # its row shows the twin and the strategy's property
