"""The results document: its version, its keys, building it, checking it on read, and the
lookups that plots, reports and comparisons share (runs by cell, each pair's best lr).

The one owner of the format (README, "Results format"): the writer (`bench.results.files`),
reuse, report, compare and plots all go through this module. A *cell* is (task, optimizer,
init, lr); a *pair* is (task, optimizer, init), whose best learning rate is the cell the runner
flagged `best_lr` (highest mean validation accuracy; `bench.suite.metrics.mark_best_lr`).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.errors import UsageError

SCHEMA_VERSION = 1
TOP_LEVEL_KEYS = ("schema_version", "meta", "runs", "summary")
RUN_KEYS = ("task", "optimizer", "init", "lr", "seed", "final_test_accuracy", "final_val_accuracy",
            "final_train_loss", "steps_to_target", "diverged", "curve")
SUMMARY_KEYS = ("task", "optimizer", "init", "lr", "n_seeds", "n_diverged", "test_accuracy_mean",
                "test_accuracy_ci95", "val_accuracy_mean", "steps_to_target_median",
                "reached_fraction", "diverged_fraction", "seconds_per_step", "best_lr")
# The CSV beside the JSON: one column per summary key, the interval split in two.
SUMMARY_COLUMNS = tuple(column for key in SUMMARY_KEYS for column in (
    (f"{key}_low", f"{key}_high") if key == "test_accuracy_ci95" else (key,)))


def build(meta: dict[str, Any], runs: list[dict[str, Any]], summary: list[dict[str, Any]]) -> dict[str, Any]:
    """The document as written: the version first, then provenance, runs and their summary."""
    return {"schema_version": SCHEMA_VERSION, "meta": meta, "runs": runs, "summary": summary}


def load_results(path) -> dict:
    """The results dict in `path`, schema-checked; any problem is a one-line UsageError."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not JSON ({str(error).splitlines()[0]})") from None
    check_schema(results, source=str(path))
    return results


def check_schema(results, source: str = "results") -> None:
    """Raise UsageError naming the first thing that makes `results` unreadable by this version."""
    if not isinstance(results, dict):
        raise UsageError(f"{source}: not an initopt results file (top level is not an object)")
    missing = [key for key in TOP_LEVEL_KEYS if key not in results]
    if missing:
        raise UsageError(f"{source}: not an initopt results file (missing {', '.join(map(repr, missing))})")
    if results["schema_version"] != SCHEMA_VERSION:
        raise UsageError(f"{source}: schema_version {results['schema_version']!r} "
                         f"is not supported (this initopt reads {SCHEMA_VERSION})")
    if not isinstance(results["meta"], dict):
        raise UsageError(f"{source}: 'meta' is not an object")
    _check_records(results["runs"], "runs", RUN_KEYS, source)
    _check_records(results["summary"], "summary", SUMMARY_KEYS, source)


def _check_records(records, name: str, keys: tuple, source: str) -> None:
    if not isinstance(records, list):
        raise UsageError(f"{source}: '{name}' is not a list")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise UsageError(f"{source}: {name}[{index}] is not an object")
        missing = [key for key in keys if key not in record]
        if missing:
            raise UsageError(f"{source}: {name}[{index}] lacks {', '.join(map(repr, missing))}")


def lr_key(lr) -> float:
    """A learning rate as a dict key: 12 significant digits, so 1e-3 written by two machines matches."""
    return float(f"{float(lr):.12g}")


Cell = tuple  # (task, optimizer, init, lr)
Pair = tuple  # (task, optimizer, init)


def cell_of(record: dict) -> Cell:
    return (record["task"], record["optimizer"], record["init"], lr_key(record["lr"]))


def finite_or_none(value):
    """JSON null, NaN and inf all mean "no value" (a diverged run)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def runs_by_cell(results: dict) -> dict[Cell, list[dict]]:
    """Each cell's runs, sorted by seed."""
    cells = defaultdict(list)
    for run in results["runs"]:
        if run.get("phase", "evaluation") == "evaluation":
            cells[cell_of(run)].append(run)
    return {cell: sorted(runs, key=lambda run: run["seed"]) for cell, runs in cells.items()}


def accuracy_by_seed(runs: list[dict]) -> dict[int, float | None]:
    """seed -> final test accuracy, None where the run diverged."""
    return {run["seed"]: (None if run["diverged"] else finite_or_none(run["final_test_accuracy"]))
            for run in runs}


def tasks(results: dict) -> list[str]:
    return sorted({row["task"] for row in results["summary"]} | {run["task"] for run in results["runs"]})


def best_lr_rows(results: dict, task: str | None = None) -> dict[Pair, dict]:
    """(task, optimizer, init) -> the summary row at its best learning rate.

    Uses the runner's `best_lr` flag; a pair with no flagged row (every lr diverged, or an older
    file) falls back to the highest finite `val_accuracy_mean`, or its first row if none is finite.
    """
    rows_by_pair = defaultdict(list)
    for row in results["summary"]:
        if (task is None or row["task"] == task) and row.get("phase", "evaluation") == "evaluation":
            rows_by_pair[(row["task"], row["optimizer"], row["init"])].append(row)
    return {pair: _best_row(rows) for pair, rows in rows_by_pair.items()}


def _best_row(rows: list[dict]) -> dict:
    flagged = [row for row in rows if row.get("best_lr")]
    if flagged:
        return flagged[0]
    scored = [row for row in rows if finite_or_none(row["val_accuracy_mean"]) is not None]
    if scored:
        return max(scored, key=lambda row: row["val_accuracy_mean"])
    return sorted(rows, key=lambda row: row["lr"])[0]


def ordered(names, preferred) -> list[str]:
    """`names` in the order of `preferred` (the config's order), unknown names last, sorted."""
    preferred = list(preferred or [])
    known = [name for name in preferred if name in names]
    return known + sorted(set(names) - set(known))


def optimizers_of(results: dict, task: str) -> list[str]:
    names = {row["optimizer"] for row in results["summary"] if row["task"] == task}
    return ordered(names, results["meta"].get("config", {}).get("optimizers"))


def inits_of(results: dict, task: str) -> list[str]:
    names = {row["init"] for row in results["summary"] if row["task"] == task}
    return ordered(names, results["meta"].get("config", {}).get("inits"))


def format_lr(lr) -> str:
    return f"{float(lr):.3g}"
