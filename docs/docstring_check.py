"""A Sphinx extension: a documented public object without a docstring is a build warning.

With ``-W`` that warning is an error, so every public name the API reference lists must say what
it is. Private names (a leading underscore) are not documented and not checked.
"""
from __future__ import annotations

from sphinx.util import logging

logger = logging.getLogger(__name__)
CHECKED = ("module", "class", "exception", "function", "method")


def missing_docstring(what: str, name: str, lines: list[str]) -> bool:
    """True when `name`, an object autodoc documents as `what`, has no docstring of its own."""
    public = not any(part.startswith("_") for part in name.split("."))
    return what in CHECKED and public and not any(line.strip() for line in lines)


# The package `optimizers` re-exports its building blocks and the optax.contrib-style methods;
# each is documented once, under the module that defines it, not again under the package.
DOCUMENTED_IN_THEIR_MODULE = {"optimizers": ("optimizers.transform", "optimizers.factorized", "optimizers.contrib")}
OURS = ("inits", "optimizers", "bench")
_documenting = {"module": ""}


def _check(app, what, name, obj, options, lines):
    if what == "module":
        _documenting["module"] = name
    if missing_docstring(what, name, lines):
        logger.warning("public %s %s has no docstring", what, name, type="initopt", subtype="docstring")


def _skip(app, what, name, obj, skip, options):
    """Skip a re-exported member documented under its own module, and another library's type."""
    module = getattr(obj, "__module__", None) or ""
    if not isinstance(module, str) or not module:
        return None
    if not module.split(".")[0] in OURS:
        return True
    if module.startswith(DOCUMENTED_IN_THEIR_MODULE.get(_documenting["module"], ())):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _check)
    app.connect("autodoc-skip-member", _skip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
