"""Per-configuration summary rows: the `summary` of a results file (README, "Results format" and
"Methodology"), one row per (task, optimizer, init, phase, trial), every seed counted.

A failed run counts in every mean and interval with the accuracy it measured, or with chance
(1 / classes) where it measured nothing finite (`bench.records.per_run`). Speed is censored data: a
seed that never reached the target (or failed) is censored at the end of training, and the
median steps to target is the Kaplan-Meier median over all seeds
(`bench.records.estimators.censored_median`).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from bench.records.estimators import censored_median, mean_ci95
from bench.records.keys import lr_key
from bench.records.selection import choose
from bench.records.values import counted_accuracy

CELL_KEYS = ("task", "optimizer", "init", "phase", "trial")


def summarize(records: Iterable[dict[str, Any]], seconds_per_step: Mapping[tuple, float | None],
              *, num_classes: Mapping[str, int]) -> list[dict[str, Any]]:
    """One row per (task, optimizer, init, phase, trial), in first-seen order, `chosen` marked.

    `seconds_per_step` maps (task, optimizer, phase) (or (task, optimizer)) to the program's
    wall time per step. `num_classes` maps each task to its number of classes: chance, the
    accuracy a failed run counts with where it measured nothing finite, is 1 / that. The chosen
    configuration of each (task, optimizer, init) is `bench.records.selection.choose` over its
    selection rows (over its evaluation rows where it has none, e.g. an optimizer with a single
    candidate); the evaluation rows of that configuration are marked chosen too.
    """
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        cells[tuple(record[key] for key in CELL_KEYS)].append(record)
    summary = []
    for cell, members in cells.items():
        members = sorted(members, key=lambda record: record["seed"])
        task, optimizer, _, phase, _ = cell
        seconds = seconds_per_step.get((task, optimizer, phase), seconds_per_step.get((task, optimizer)))
        summary.append(summary_row(members, 1.0 / num_classes[task], seconds))
    mark_chosen(summary)
    return summary


def chosen_trials(records: Iterable[dict[str, Any]], *, num_classes: Mapping[str, int]) -> dict[str, int]:
    """init -> the trial chosen for it (`bench.records.selection.choose`), from the selection
    records of one (task, optimizer): which configuration its evaluation seeds train."""
    rows = summarize(records, {}, num_classes=num_classes)
    return {init: row["trial"] for (_, _, init), row in choose(rows).items()}


def summary_row(members: list[dict[str, Any]], chance: float, seconds_per_step: float | None
                ) -> dict[str, Any]:
    """The statistics of one configuration's runs (one phase): every seed counts."""
    first = members[0]
    n_seeds = len(members)
    n_failed = sum(record["failed"] for record in members)
    val = [counted_accuracy(record["final_val_accuracy"], chance) for record in members]
    evaluation = first["phase"] == "evaluation"
    test = [counted_accuracy(record["final_test_accuracy"], chance) for record in members]
    horizon = max(record["curve"]["step"][-1] if record["curve"]["step"] else 0 for record in members)
    times = [record["steps_to_target"] for record in members]
    median, interval = censored_median(times, horizon)
    per_step = next((record["examples_to_target"] / record["steps_to_target"] for record in members
                     if record["examples_to_target"] is not None and record["steps_to_target"]), None)
    return {
        **{key: first[key] for key in ("task", "optimizer", "init", "phase", "trial", "lr")},
        "hyperparams": dict(first["hyperparams"]),
        "seeds": [record["seed"] for record in members],
        "n_seeds": n_seeds, "n_failed": n_failed, "failed_fraction": n_failed / n_seeds,
        "n_diverged": sum(record["diverged"] for record in members),
        "val_accuracy_mean": float(np.mean(val)), "val_accuracy_ci95": accuracy_ci95(val),
        "test_accuracy_mean": float(np.mean(test)) if evaluation else None,
        "test_accuracy_ci95": accuracy_ci95(test) if evaluation else None,
        "steps_to_target_median": median, "steps_to_target_ci95": _listed(interval),
        "examples_to_target_median": _scaled(median, per_step),
        "examples_to_target_ci95": _listed(None if interval is None or per_step is None
                                           else [_scaled(bound, per_step) for bound in interval]),
        "reached_fraction": sum(time is not None for time in times) / n_seeds,
        "chosen": False, "seconds_per_step": seconds_per_step,
    }


def accuracy_ci95(accuracies: Sequence[float]) -> list[float] | None:
    """The t interval of a mean accuracy, clipped to [0, 1] where an accuracy lives (a t
    interval is symmetric: over a few seeds split between chance and 0.9 it reaches below 0)."""
    interval = mean_ci95(accuracies)
    return None if interval is None else [float(np.clip(bound, 0.0, 1.0)) for bound in interval]


def _listed(interval) -> list | None:
    return None if interval is None else [None if bound is None else float(bound) for bound in interval]


def _scaled(steps: float | None, per_step: float | None) -> float | None:
    return None if steps is None or per_step is None else float(steps * per_step)


def mark_chosen(summary: list[dict[str, Any]]) -> None:
    """Flag each (task, optimizer, init)'s chosen configuration (`bench.records.selection.choose`)
    in its selection row and in its evaluation rows."""
    selection = choose(row for row in summary if row["phase"] == "selection")
    evaluation_only = {pair: row for pair, row in choose(
        row for row in summary if row["phase"] == "evaluation").items() if pair not in selection}
    chosen = {pair: _configuration(row) for pair, row in {**selection, **evaluation_only}.items()}
    for row in summary:
        row["chosen"] = chosen.get((row["task"], row["optimizer"], row["init"])) == _configuration(row)


def _configuration(row: dict) -> tuple:
    return (row["trial"], lr_key(row["lr"]))
