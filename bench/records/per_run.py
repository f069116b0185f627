"""Per-run records: what one program's outputs say about each of its runs, the `runs` of a
results file (README, "Results format" and "Methodology").

A run **fails** when it goes non-finite (any training loss, the parameters after the last update,
or any evaluation) or **explodes**: its training loss at some step exceeds EXPLODE_FACTOR times
its loss before any update. A failed run keeps its record; it never reaches the target, and in
every mean and interval it counts with the accuracy it measured, or with chance (1 / classes)
where it measured nothing finite, so nothing vanishes from an average (`bench.records.summary`).

A run that did not fail is **unstable** when its final validation accuracy lies more than
UNSTABLE_DROP below the best it reached during training (`peak_val_accuracy`): it learned, then
lost it (an sgd seed that peaks at 0.52 and ends at 0.26). It counts at what it measured, like
every run; summary rows and reports count it beside the failures, so it is never silent.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from bench.records.values import finite_or_none

# Ten times the loss before any update. The cross-entropy of an untrained classifier is about
# log(classes) (2.3 for ten): a healthy run never comes near 10x, while the runs that blow up
# and then sit at chance (dead ReLUs after a huge step: 1e4 to 1e10 at lr 10) pass it by
# orders of magnitude within a few steps. The program records each evaluation period's maximum,
# not only its mean: a one-step spike averaged over 25 steps would hide under the threshold.
EXPLODE_FACTOR = 10.0
# Ten points of accuracy below the run's own peak. Healthy runs end within a point or two of
# their peak (99% of the default suite's within 3.5 points); the collapses this flags lose tens.
UNSTABLE_DROP = 0.10
# float32 accuracies: a drop of exactly 10 points reads 0.1000000015, which is not "more than 10"
_ROUNDING = 1e-6


def peak_val_accuracy(val_accuracy: Sequence[float | None]) -> float | None:
    """The best validation accuracy a run measured during training (None if it measured none)."""
    measured = [value for value in val_accuracy if value is not None]
    return max(measured) if measured else None


def is_unstable(final_val_accuracy: float | None, peak: float | None, failed: bool) -> bool:
    """A run that did not fail, ending more than UNSTABLE_DROP below its peak."""
    return (not failed and final_val_accuracy is not None and peak is not None
            and peak - final_val_accuracy > UNSTABLE_DROP + _ROUNDING)


def stability_fields(record: dict) -> dict:
    """`peak_val_accuracy` and `unstable` of a run record: as recorded, or computed from its curve
    (a record written before schema 3)."""
    if "unstable" in record and "peak_val_accuracy" in record:
        return {"peak_val_accuracy": record["peak_val_accuracy"], "unstable": record["unstable"]}
    peak = peak_val_accuracy(record["curve"]["val_accuracy"])
    return {"peak_val_accuracy": peak,
            "unstable": is_unstable(record["final_val_accuracy"], peak, record["failed"])}


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


def run_records(task: str, optimizer: str, runs: Sequence[Any], output: Any, *,
                target: float, phase: str, examples_per_step: int) -> list[dict[str, Any]]:
    """One run record per run of one program (RunOutput v2; /work/contracts.md).

    `runs` are the program's `bench.runner.Run`s and `output` its `bench.runner.RunOutput`,
    only read here (their fields and `Run.described()`), so records import nothing of the runner
    and its jax.

    `examples_per_step` is the batch size, or the training set's size for full-batch methods.
    A selection run's test accuracy is null whatever the program measured. An accuracy is kept
    only where the model that measured it was finite: null in a period whose losses were not
    all finite, and null at the end when the parameters are not. A run with a budget (its
    hyperparameter "budget", below the program's steps) is recorded to its budget: its state
    stayed as it was after it, so its test accuracy is its budget's.
    """
    if phase not in ("selection", "evaluation"):
        raise ValueError(f"phase must be 'selection' or 'evaluation', got {phase!r}")
    all_steps = np.asarray(output.steps)
    records = []
    for i, run in enumerate(runs):
        budget = dict(run.hyperparams).get("budget")
        kept = len(all_steps) if budget is None else int(np.sum(all_steps <= budget))
        steps = all_steps[:kept]
        initial = float(output.initial_train_loss[i])
        finite = np.asarray(output.finite[i][:kept], dtype=bool)
        params_finite = bool(output.params_finite[i])
        test = float(output.test_accuracy[i]) if phase == "evaluation" else 0.0
        val = np.asarray(output.val_accuracy[i][:kept], float)
        failure = failure_of(initial, output.train_loss_max[i][:kept], finite, params_finite,
                             [*val, test])
        val_curve = [float(v) if ok and math.isfinite(v) else None for v, ok in zip(val, finite)]
        final_ok = params_finite and bool(finite[-1])
        reached = None if failure else steps_to_target(steps, val_curve, target)
        final_val = val_curve[-1] if final_ok else None
        peak = peak_val_accuracy(val_curve)
        records.append({
            "task": task, "optimizer": optimizer, "init": run.init, "seed": int(run.seed),
            "phase": phase, "trial": int(run.trial), "lr": float(run.lr),
            "hyperparams": run.described(),  # learning_rate included, a schedule by its name
            "initial_train_loss": finite_or_none(initial),
            "final_train_loss": finite_or_none(output.train_loss[i][kept - 1]),
            "final_val_accuracy": final_val, "peak_val_accuracy": peak,
            "final_test_accuracy": finite_or_none(test) if final_ok and phase == "evaluation" else None,
            "steps_to_target": reached,
            "examples_to_target": None if reached is None else reached * int(examples_per_step),
            "failed": failure is not None, "failure": failure, "diverged": failure == "non-finite",
            "unstable": is_unstable(final_val, peak, failure is not None),
            "curve": {
                "step": [int(s) for s in steps],
                "train_loss": [finite_or_none(v) for v in output.train_loss[i][:kept]],
                "train_loss_max": [finite_or_none(v) for v in output.train_loss_max[i][:kept]],
                "val_accuracy": val_curve,
            },
        })
    return records
