"""The structure a contributor can change one module of without breaking another: no module of
inits, optimizers, bench or the tests reaches into another's private names, and no function of
the three packages is longer than a screen (80 lines of code)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = ("inits", "optimizers", "bench")
PACKAGE_SOURCES = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))
SOURCES = PACKAGE_SOURCES + sorted((ROOT / "tests").rglob("*.py"))
# NamedTuple's public API starts with an underscore too.
NAMED_TUPLE_API = {"_replace", "_fields", "_asdict", "_make", "_field_defaults"}


def _is_ours(module: str) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in PACKAGES)


def private_uses(source: str) -> list[str]:
    """`from package.x import _name`, and `alias._name` where alias is bound by an import from
    one of PACKAGES: each as "line: what"."""
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


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_module_uses_another_modules_private_names(path):
    assert private_uses(path.read_text()) == []


def test_the_private_name_check_can_fail():
    assert private_uses("from optimizers.transform import _cast, scale\n") == [
        "1: from optimizers.transform import _cast"]
    assert private_uses("from optimizers import agreement\nagreement._chosen_cases()\n") == [
        "2: agreement._chosen_cases"]
    assert private_uses("import optimizers.tree as t\nx = t._squared_magnitude\n") == ["2: t._squared_magnitude"]
    assert private_uses("from optimizers import transform\nstate = transform.EmaState(0, 0)._replace(ema=1)\n") == []
    assert private_uses("from bench import runner\nrunner._model_apply(1)\n") == ["2: runner._model_apply"]


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


@pytest.mark.parametrize("path", PACKAGE_SOURCES, ids=[str(p.relative_to(ROOT)) for p in PACKAGE_SOURCES])
def test_no_function_is_longer_than_80_lines_of_code(path):
    assert long_functions(path.read_text()) == []


def test_the_length_check_counts_code_not_docstrings_or_comments():
    body = "    x = 0\n" * 80
    padding = '    """A docstring\n\n    of three lines."""\n    # a comment\n\n'
    assert long_functions("def f():\n" + padding + body[:-len("    x = 0\n")]) == []
    assert long_functions("def f():\n" + padding + body) == ["f: 81"]  # def line + 80
