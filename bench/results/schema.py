"""The results document's format (docs/results-format.md): its versions, its keys, building
a document and its CSV rows, and the schema of each version, record by record, made of the field
checks of `bench.results.checks`.
"""
from __future__ import annotations

import json
from typing import Any

from bench.results.checks import (Check, Problem, boolean, either, interval, list_of, mapping_of, nullable,
                                  number, one_of, record, text)

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
PHASES = ("selection", "evaluation")
# A program that trains one configuration (nothing to choose) runs both phases' seeds at once.
BOTH_PHASES = "selection+evaluation"
FAILURES = ("non-finite", "exploded")

# The keys every version has at the top level (what makes a file an initopt results file);
# schema 3 adds VERDICTS_KEY, and (optional: a document of two or more tasks, complete) AGGREGATES_KEY.
TOP_LEVEL_KEYS = ("schema_version", "meta", "runs", "summary")
VERDICTS_KEY = "verdicts"
AGGREGATES_KEY = "aggregates"
RUN_KEYS_2 = ("task", "optimizer", "init", "seed", "phase", "trial", "lr", "hyperparams",
              "initial_train_loss", "final_train_loss", "final_val_accuracy", "final_test_accuracy",
              "steps_to_target", "examples_to_target", "failed", "failure", "diverged", "curve")
RUN_KEYS = ("task", "optimizer", "init", "seed", "phase", "trial", "lr", "hyperparams",
            "initial_train_loss", "final_train_loss", "final_val_accuracy", "peak_val_accuracy",
            "final_test_accuracy", "steps_to_target", "examples_to_target", "failed", "failure",
            "diverged", "unstable", "curve")
CURVE_KEYS = ("step", "train_loss", "train_loss_max", "val_accuracy")
SUMMARY_KEYS_2 = ("task", "optimizer", "init", "phase", "trial", "lr", "hyperparams", "seeds",
                  "n_seeds", "n_failed", "failed_fraction", "n_diverged",
                  "val_accuracy_mean", "val_accuracy_ci95", "test_accuracy_mean", "test_accuracy_ci95",
                  "steps_to_target_median", "steps_to_target_ci95",
                  "examples_to_target_median", "examples_to_target_ci95",
                  "reached_fraction", "chosen", "seconds_per_step")
SUMMARY_KEYS = ("task", "optimizer", "init", "phase", "trial", "lr", "hyperparams", "seeds",
                "n_seeds", "n_failed", "failed_fraction", "n_diverged", "n_unstable",
                "val_accuracy_mean", "val_accuracy_ci95", "test_accuracy_mean", "test_accuracy_ci95",
                "test_accuracy_task_ci95",
                "steps_to_target_median", "steps_to_target_median_interval", "steps_to_target_ci95",
                "examples_to_target_median", "examples_to_target_median_interval", "examples_to_target_ci95",
                "reached_fraction", "chosen", "n_candidates", "grid_edge", "choice_stability",
                "seconds_per_step")
INTERVAL_KEYS = ("val_accuracy_ci95", "test_accuracy_ci95", "test_accuracy_task_ci95",
                 "steps_to_target_median_interval", "steps_to_target_ci95",
                 "examples_to_target_median_interval", "examples_to_target_ci95")
VERDICT_KEYS = ("task", "held_fixed", "best", "method", "level")
# The CSV beside the JSON: one column per summary key, each interval split in two.
SUMMARY_COLUMNS = tuple(column for key in SUMMARY_KEYS for column in (
    (f"{key}_low", f"{key}_high") if key in INTERVAL_KEYS else (key,)))


