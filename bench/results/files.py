"""Results files on disk: atomic writes, the CSV of the summary, and reuse of finished programs.

The document itself (version, keys, checks) is `bench.results.document`'s; this module only
moves it to and from files. Files are written to a temporary name in the same folder and
renamed into place, so a reader never sees half a file. A rerun with the same `--out` reuses
every program whose own configuration is unchanged.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import datetime, timezone
from typing import Any, Sequence

from bench.results.document import SCHEMA_VERSION, SUMMARY_COLUMNS, csv_row


def default_path(suite: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join("results", f"{suite}-{stamp}.json")


def atomic_write(path: str, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder: whole or not at all."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def summary_csv(summary: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_row(row) for row in summary)
    return buffer.getvalue()


def csv_path(json_path: str) -> str:
    return os.path.splitext(json_path)[0] + ".csv"


def write(path: str, results: dict[str, Any]) -> None:
    """The JSON, then the CSV beside it; each appears whole or not at all."""
    atomic_write(path, json.dumps(results, indent=1, allow_nan=False) + "\n")
    atomic_write(csv_path(path), summary_csv(results["summary"]))


def reusable_programs(path: str) -> dict[tuple[str, str, str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The programs of an earlier results file at `path`, each with its run records.

    Returns (task, optimizer, phase) -> (program meta, run records); the caller reuses a program
    only if its `config` equals the new one. A missing or unreadable file, or one of another
    schema, reuses nothing.
    """
    try:
        with open(path, encoding="utf-8") as file:
            earlier = json.load(file)
        programs = earlier["meta"]["programs"]
        runs = earlier["runs"]
        if earlier.get("schema_version") != SCHEMA_VERSION:
            return {}
        found = {}
        for program in programs:
            phase = program.get("phase", "evaluation")
            phases = phase.split("+")  # "selection+evaluation": one program for both phases
            key = (program["task"], program["optimizer"], phase)
            found[key] = (program, [r for r in runs if (r["task"], r["optimizer"]) == key[:2]
                                    and r.get("phase", "evaluation") in phases])
        return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
