"""Lookups over a results document's runs and summary rows, shared by the document's checks and
every reader of it (tables, report, plots, comparisons, statistics)."""
from __future__ import annotations

from collections import defaultdict

from bench.records.keys import Cell, Pair, cell_of, pair_of
from bench.records.values import counted_accuracy


def task_settings(results: dict, task: str) -> dict:
    """A task's settings (steps, batch_size, eval_every, target, num_classes, n_test): its entry
    of `meta.config.tasks`, or the config's top level for a document without that list."""
    config = results["meta"]["config"]
    for entry in config.get("tasks") or []:
        if entry["task"] == task:
            return entry
    return config


def chance(results: dict, task: str) -> float:
    """The accuracy of guessing on `task`: what a failed run that measured nothing counts as."""
    return 1.0 / task_settings(results, task)["num_classes"]


def runs_by_cell(results: dict) -> dict[Cell, list[dict]]:
    """Each cell's runs, sorted by seed."""
    cells = defaultdict(list)
    for run in results["runs"]:
        cells[cell_of(run)].append(run)
    return {cell: sorted(runs, key=lambda run: run["seed"]) for cell, runs in cells.items()}


def accuracy_by_seed(runs: list[dict], chance_accuracy: float, metric: str = "final_test_accuracy"
                     ) -> dict[int, float]:
    """seed -> the run's accuracy as counted (`counted_accuracy`): no seed is left out."""
    return {run["seed"]: counted_accuracy(run[metric], chance_accuracy) for run in runs}


def runs_of_row(results: dict, row: dict) -> list[dict]:
    """The runs a summary row covers, sorted by seed."""
    return runs_by_cell(results).get(cell_of(row), [])


def tasks(results: dict) -> list[str]:
    return sorted({row["task"] for row in results["summary"]} | {run["task"] for run in results["runs"]})


def rows_of(results: dict, phase: str, task: str | None = None) -> list[dict]:
    return [row for row in results["summary"]
            if row["phase"] == phase and (task is None or row["task"] == task)]


def chosen_rows(results: dict, phase: str, task: str | None = None) -> dict[Pair, dict]:
    """(task, optimizer, init) -> its chosen configuration's row in `phase`.

    For "evaluation" these are the rows whose test accuracy a table reports. For "selection",
    a pair without selection rows (a schema-1 file) falls back to its chosen evaluation row.
    """
    found = {pair_of(row): row for row in rows_of(results, phase, task) if row["chosen"]}
    if phase == "selection":
        for pair, row in chosen_rows(results, "evaluation", task).items():
            found.setdefault(pair, row)
    return found


def shared_seeds(results: dict) -> bool:
    """True when selection and evaluation shared seeds (a file upgraded from schema 1)."""
    return results["meta"].get("upgraded_from") == 1


def ordered(names, preferred) -> list[str]:
    """`names` in the order of `preferred` (the config's order), unknown names last, sorted."""
    preferred = list(preferred or [])
    known = [name for name in preferred if name in names]
    return known + sorted(set(names) - set(known))


def optimizers_of(results: dict, task: str) -> list[str]:
    names = {row["optimizer"] for row in results["summary"] if row["task"] == task}
    return ordered(names, results["meta"]["config"].get("optimizers"))


def inits_of(results: dict, task: str) -> list[str]:
    names = {row["init"] for row in results["summary"] if row["task"] == task}
    return ordered(names, results["meta"]["config"].get("inits"))
