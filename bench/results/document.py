"""The results document, as its users import it: reading a file (`load_results`, `parse`) with a
bounded depth, and checking a document on read (`check_document`). The format's version, keys and
building (`bench.results.schema`), reading schema-1 files (`bench.results.upgrade`) and the rule
that chooses a configuration (`bench.records.selection`) are importable here too.

The one owner of the format (docs/results-format.md): the writer (`bench.results.files`),
reuse, report, compare and plots all go through this module. The lookups over runs and summary
rows that tables, reports, plots and comparisons share live one layer below, in `bench.records`.

Words used throughout: a *configuration*, a *run*, a *cell* and a *pair*, as `bench.records.keys`
defines them; *selection* seeds choose the configuration (on validation accuracy); *evaluation*
seeds, never among the selection seeds, re-train the chosen one and report test accuracy.

Reading checks every field's type and range (`bench.results.schema`, made of the field checks
of `bench.results.checks`) and what fields must agree on (`bench.results.validation`), so a
hand-edited file fails with one line naming the file, the record and the field (`UsageError`,
exit 2) before anything is computed or written. A schema-1 or schema-2 file is checked as such
and upgraded in memory (`upgrade_schema_1`, `upgrade_schema_2`): its readers see the current
schema, flagged `meta.upgraded_from` (1 or 2).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.errors import UsageError
from bench.records.selection import choose, selection_key
from bench.results.checks import at, is_integer, show
from bench.results.schema import (AGGREGATES, AGGREGATES_KEY, BOTH_PHASES, CURVE_KEYS, FAILURES, INTERVAL_KEYS, PHASES, READABLE_VERSIONS,
                                  RUN_KEYS, SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_VERSION, SUMMARY_COLUMNS,
                                  SUMMARY_KEYS, TOP_LEVEL_KEYS, VERDICT_KEYS, VERDICTS_KEY, build, csv_row)
from bench.results.upgrade import upgrade_schema_1, upgrade_schema_2
from bench.results.validation import check_consistency, check_tree

# The format's public face (docs/results-format.md and docs/methodology.md): reading is defined here,
# the rest comes from the modules that hold it, so `bench.results.document` stays the one import.
__all__ = [
    "SCHEMA_VERSION", "READABLE_VERSIONS", "PHASES", "BOTH_PHASES", "FAILURES", "MAX_NESTING_DEPTH",
    "TOP_LEVEL_KEYS", "RUN_KEYS", "CURVE_KEYS", "SUMMARY_KEYS", "INTERVAL_KEYS", "SUMMARY_COLUMNS",
    "VERDICTS_KEY", "VERDICT_KEYS", "build", "csv_row", "load_results", "parse", "nesting_depth",
    "check_document", "check_schema", "upgrade_schema_1", "upgrade_schema_2", "selection_key", "choose",
]

# A results document nests six levels deep at most (document, verdicts, verdict, worse, entry,
# than; runs, run, curve, values); anything
# much deeper is not one, and is refused before the parser recurses into it.
MAX_NESTING_DEPTH = 16


def load_results(path) -> dict:
    """The results document in `path`, checked (and upgraded to the current schema when older).

    Any problem is one `UsageError` line naming the file, the record and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a results file (not UTF-8 text)") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror})") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "results") -> dict:
    """`load_results` for a document already read into `text`."""
    depth = nesting_depth(text)
    if depth > MAX_NESTING_DEPTH:
        raise UsageError(f"{source}: not a results file (JSON nested {depth} levels deep; "
                         f"a results file nests at most {MAX_NESTING_DEPTH})")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise UsageError(f"{source}: not JSON ({str(error).splitlines()[0][:120]})") from None
    return check_document(document, source)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


_STRINGS_AND_TEXT = re.compile(r'"(?:[^"\\]|\\.)*"|[^\[\]{}"]+')


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (string contents ignored), without parsing it."""
    brackets = np.frombuffer(_STRINGS_AND_TEXT.sub("", text).encode("ascii", "replace"), np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(
        brackets, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def check_document(document, source: str = "results") -> dict:
    """`document` checked field by field; an older document comes back upgraded to the current
    schema.

    Raises UsageError with one line: "<source>: <record>.<field>: <what is wrong>".
    """
    if not isinstance(document, dict):
        raise UsageError(f"{source}: not an initopt results file (top level is not an object)")
    missing = [key for key in TOP_LEVEL_KEYS if key not in document]
    if missing:
        raise UsageError(f"{source}: not an initopt results file (missing {', '.join(map(repr, missing))})")
    version = document["schema_version"]
    if not is_integer(version) or version not in READABLE_VERSIONS:
        raise UsageError(f"{source}: schema_version {show(version)} is not supported "
                         f"(this initopt reads {', '.join(map(str, READABLE_VERSIONS))})")
    if version == 1:
        check_tree(document, SCHEMA_1, source)
        return upgrade_schema_1(document, source)
    if version == 2:
        check_tree(document, SCHEMA_2, source)
        check_consistency(document, source)
        return upgrade_schema_2(document, source)
    if VERDICTS_KEY not in document:
        raise UsageError(f"{source}: not an initopt results file of schema {version} (missing '{VERDICTS_KEY}')")
    check_tree(document, SCHEMA_3, source)
    if AGGREGATES_KEY in document:
        problem = AGGREGATES(document[AGGREGATES_KEY])
        if problem:
            raise UsageError(at("", problem).line(source, AGGREGATES_KEY))
    check_consistency(document, source)
    return document


# Kept for callers of the schema-1 era.
check_schema = check_document
