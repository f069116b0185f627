"""A Sphinx extension: a documented public object without a docstring is a build warning.

With ``-W`` that warning is an error, so every public name the API reference lists must say what
it is. Members without a docstring are listed (autodoc's ``undoc-members``), so that they are
flagged rather than silently left out. Private names (a leading underscore) are not documented
and not checked.
"""
from __future__ import annotations

CHECKED = ("module", "class", "exception", "function", "method")


def missing_docstring(what: str, name: str, lines: list[str]) -> bool:
    """True when `name`, an object autodoc documents as `what`, has no docstring of its own."""
    public = not any(part.startswith("_") for part in name.split("."))
    return what in CHECKED and public and not any(line.strip() for line in lines)


# The package `optimizers` re-exports its building blocks and the optax.contrib-style methods;
# each is documented once, under the module that defines it, not again under the package.
DOCUMENTED_IN_THEIR_MODULE = {"optimizers": ("optimizers.transform", "optimizers.factorized", "optimizers.contrib")}
_documenting = {"module": ""}


def _check(app, what, name, obj, options, lines):
    if what == "module":
        _documenting["module"] = name
    if missing_docstring(what, name, lines):
        from sphinx.util import logging

        logging.getLogger(__name__).warning("public %s %s has no docstring", what, name, type="initopt", subtype="docstring")


def _skip(app, what, name, obj, skip, options):
    """Skip a re-exported member documented under its own module, and another library's object
    (optax's MuonDimensionNumbers, which `optimizers` re-exports)."""
    module, documenting = getattr(obj, "__module__", None), _documenting["module"]
    if not isinstance(module, str) or not module or not documenting:
        return None
    if module.split(".")[0] != documenting.split(".")[0]:
        return True
    if module.startswith(DOCUMENTED_IN_THEIR_MODULE.get(documenting, ())):
        return True
    return None


def _list_undocumented(app, config):
    # autodoc leaves a member without a docstring out unless asked: list it, so it is flagged
    config.autodoc_default_options = {**config.autodoc_default_options, "undoc-members": True}


def setup(app):
    app.connect("config-inited", _list_undocumented)
    app.connect("autodoc-process-docstring", _check)
    app.connect("autodoc-skip-member", _skip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
