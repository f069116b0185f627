"""Sphinx configuration of initopt's documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (``pip install -e '.[docs]'``).
Markdown pages through myst-parser, the API from the docstrings (autodoc + napoleon), the CLI
reference from ``bench.cli.build_parser`` (sphinx-argparse).
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(__file__))

project = "initopt"
author = "initopt contributors"
copyright = "initopt contributors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "docstring_check",
    "registry_tables",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # an Attributes section lists fields; the members stay the one entry
# the docstrings write code in single backticks, as Markdown does
default_role = "code"

html_theme = "sphinx_book_theme"
html_title = "initopt"
html_static_path = ["_static"]
html_css_files = ["initopt.css"]
html_theme_options = {
    "navbar_persistent": [],  # one search box (the sidebar's), not a second one in the header
    "repository_url": "https://github.com/initopt/initopt",
    "use_repository_button": False,
    "show_toc_level": 2,
}
