"""The field checks a results document's schema is made of: each check returns what is wrong
with a value (a message, or a `Problem` that says where inside the value), or None.

Small and composable: `number(...)`, `nullable(...)`, `list_of(...)`, `record({...})` build the
check of a whole record from the checks of its fields (`bench.results.schema`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

Check = Callable[[Any], Union[str, "Problem", None]]


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def number(low: float = -math.inf, high: float = math.inf, *, integer: bool = False,
           what: str | None = None, low_open: bool = False) -> Check:
    """A finite number (an int when `integer`) in [low, high] (or (low, high] when `low_open`)."""
    kind = what or ("an integer" if integer else "a number")
    bounds = "" if (low, high) == (-math.inf, math.inf) else (
        f" >= {low:g}" if high == math.inf else f" in {'(' if low_open else '['}{low:g}, {high:g}]")

    def check(value):
        if not (is_integer(value) if integer else is_number(value)):
            return f"{show(value)} is not {kind}"
        if not (low < value if low_open else low <= value) or not value <= high:
            return f"{show(value)} is not {kind}{bounds}"
        return None

    return check


def nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def boolean(value) -> str | None:
    return None if isinstance(value, bool) else f"{show(value)} is not true or false"


def text(value) -> str | None:
    return None if isinstance(value, str) else f"{show(value)} is not a string"


def one_of(*choices) -> Check:
    return lambda value: None if value in choices and isinstance(value, str) else (
        f"{show(value)} is not one of {', '.join(map(repr, choices))}")


def interval(bound: Check, *, open_high: bool = False) -> Check:
    """[low, high], two numbers with low <= high; `open_high`: high may be null (unbounded)."""

    def check(value):
        if not isinstance(value, list) or len(value) != 2:
            return f"{show(value)} is not an interval [low, high]"
        low, high = value
        problem = bound(low) or (None if open_high and high is None else bound(high))
        if problem:
            return problem
        if high is not None and low > high:
            return f"{show(value)} is not an interval (low > high)"
        return None

    return check


def list_of(item: Check) -> Check:
    def check(value):
        if not isinstance(value, list):
            return f"{show(value)} is not a list"
        for index, element in enumerate(value):
            problem = item(element)
            if problem:
                return at(f"[{index}]", problem)
        return None

    return check


def mapping_of(item: Check) -> Check:
    def check(value):
        if not isinstance(value, dict):
            return f"{show(value)} is not an object"
        for key, element in value.items():
            problem = item(element)
            if problem:
                return at(f"[{show(key)}]", problem)
        return None

    return check


def either(*checks: Check) -> Check:
    def check(value):
        problems = [c(value) for c in checks]
        return None if None in problems else problems[0]

    return check


class Problem(NamedTuple):
    """What is wrong (`message`) and where, as a path inside the checked value (".curve.step[3]")."""

    path: str
    message: str

    def line(self, source: str, where: str) -> str:
        joint = " " if self.message.startswith("lacks ") else ": "
        return f"{source}: {where}{self.path}{joint}{self.message}"


def at(place: str, problem: str | Problem) -> Problem:
    """`problem` found at `place` (a field, an index) of the value checked."""
    if isinstance(problem, Problem):
        return Problem(place + problem.path, problem.message)
    return Problem(place, problem)


def record(fields: dict[str, Check], required: Iterable[str] = (),
           agree: Callable[[dict], Optional[str]] | None = None) -> Check:
    """An object: `fields` maps a name to its check; `required` names must be present, the others
    are checked when present; keys not listed are allowed (newer writers may add provenance).
    `agree(value)` checks what no single field can (lists of equal length, ...)."""
    required = tuple(required)

    def check(value):
        if not isinstance(value, dict):
            return f"{show(value)} is not an object"
        missing = [key for key in required if key not in value]
        if missing:
            return f"lacks {', '.join(map(repr, missing))}"
        for key, field_check in fields.items():
            if key in value:
                problem = field_check(value[key])
                if problem:
                    return at(f".{key}", problem)
        return agree(value) if agree else None

    return check
