"""Per-run records and per-configuration summaries: the `runs` and `summary` of a results file
(README, "Results format" and "Methodology").

A run **fails** when it goes non-finite (any training loss, the parameters after the last update,
or any evaluation) or **explodes**: its training loss at some step exceeds EXPLODE_FACTOR times
its loss before any update. A failed run keeps its record; it never reaches the target, and in
every mean and interval it counts with the accuracy it measured, or with chance (1 / classes)
where it measured nothing finite, so nothing vanishes from an average.

Speed is censored data: a seed that never reached the target (or failed) is censored at the end
of training, and the median steps to target is the Kaplan-Meier median over all seeds
(`bench.records.estimators.censored_median`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from bench.records.estimators import censored_median, mean_ci95
from bench.records.keys import lr_key
from bench.records.selection import choose
from bench.records.values import counted_accuracy, finite_or_none

if TYPE_CHECKING:  # the runner imports jax; metrics only reads its outputs
    from bench.runner import Run, RunOutput

# Ten times the loss before any update. The cross-entropy of an untrained classifier is about
# log(classes) (2.3 for ten): a healthy run never comes near 10x, while the runs that blow up
# and then sit at chance (dead ReLUs after a huge step: 1e4 to 1e10 at lr 10) pass it by
# orders of magnitude within a few steps. The program records each evaluation period's maximum,
# not only its mean: a one-step spike averaged over 25 steps would hide under the threshold.
EXPLODE_FACTOR = 10.0

CELL_KEYS = ("task", "optimizer", "init", "phase", "trial")


def steps_to_target(steps: np.ndarray, val_accuracy: Sequence[float | None], target: float) -> int | None:
    """The first evaluated step whose validation accuracy is >= target, or None."""
    for step, accuracy in zip(steps, val_accuracy):
        if accuracy is not None and accuracy >= target:
            return int(step)
    return None


def failure_of(initial_train_loss: float, train_loss_max: np.ndarray, finite: np.ndarray,
               params_finite: bool, evaluations: Iterable[float]) -> str | None:
    """"non-finite", "exploded" or None (see the module docstring); non-finite wins."""
    if (not math.isfinite(initial_train_loss) or not bool(np.all(finite)) or not params_finite
            or not all(math.isfinite(value) for value in evaluations)):
        return "non-finite"
    if bool(np.any(np.asarray(train_loss_max) > EXPLODE_FACTOR * initial_train_loss)):
        return "exploded"
    return None


def run_records(task: str, optimizer: str, runs: Sequence["Run"], output: "RunOutput", *,
                target: float, phase: str, examples_per_step: int) -> list[dict[str, Any]]:
    """One schema-2 run record per run of one program (RunOutput v2; /work/contracts.md).

    `examples_per_step` is the batch size, or the training set's size for full-batch methods.
    A selection run's test accuracy is null whatever the program measured. An accuracy is kept
    only where the model that measured it was finite: null in a period whose losses were not
    all finite, and null at the end when the parameters are not.
    """
    if phase not in ("selection", "evaluation"):
        raise ValueError(f"phase must be 'selection' or 'evaluation', got {phase!r}")
    steps = np.asarray(output.steps)
    records = []
    for i, run in enumerate(runs):
        initial = float(output.initial_train_loss[i])
        finite = np.asarray(output.finite[i], dtype=bool)
        params_finite = bool(output.params_finite[i])
        test = float(output.test_accuracy[i]) if phase == "evaluation" else 0.0
        failure = failure_of(initial, output.train_loss_max[i], finite, params_finite,
                             [*np.asarray(output.val_accuracy[i], float), test])
        val_curve = [float(v) if ok and math.isfinite(v) else None
                     for v, ok in zip(np.asarray(output.val_accuracy[i], float), finite)]
        final_ok = params_finite and bool(finite[-1])
        reached = None if failure else steps_to_target(steps, val_curve, target)
        records.append({
            "task": task, "optimizer": optimizer, "init": run.init, "seed": int(run.seed),
            "phase": phase, "trial": int(run.trial), "lr": float(run.lr),
            "hyperparams": run.described(),  # learning_rate included, a schedule by its name
            "initial_train_loss": finite_or_none(initial),
            "final_train_loss": finite_or_none(output.train_loss[i][-1]),
            "final_val_accuracy": val_curve[-1] if final_ok else None,
            "final_test_accuracy": finite_or_none(test) if final_ok and phase == "evaluation" else None,
            "steps_to_target": reached,
            "examples_to_target": None if reached is None else reached * int(examples_per_step),
            "failed": failure is not None, "failure": failure, "diverged": failure == "non-finite",
            "curve": {
                "step": [int(s) for s in steps],
                "train_loss": [finite_or_none(v) for v in output.train_loss[i]],
                "train_loss_max": [finite_or_none(v) for v in output.train_loss_max[i]],
                "val_accuracy": val_curve,
            },
        })
    return records


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
    """Flag each (task, optimizer, init)'s chosen configuration (`bench.records.selection.choose`) in its
    selection row and in its evaluation rows."""
    selection = choose(row for row in summary if row["phase"] == "selection")
    evaluation_only = {pair: row for pair, row in choose(
        row for row in summary if row["phase"] == "evaluation").items() if pair not in selection}
    chosen = {pair: _configuration(row) for pair, row in {**selection, **evaluation_only}.items()}
    for row in summary:
        row["chosen"] = chosen.get((row["task"], row["optimizer"], row["init"])) == _configuration(row)


def _configuration(row: dict) -> tuple:
    return (row["trial"], lr_key(row["lr"]))
