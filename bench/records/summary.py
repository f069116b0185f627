"""Per-configuration summary rows: the `summary` of a results file (README, "Results format" and
"Methodology"; docs/methodology.md), one row per (task, optimizer, init, phase, trial), every
seed counted.

A failed run counts in every mean and interval with the accuracy it measured, or with chance
(1 / classes) where it measured nothing finite (`bench.records.per_run`); unstable runs are counted
beside the failures. Accuracy intervals are bootstrap intervals over seeds
(`bench.records.estimators.bootstrap_interval`, never clipped); an evaluation row also carries the
interval of the method on the task, seeds and test examples both resampled
(`test_accuracy_task_ci95`, added by `add_task_intervals` where the test set's size is known).
Speed is censored data: a seed that never reached the target (or failed) is censored at the end
of training, the median steps to target is the Kaplan-Meier median over all seeds
(`bench.records.estimators.censored_median`), and a crossing is known only to the evaluation
grid: the median stands for an interval (previous evaluation, evaluation], and its confidence
interval's lower end opens one evaluation earlier.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from bench.records.choices import annotate_choices
from bench.records.estimators import bootstrap_interval, censored_median, grid_bounds, previous_step, task_interval
from bench.records.keys import cell_of, lr_key, unit_of
from bench.records.per_run import stability_fields
from bench.records.selection import choose
from bench.records.values import counted_accuracy

CELL_KEYS = ("task", "optimizer", "init", "phase", "trial")


def summarize(records: Iterable[dict[str, Any]], seconds_per_step: Mapping[tuple, float | None],
              *, num_classes: Mapping[str, int], intervals: bool = True,
              search_spaces: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per (task, optimizer, init, phase, trial), in first-seen order, `chosen` marked,
    each chosen configuration's `grid_edge` and `choice_stability` set (`bench.records.choices`).

    `seconds_per_step` maps (task, optimizer, phase) (or (task, optimizer)) to the program's
    wall time per step. `num_classes` maps each task to its number of classes: chance, the
    accuracy a failed run counts with where it measured nothing finite, is 1 / that. The chosen
    configuration of each (task, optimizer, init) is `bench.records.selection.choose` over its
    selection rows (over its evaluation rows where it has none, e.g. an optimizer with a single
    candidate); the evaluation rows of that configuration are marked chosen too.

    `intervals=False` leaves the bootstrap intervals and the choice's stability out (null): for
    a caller that only needs the choice (`chosen_trials`, between a run's two phases).
    `search_spaces` (optimizer -> its searched space, `tune`'s `meta.config.search_space`): a
    searched optimizer's `grid_edge` is judged against its space's learning-rate bounds, not
    against the values a few trials happened to draw.
    """
    records = list(records)
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        cells[tuple(record[key] for key in CELL_KEYS)].append(record)
    summary = []
    for cell, members in cells.items():
        members = sorted(members, key=lambda record: record["seed"])
        task, optimizer, _, phase, _ = cell
        seconds = seconds_per_step.get((task, optimizer, phase), seconds_per_step.get((task, optimizer)))
        summary.append(summary_row(members, 1.0 / num_classes[task], seconds, intervals=intervals))
    mark_chosen(summary)
    annotate_choices(summary, records, {task: 1.0 / classes for task, classes in num_classes.items()},
                     stability=intervals, search_spaces=search_spaces)
    return summary


def chosen_trials(records: Iterable[dict[str, Any]], *, num_classes: Mapping[str, int]
                  ) -> dict[tuple, int]:
    """(init, budget) -> the trial chosen for it (`bench.records.selection.choose`; budget None
    where runs have one), from the selection records of one (task, optimizer): which
    configuration its evaluation seeds train."""
    rows = summarize(records, {}, num_classes=num_classes, intervals=False)
    return {(init, budget): row["trial"] for (_, _, init, budget), row in choose(rows).items()}


