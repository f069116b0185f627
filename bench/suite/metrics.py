"""Per-run records and per-cell summaries (the `runs` and `summary` of a results file).

A diverged run (a non-finite training loss at any step) keeps its record but has null final
metrics; it is left out of every mean and counts as not reaching the target.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from bench.analysis.stats import mean_ci95
from bench.results.document import finite_or_none
from bench.runner import Run, RunOutput

CELL_KEYS = ("task", "optimizer", "init", "lr", "phase")


def steps_to_target(steps: np.ndarray, val_accuracy: np.ndarray, target: float) -> int | None:
    """The first evaluated step whose validation accuracy is >= target, or None."""
    reached = np.flatnonzero(val_accuracy >= target)
    return int(steps[reached[0]]) if reached.size else None


EXPLODE_FACTOR = 10.0


def failure_of(output: RunOutput, i: int) -> str | None:
    """"non-finite", "exploded" or None for run i (rule: /work/contracts.md, README Methodology)."""
    finite = bool(output.finite[i].all() and output.params_finite[i]
                  and np.isfinite(output.val_accuracy[i]).all()
                  and np.isfinite(output.initial_train_loss[i]))
    if not finite:
        return "non-finite"
    if np.max(output.train_loss_max[i]) > EXPLODE_FACTOR * output.initial_train_loss[i]:
        return "exploded"
    return None


def run_records(task: str, optimizer: str, runs: Sequence[Run], output: RunOutput, *,
                target: float, phase: str = "evaluation", examples_per_step: int = 1,
                num_classes: int | None = None) -> list[dict[str, Any]]:
    records = []
    for i, run in enumerate(runs):
        failure = failure_of(output, i)
        reached = None if failure else steps_to_target(output.steps, output.val_accuracy[i], target)
        records.append({
            "task": task, "optimizer": optimizer, "init": run.init, "lr": run.lr, "seed": run.seed,
            "phase": phase, "trial": run.trial, "hyperparams": run.described(),
            "initial_train_loss": finite_or_none(output.initial_train_loss[i]),
            "final_test_accuracy": finite_or_none(output.test_accuracy[i]),
            "final_val_accuracy": finite_or_none(output.val_accuracy[i, -1]),
            "final_train_loss": finite_or_none(output.train_loss[i, -1]),
            "steps_to_target": reached,
            "examples_to_target": None if reached is None else reached * examples_per_step,
            "failed": failure is not None, "failure": failure,
            "diverged": failure == "non-finite",
            "curve": {
                "step": [int(s) for s in output.steps],
                "train_loss": [finite_or_none(v) for v in output.train_loss[i]],
                "train_loss_max": [finite_or_none(v) for v in output.train_loss_max[i]],
                "val_accuracy": [finite_or_none(v) for v in output.val_accuracy[i]],
            },
        })
    return records


def choose(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """init -> the trial with the best mean validation accuracy over all its seeds (a failed
    run counts at what it measured, or 0), for the records of one (task, optimizer)."""
    by_trial: dict[tuple[str, int], list[float]] = defaultdict(list)
    for record in records:
        value = record["final_val_accuracy"]
        by_trial[(record["init"], record["trial"])].append(0.0 if value is None else value)
    best: dict[str, tuple[float, int]] = {}
    for (init, trial), values in sorted(by_trial.items()):
        score = float(np.mean(values))
        if init not in best or score > best[init][0]:
            best[init] = (score, trial)
    return {init: trial for init, (_, trial) in best.items()}


def summarize(records: Iterable[dict[str, Any]],
              seconds_per_step: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """One row per cell (task, optimizer, init, lr), in first-seen order, with `best_lr` marked."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        cells[tuple(record[key] for key in CELL_KEYS)].append(record)
    summary = []
    for cell, members in cells.items():
        alive = [r for r in members if not r["diverged"]]
        test = [r["final_test_accuracy"] for r in alive]
        val = [r["final_val_accuracy"] for r in alive]
        test_ci = mean_ci95(test)
        reached = [r["steps_to_target"] for r in alive if r["steps_to_target"] is not None]
        summary.append({
            **dict(zip(CELL_KEYS, cell)),
            "n_seeds": len(members),
            "n_diverged": len(members) - len(alive),
            "test_accuracy_mean": float(np.mean(test)) if test else None,
            "test_accuracy_ci95": list(test_ci) if test_ci else None,
            "val_accuracy_mean": float(np.mean(val)) if val else None,
            "steps_to_target_median": float(np.median(reached)) if reached else None,
            "reached_fraction": len(reached) / len(members),
            "diverged_fraction": (len(members) - len(alive)) / len(members),
            "seconds_per_step": seconds_per_step.get((cell[0], cell[1], cell[4])),
            "best_lr": False,
        })
    mark_best_lr(summary)
    return summary


def mark_best_lr(summary: list[dict[str, Any]]) -> None:
    """The reported row of each (task, optimizer, init): its evaluation row (the configuration
    chosen on the selection seeds' validation accuracy, trained on the evaluation seeds)."""
    for row in summary:
        row["best_lr"] = row["phase"] == "evaluation"
