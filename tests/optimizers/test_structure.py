"""The package's structure, so that a contributor can change one module without breaking another:
no module reaches into another's private names, no function is longer than a screen (80 lines
of code), and `optimizers.contrib`, a package with one module per method, still exports every
name it had as one module."""
import ast
import importlib
from pathlib import Path

import pytest

import optimizers
from optimizers import contrib

PACKAGE = Path(optimizers.__file__).parent
TESTS = Path(__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py")) + sorted(TESTS.glob("*.py"))
# NamedTuple's public API starts with an underscore too.
NAMED_TUPLE_API = {"_replace", "_fields", "_asdict", "_make", "_field_defaults"}


def _is_ours(module: str) -> bool:
    return module == "optimizers" or module.startswith("optimizers.")


def private_uses(source: str) -> list[str]:
    """`from optimizers.x import _name`, and `alias._name` where alias is bound by an import from
    `optimizers`: each as "line: what"."""
    syntax = ast.parse(source)
    imported, found = set(), []
    for node in ast.walk(syntax):
        if isinstance(node, ast.ImportFrom) and node.module and _is_ours(node.module):
            for name in node.names:
                if name.name.startswith("_"):
                    found.append(f"{node.lineno}: from {node.module} import {name.name}")
                imported.add(name.asname or name.name)
        elif isinstance(node, ast.Import):
            for name in node.names:
                if _is_ours(name.name):
                    imported.add(name.asname or name.name.split(".")[0])
    for node in ast.walk(syntax):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported and node.attr not in NAMED_TUPLE_API:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PACKAGE.parent)) for p in SOURCES])
def test_no_module_uses_another_modules_private_names(path):
    assert private_uses(path.read_text()) == []


def test_the_private_name_check_can_fail():
    assert private_uses("from optimizers.transform import _cast, scale\n") == [
        "1: from optimizers.transform import _cast"]
    assert private_uses("from optimizers import agreement\nagreement._chosen_cases()\n") == [
        "2: agreement._chosen_cases"]
    assert private_uses("import optimizers.tree as t\nx = t._squared_magnitude\n") == ["2: t._squared_magnitude"]
    assert private_uses("from optimizers import transform\nstate = transform.EmaState(0, 0)._replace(ema=1)\n") == []


MAX_CODE_LINES = 80


def _docstring_lines(syntax) -> set[int]:
    lines = set()
    for node in ast.walk(syntax):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def long_functions(source: str, limit: int = MAX_CODE_LINES) -> list[str]:
    """"name: n" for every function (nested ones too, each counted whole) with more than `limit`
    lines of code: docstrings, blank lines and comment-only lines not counted."""
    syntax, lines = ast.parse(source), source.splitlines()
    docstrings = _docstring_lines(syntax)
    found = []
    for node in ast.walk(syntax):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            code = [number for number in range(start, node.end_lineno + 1) if number not in docstrings
                    and lines[number - 1].strip() and not lines[number - 1].strip().startswith("#")]
            if len(code) > limit:
                found.append(f"{node.name}: {len(code)}")
    return found


PACKAGE_SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", PACKAGE_SOURCES, ids=[str(p.relative_to(PACKAGE.parent)) for p in PACKAGE_SOURCES])
def test_no_function_is_longer_than_80_lines_of_code(path):
    assert long_functions(path.read_text()) == []


def test_the_length_check_counts_code_not_docstrings_or_comments():
    body = "    x = 0\n" * 80
    padding = '    """A docstring\n\n    of three lines."""\n    # a comment\n\n'
    assert long_functions("def f():\n" + padding + body[:-len("    x = 0\n")]) == []
    assert long_functions("def f():\n" + padding + body) == ["f: 81"]  # def line + 80


# Every public name optimizers/contrib.py defined when it was one module.
CONTRIB_NAMES = {
    "muon": ["DEFAULT_NS_COEFFS", "DION_NS_COEFFS", "MuonDimensionNumbers", "MuonState", "NS_COEFFS_PRESETS",
             "PRECONDITIONINGS", "muon", "orthogonalize_via_newton_schulz", "scale_by_muon", "scale_by_shape"],
    "schedule_free": ["ScheduleFreeState", "schedule_free", "schedule_free_adamw", "schedule_free_eval_params",
                      "schedule_free_sgd"],
    "prodigy": ["ProdigyState", "prodigy"],
    "ademamix": ["ScaleByAdemamixState", "ademamix", "scale_by_ademamix"],
    "adopt": ["adopt", "scale_by_adopt"],
}


@pytest.mark.parametrize("module_name", CONTRIB_NAMES)
def test_contrib_reexports_each_methods_module(module_name):
    module = importlib.import_module(f"optimizers.contrib.{module_name}")
    for name in CONTRIB_NAMES[module_name]:
        assert getattr(contrib, name) is getattr(module, name), name


def test_contrib_exports_every_name_it_had_as_one_module():
    assert sorted(contrib.__all__) == sorted(name for names in CONTRIB_NAMES.values() for name in names)
    # the package attribute is the optimizer, not the module of the same name
    for name in ("muon", "schedule_free", "prodigy", "ademamix", "adopt"):
        assert callable(getattr(contrib, name)) and getattr(contrib, name).__name__ == name
    from optimizers.contrib.muon import scale_by_shape

    assert scale_by_shape is contrib.scale_by_shape