def summary_row(members: list[dict[str, Any]], chance: float, seconds_per_step: float | None,
                intervals: bool = True) -> dict[str, Any]:
    """The statistics of one configuration's runs (one phase): every seed counts."""
    first = members[0]
    n_seeds = len(members)
    n_failed = sum(record["failed"] for record in members)
    val = [counted_accuracy(record["final_val_accuracy"], chance) for record in members]
    evaluation = first["phase"] == "evaluation"
    test = [counted_accuracy(record["final_test_accuracy"], chance) for record in members]
    grid = sorted({int(step) for record in members for step in record["curve"]["step"]})
    horizon = grid[-1] if grid else 0
    times = [record["steps_to_target"] for record in members]
    median, interval = censored_median(times, horizon)
    per_step = next((record["examples_to_target"] / record["steps_to_target"] for record in members
                     if record["examples_to_target"] is not None and record["steps_to_target"]), None)
    # on the evaluation grid: the median stands for (previous evaluation, evaluation], and the
    # interval's lower end opens at the evaluation before the one where it was seen
    median_bounds = grid_bounds(median, grid)
    if interval is not None:
        interval = (previous_step(interval[0], grid), interval[1])
    interval_of = bootstrap_interval if intervals else (lambda values: None)
    return {
        **{key: first[key] for key in ("task", "optimizer", "init", "phase", "trial", "lr")},
        "hyperparams": dict(first["hyperparams"]),
        "seeds": [record["seed"] for record in members],
        "n_seeds": n_seeds, "n_failed": n_failed, "failed_fraction": n_failed / n_seeds,
        "n_diverged": sum(record["diverged"] for record in members),
        "n_unstable": sum(stability_fields(record)["unstable"] for record in members),
        "val_accuracy_mean": float(np.mean(val)), "val_accuracy_ci95": _listed(interval_of(val)),
        "test_accuracy_mean": float(np.mean(test)) if evaluation else None,
        "test_accuracy_ci95": _listed(interval_of(test)) if evaluation else None,
        "test_accuracy_task_ci95": None,  # add_task_intervals: it needs the test set's size
        "steps_to_target_median": median, "steps_to_target_median_interval": _listed(median_bounds),
        "steps_to_target_ci95": _listed(interval),
        "examples_to_target_median": _scaled(median, per_step),
        "examples_to_target_median_interval": _scaled_interval(median_bounds, per_step),
        "examples_to_target_ci95": _scaled_interval(interval, per_step),
        "reached_fraction": sum(time is not None for time in times) / n_seeds,
        "chosen": False, "n_candidates": 1, "grid_edge": None, "choice_stability": None,
        "seconds_per_step": seconds_per_step,
    }


def accuracy_ci95(accuracies: Sequence[float]) -> list[float] | None:
    """The bootstrap interval of a mean accuracy over seeds (never clipped: it lies within the
    seeds' range); None with fewer than two."""
    return _listed(bootstrap_interval(accuracies))


def add_task_intervals(summary: list[dict[str, Any]], records: Iterable[dict[str, Any]],
                       settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Set `test_accuracy_task_ci95` on every evaluation row (in place): the two-level bootstrap
    interval of `bench.records.estimators.task_interval`, "this method on the task", from the
    row's runs and its task's `n_test` and `num_classes` (`settings`: task -> its settings).
    Null where the test set's size is not known or the row has fewer than two seeds."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        if record["phase"] == "evaluation":
            cells[cell_of(record)].append(record)
    for row in summary:
        if row["phase"] != "evaluation":
            row["test_accuracy_task_ci95"] = None
            continue
        task = settings.get(row["task"], {})
        chance = 1.0 / task["num_classes"] if task.get("num_classes") else 0.0
        test = [counted_accuracy(record["final_test_accuracy"], chance) for record in cells.get(cell_of(row), [])]
        row["test_accuracy_task_ci95"] = _listed(task_interval(test, task.get("n_test")))


def _listed(interval) -> list | None:
    return None if interval is None else [None if bound is None else float(bound) for bound in interval]


def _scaled(steps: float | None, per_step: float | None) -> float | None:
    return None if steps is None or per_step is None else float(steps * per_step)


def _scaled_interval(interval, per_step: float | None) -> list | None:
    if interval is None or per_step is None:
        return None
    return [_scaled(bound, per_step) for bound in interval]


def mark_chosen(summary: list[dict[str, Any]]) -> None:
    """Flag each (task, optimizer, init, budget)'s chosen configuration
    (`bench.records.selection.choose`) in its selection row and in its evaluation rows."""
    selection = choose(row for row in summary if row["phase"] == "selection")
    evaluation_only = {pair: row for pair, row in choose(
        row for row in summary if row["phase"] == "evaluation").items() if pair not in selection}
    chosen = {pair: _configuration(row) for pair, row in {**selection, **evaluation_only}.items()}
    for row in summary:
        row["chosen"] = chosen.get(unit_of(row)) == _configuration(row)


def _configuration(row: dict) -> tuple:
    return (row["trial"], lr_key(row["lr"]))