def build(meta: dict[str, Any], runs: list[dict[str, Any]], summary: list[dict[str, Any]],
          statistics: bool = True) -> dict[str, Any]:
    """The document as written: the version first, then provenance, runs, their summary, the
    verdicts of every comparison table (`bench.records.verdicts`) and, for two or more tasks, the
    aggregates across tasks (`bench.records.aggregates`: IQMs, probabilities of improvement).

    What needs the tasks' settings is completed here, where `meta` and the runs meet: each
    evaluation row's interval over seeds and test examples (`test_accuracy_task_ci95`, from
    `n_test`; set in place on `summary`), and the best sets. `statistics=False` leaves them
    out (null intervals, no verdicts, no aggregates): the saves a run makes between programs,
    which the complete file replaces. With several budgets, verdicts and aggregates are each
    budget's (`bench.records.budgets`).
    """
    from bench.records.aggregates import aggregates
    from bench.records.budgets import per_budget_aggregates, per_budget_verdicts
    from bench.records.summary import add_task_intervals
    from bench.records.verdicts import verdicts

    config = meta.get("config") or {}
    settings = {entry["task"]: entry for entry in config.get("tasks") or []}
    if statistics:
        add_task_intervals(summary, runs, settings)
    document = {"schema_version": SCHEMA_VERSION, "meta": meta, "runs": runs, "summary": summary}
    # with several budgets (`run --budgets`), each budget's own: its held_fixed names it
    document[VERDICTS_KEY] = per_budget_verdicts(document, verdicts) if statistics else []
    across = per_budget_aggregates(document, aggregates) if statistics else None
    if across is not None:
        document[AGGREGATES_KEY] = across
    return document


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A summary row as a CSV line (keys: SUMMARY_COLUMNS): intervals split in two, the seeds
    space-separated, the hyperparameters as JSON."""
    flat = {}
    for key in SUMMARY_KEYS:
        value = row.get(key)
        if key in INTERVAL_KEYS:
            flat[f"{key}_low"], flat[f"{key}_high"] = value or (None, None)
        elif key == "seeds":
            flat[key] = " ".join(map(str, value or []))
        elif key == "hyperparams":
            flat[key] = json.dumps(value, sort_keys=True)
        else:
            flat[key] = value
    return flat


# -- the schemas, record by record ---------------------------------------------------------------

def _curve_agrees(curve: dict) -> str | None:
    lengths = {key: len(values) for key, values in curve.items() if key in CURVE_KEYS}
    if len(set(lengths.values())) > 1:
        return "lists of unequal length (" + ", ".join(f"{k} {n}" for k, n in lengths.items()) + ")"
    steps = curve["step"]
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        return Problem(".step", "steps are not increasing")
    return None


SEED = number(0, integer=True, what="a seed (a non-negative integer)")
COUNT = number(0, integer=True, what="a count (a non-negative integer)")
POSITIVE_COUNT = number(1, integer=True, what="a positive integer")
ACCURACY = number(0.0, 1.0, what="an accuracy")
FRACTION = number(0.0, 1.0, what="a fraction")
SECONDS = number(0.0, what="a duration in seconds")
LOSS = number(what="a loss (a finite number)")
LEARNING_RATE = number(0.0, what="a learning rate")
NAMES = list_of(text)
SEEDS = list_of(SEED)
OPTIONAL_TEXT = nullable(text)

ANYTHING: Check = lambda value: None
PROGRAM = record({
    "task": text, "optimizer": text, "phase": one_of(*PHASES, BOTH_PHASES), "runs": COUNT,
    "compile_seconds": nullable(SECONDS), "run_seconds": nullable(SECONDS),
    "seconds_per_step": nullable(SECONDS), "reused": boolean, "config": mapping_of(ANYTHING),
    "calls": COUNT, "runs_per_call": COUNT,
    # bench.results.files: what reuse checks, and the code the program was made with
    "reuse_key": text, "records_sha256": text,
    "code": record({"sources_sha256": text, "git_revision": OPTIONAL_TEXT,
                    "versions": mapping_of(nullable(text))}),
})


def _meta(config: Check) -> Check:
    return record({
        "suite": text, "complete": boolean, "command": text, "argv": NAMES,
        "started_at": OPTIONAL_TEXT, "finished_at": OPTIONAL_TEXT, "wall_seconds": nullable(SECONDS),
        "git_revision": OPTIONAL_TEXT, "versions": mapping_of(OPTIONAL_TEXT), "platform": text,
        "backend": text, "device_kind": text, "device_count": POSITIVE_COUNT, "devices": NAMES,
        "process_count": POSITIVE_COUNT, "deterministic": boolean, "xla_flags": text,
        "cpu_model": OPTIONAL_TEXT, "gpu_name": OPTIONAL_TEXT,
        "config": config, "programs": list_of(PROGRAM),
    }, required=("config", "programs"))


TARGET = number(0.0, 1.0, what="a target accuracy", low_open=True)
NUM_CLASSES = number(2, integer=True, what="a number of classes (an integer >= 2)")
SETTINGS = {  # a task's settings: the entries of meta.config.tasks (and its top level, one task)
    "task": text, "steps": POSITIVE_COUNT, "batch_size": POSITIVE_COUNT, "eval_every": POSITIVE_COUNT,
    "target": TARGET, "num_classes": NUM_CLASSES, "n_test": nullable(POSITIVE_COUNT),
}
CONFIG_COMMON = {
    **SETTINGS, "optimizers": NAMES, "inits": NAMES, "pairs": list_of(NAMES),
    "learning_rates": mapping_of(list_of(LEARNING_RATE)),
}
CONFIG_2 = record({
    **CONFIG_COMMON, "selection_seeds": SEEDS, "evaluation_seeds": SEEDS,
    "tasks": list_of(record(SETTINGS, required=("task", "steps", "target", "num_classes", "n_test"))),
}, required=("optimizers", "inits", "selection_seeds", "evaluation_seeds", "tasks"))
CONFIG_1 = record({**CONFIG_COMMON, "seeds": COUNT, "seed_list": SEEDS},
                  required=("optimizers", "inits", "steps", "target"))

HYPERPARAMS = mapping_of(either(number(what="a number or a string"), text))
CURVE_FIELDS = {"step": list_of(COUNT), "train_loss": list_of(nullable(LOSS)),
                "train_loss_max": list_of(nullable(LOSS)), "val_accuracy": list_of(nullable(ACCURACY))}
CURVE_2 = record(CURVE_FIELDS, required=CURVE_KEYS, agree=_curve_agrees)
CURVE_1 = record(CURVE_FIELDS, required=("step", "train_loss", "val_accuracy"), agree=_curve_agrees)
IDENTITY = {"task": text, "optimizer": text, "init": text, "lr": LEARNING_RATE}
MEDIAN_COUNT = nullable(number(0.0, what="a count"))

RUN_2 = record({
    **IDENTITY, "seed": SEED, "phase": one_of(*PHASES), "trial": COUNT, "hyperparams": HYPERPARAMS,
    "initial_train_loss": nullable(LOSS), "final_train_loss": nullable(LOSS),
    "final_val_accuracy": nullable(ACCURACY), "final_test_accuracy": nullable(ACCURACY),
    "steps_to_target": nullable(COUNT), "examples_to_target": nullable(COUNT),
    "failed": boolean, "failure": nullable(one_of(*FAILURES)), "diverged": boolean, "curve": CURVE_2,
}, required=RUN_KEYS_2)
SPEED_INTERVAL = nullable(interval(number(0.0, what="a count"), open_high=True))
SUMMARY_2 = record({
    **IDENTITY, "phase": one_of(*PHASES), "trial": COUNT, "hyperparams": HYPERPARAMS, "seeds": SEEDS,
    "n_seeds": COUNT, "n_failed": COUNT, "failed_fraction": FRACTION, "n_diverged": COUNT,
    "val_accuracy_mean": ACCURACY, "val_accuracy_ci95": nullable(interval(ACCURACY)),
    "test_accuracy_mean": nullable(ACCURACY), "test_accuracy_ci95": nullable(interval(ACCURACY)),
    "steps_to_target_median": MEDIAN_COUNT, "steps_to_target_ci95": SPEED_INTERVAL,
    "examples_to_target_median": MEDIAN_COUNT, "examples_to_target_ci95": SPEED_INTERVAL,
    "reached_fraction": FRACTION, "chosen": boolean, "seconds_per_step": nullable(SECONDS),
}, required=SUMMARY_KEYS_2)

RUN_3 = record({
    **IDENTITY, "seed": SEED, "phase": one_of(*PHASES), "trial": COUNT, "hyperparams": HYPERPARAMS,
    "initial_train_loss": nullable(LOSS), "final_train_loss": nullable(LOSS),
    "final_val_accuracy": nullable(ACCURACY), "peak_val_accuracy": nullable(ACCURACY),
    "final_test_accuracy": nullable(ACCURACY),
    "steps_to_target": nullable(COUNT), "examples_to_target": nullable(COUNT),
    "failed": boolean, "failure": nullable(one_of(*FAILURES)), "diverged": boolean, "unstable": boolean,
    "curve": CURVE_2,
}, required=RUN_KEYS)
GRID_INTERVAL = nullable(interval(number(0.0, what="a count")))
SUMMARY_3 = record({
    **IDENTITY, "phase": one_of(*PHASES), "trial": COUNT, "hyperparams": HYPERPARAMS, "seeds": SEEDS,
    "n_seeds": COUNT, "n_failed": COUNT, "failed_fraction": FRACTION, "n_diverged": COUNT,
    "n_unstable": COUNT,
    "val_accuracy_mean": ACCURACY, "val_accuracy_ci95": nullable(interval(ACCURACY)),
    "test_accuracy_mean": nullable(ACCURACY), "test_accuracy_ci95": nullable(interval(ACCURACY)),
    "test_accuracy_task_ci95": nullable(interval(ACCURACY)),
    "steps_to_target_median": MEDIAN_COUNT, "steps_to_target_median_interval": GRID_INTERVAL,
    "steps_to_target_ci95": SPEED_INTERVAL,
    "examples_to_target_median": MEDIAN_COUNT, "examples_to_target_median_interval": GRID_INTERVAL,
    "examples_to_target_ci95": SPEED_INTERVAL,
    "reached_fraction": FRACTION, "chosen": boolean, "n_candidates": POSITIVE_COUNT,
    "grid_edge": nullable(one_of("low", "high")), "choice_stability": nullable(FRACTION),
    "seconds_per_step": nullable(SECONDS),
}, required=SUMMARY_KEYS)
CONFIGURATION = record({"optimizer": text, "init": text}, required=("optimizer", "init"))
VERDICT = record({
    "task": text, "held_fixed": mapping_of(text), "best": list_of(CONFIGURATION), "method": text,
    "level": number(0.0, 1.0, what="a level", low_open=True),
    "configurations": COUNT, "n_seeds": COUNT, "comparison_level": nullable(FRACTION),
    "minimum_detectable_difference": nullable(number(0.0, what="a difference")),
    "worse": list_of(record({"optimizer": text, "init": text, "than": CONFIGURATION,
                             "p_value": FRACTION, "threshold": FRACTION},
                            required=("optimizer", "init", "than", "p_value", "threshold"))),
}, required=VERDICT_KEYS, agree=lambda value: None if value["best"] else Problem(
    ".best", "is empty (the best set of a table is never empty)"))

ESTIMATE = nullable(number(what="a score"))
METHOD_AGGREGATE = record({
    "optimizer": text, "init": text, "n_tasks": COUNT, "n_scores": COUNT,
    **{key: ESTIMATE for key in ("iqm", "mean", "median")},
    **{f"{key}_ci95": nullable(interval(number(what="a score"))) for key in ("iqm", "mean", "median")},
}, required=("optimizer", "init", "iqm", "iqm_ci95"))
IMPROVEMENT = record({"x": text, "y": text, "probability": FRACTION, "ci95": nullable(interval(FRACTION)),
                      "n_tasks": COUNT}, required=("x", "y", "probability", "ci95"))
ACROSS_TASKS = record({
    "metric": text, "normalization": text, "tasks": NAMES, "unscaled_tasks": NAMES,
    "bootstrap": mapping_of(ANYTHING), "methods": mapping_of(METHOD_AGGREGATE),
    "probability_of_improvement": list_of(IMPROVEMENT), "friedman": nullable(mapping_of(ANYTHING)),
}, required=("tasks", "methods", "probability_of_improvement"))
# a document of several budgets (`run --budgets`) keeps each budget's aggregates
AGGREGATES = either(ACROSS_TASKS, record({"by_budget": mapping_of(ACROSS_TASKS)}, required=("by_budget",)))

RUN_1 = record({
    **IDENTITY, "seed": SEED, "final_test_accuracy": nullable(ACCURACY),
    "final_val_accuracy": nullable(ACCURACY), "final_train_loss": nullable(LOSS),
    "steps_to_target": nullable(COUNT), "diverged": boolean, "curve": CURVE_1,
}, required=("task", "optimizer", "init", "lr", "seed", "final_test_accuracy", "final_val_accuracy",
             "final_train_loss", "steps_to_target", "diverged", "curve"))
SUMMARY_1 = record({
    **IDENTITY, "n_seeds": COUNT, "n_diverged": COUNT, "test_accuracy_mean": nullable(ACCURACY),
    "test_accuracy_ci95": nullable(interval(ACCURACY)), "val_accuracy_mean": nullable(ACCURACY),
    "steps_to_target_median": MEDIAN_COUNT, "reached_fraction": FRACTION,
    "diverged_fraction": FRACTION, "seconds_per_step": nullable(SECONDS), "best_lr": boolean,
}, required=("task", "optimizer", "init", "lr", "n_seeds", "n_diverged", "test_accuracy_mean",
             "test_accuracy_ci95", "val_accuracy_mean", "steps_to_target_median", "reached_fraction",
             "diverged_fraction", "seconds_per_step", "best_lr"))

SCHEMA_3 = {"meta": _meta(CONFIG_2), "runs": RUN_3, "summary": SUMMARY_3, VERDICTS_KEY: VERDICT}
SCHEMA_2 = {"meta": _meta(CONFIG_2), "runs": RUN_2, "summary": SUMMARY_2}
SCHEMA_1 = {"meta": _meta(CONFIG_1), "runs": RUN_1, "summary": SUMMARY_1}
