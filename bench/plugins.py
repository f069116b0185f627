# TEMPORARY stand-in (names only) until the real module lands
from typing import Any, NamedTuple
from bench.errors import UsageError

class Resolved(NamedTuple):
    name: str
    obj: Any
    source: Any = None
    traceable: bool = True

def split_names(text):
    return [n.strip() for n in text.split(",") if n.strip()]

def resolve_many(kind, items, builtins):
    from bench.suite.config import check_name
    if isinstance(items, str):
        items = split_names(items)
        if not items:
            raise UsageError(f"--{kind}s needs at least one name; valid: {', '.join(builtins)}")
    out = {}
    for item in items:
        name = check_name(kind, item, list(builtins))
        out[name] = Resolved(name, builtins[name])
    return out
