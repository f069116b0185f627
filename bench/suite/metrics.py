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

CELL_KEYS = ("task", "optimizer", "init", "lr")


def steps_to_target(steps: np.ndarray, val_accuracy: np.ndarray, target: float) -> int | None:
    """The first evaluated step whose validation accuracy is >= target, or None."""
    reached = np.flatnonzero(val_accuracy >= target)
    return int(steps[reached[0]]) if reached.size else None


def run_records(task: str, optimizer: str, runs: Sequence[Run], output: RunOutput,
                target: float) -> list[dict[str, Any]]:
    records = []
    for i, run in enumerate(runs):
        diverged = not bool(output.finite[i].all() and output.params_finite[i]
                            and np.isfinite(output.val_accuracy[i]).all())
        records.append({
            "task": task, "optimizer": optimizer, "init": run.init, "lr": run.lr, "seed": run.seed,
            "final_test_accuracy": None if diverged else finite_or_none(output.test_accuracy[i]),
            "final_val_accuracy": None if diverged else float(output.val_accuracy[i, -1]),
            "final_train_loss": None if diverged else finite_or_none(output.train_loss[i, -1]),
            "steps_to_target": None if diverged else steps_to_target(
                output.steps, output.val_accuracy[i], target),
            "diverged": diverged,
            "curve": {
                "step": [int(s) for s in output.steps],
                "train_loss": [finite_or_none(v) for v in output.train_loss[i]],
                "val_accuracy": [finite_or_none(v) for v in output.val_accuracy[i]],
            },
        })
    return records


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
            "seconds_per_step": seconds_per_step.get(cell[:2]),
            "best_lr": False,
        })
    mark_best_lr(summary)
    return summary


def mark_best_lr(summary: list[dict[str, Any]]) -> None:
    """Per (task, optimizer, init), the lr with the best mean validation accuracy.

    Chosen on validation, reported on test. A cell where every seed diverged never wins; ties
    go to the cell with fewer divergences, then to the smaller learning rate.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary:
        groups[(row["task"], row["optimizer"], row["init"])].append(row)
    for rows in groups.values():
        ranked = sorted(rows, key=lambda r: (
            r["val_accuracy_mean"] is None,
            -(r["val_accuracy_mean"] or 0.0), r["diverged_fraction"], r["lr"]))
        ranked[0]["best_lr"] = True
