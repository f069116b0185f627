"""Reading older files: a schema-1 or schema-2 document upgraded in memory to the current schema
(docs/results-format.md); the file itself is never rewritten.

Schema 3 added what its statistics need to the same runs: each run's `peak_val_accuracy` and
`unstable` (from its curve), summary rows with bootstrap intervals, the test set's interval,
speed on the evaluation grid, `n_unstable`, `n_candidates`, `grid_edge` and `choice_stability`,
and the `verdicts` of every comparison table. All of it is computed from the runs a file holds,
so an older file reads, reports and compares under the current rules.
"""
from __future__ import annotations

import json
from collections import defaultdict

from bench.errors import UsageError
from bench.records.choices import annotate_choices
from bench.records.keys import lr_key
from bench.records.per_run import stability_fields
from bench.records.summary import summarize
from bench.results.schema import SCHEMA_3, build
from bench.results.validation import check_consistency, check_tree

# Facts a schema-1 file did not record, for the tasks such files came from (their data split is
# fixed, so these never change): task -> (number of classes, test examples).
SCHEMA_1_TASKS = {"digits-mlp": (10, 270), "digits-deep": (10, 270), "digits-cnn": (10, 270),
                  "spirals": (2, 150)}


def upgrade_schema_2(document: dict, source: str = "results") -> dict:
    """A schema-2 document as schema 3, in memory: its runs with `peak_val_accuracy` and
    `unstable`, its summary recomputed from them under schema 3's rules with each pair's chosen
    configuration kept as the file chose it, and its verdicts. `meta.upgraded_from = 2`."""
    meta = json.loads(json.dumps(document["meta"]))
    meta["upgraded_from"] = 2
    runs = [with_stability(run) for run in document["runs"]]
    upgraded = build(meta, runs, resummarize(runs, document["summary"], meta["config"]))
    check_tree(upgraded, SCHEMA_3, f"{source} (upgraded from schema 2)")
    check_consistency(upgraded, f"{source} (upgraded from schema 2)")
    return upgraded


def with_stability(run: dict) -> dict:
    """A run record of an older schema with schema 3's `peak_val_accuracy` and `unstable`, in
    schema 3's key order."""
    fields = stability_fields(run)
    upgraded = {}
    for key, value in run.items():
        if key in fields:
            continue
        upgraded[key] = value
        if key == "final_val_accuracy":
            upgraded["peak_val_accuracy"] = fields["peak_val_accuracy"]
        if key == "diverged":
            upgraded["unstable"] = fields["unstable"]
    return upgraded


def resummarize(runs: list[dict], old_summary: list[dict], config: dict) -> list[dict]:
    """The summary of `runs` under the current rules, each pair's chosen configuration as
    `old_summary` marked it (the rule has not changed, but a file's choice is its own)."""
    classes = {entry["task"]: entry["num_classes"] for entry in config["tasks"]}
    seconds = {(row["task"], row["optimizer"], row.get("phase", "evaluation")): row["seconds_per_step"]
               for row in old_summary}
    chosen = {(row["task"], row["optimizer"], row["init"], row.get("phase", "evaluation"), row.get("trial"),
               lr_key(row["lr"])) for row in old_summary if row.get("chosen", row.get("best_lr"))}
    summary = summarize(runs, seconds, num_classes=classes)
    for row in summary:
        row["chosen"] = (row["task"], row["optimizer"], row["init"], row["phase"], row["trial"],
                         lr_key(row["lr"])) in chosen
    annotate_choices(summary, runs, {task: 1.0 / count for task, count in classes.items()})
    return summary


def upgrade_schema_1(document: dict, source: str = "results") -> dict:
    """A schema-1 document as the current schema, in memory (the file is never rewritten).

    Schema 1 trained one set of seeds, chose the learning rate on their validation accuracy and
    reported their test accuracy. So: every run's phase is "evaluation", its trial the index of
    its lr among its optimizer's lrs, its hyperparams {"learning_rate": lr}; failed = diverged
    (failure "non-finite"; schema 1 had no explosion rule, and no initial loss, period maxima or
    examples to target: null); selection_seeds = evaluation_seeds = the seeds it ran; `chosen` is
    its `best_lr`. The summary is recomputed from the runs under the rules of schema 2 (failures
    counted, censored speed). `meta.upgraded_from = 1` tells readers that selection and evaluation
    shared seeds in this file. The rest is schema 2's upgrade (`upgrade_schema_2`).
    """
    meta = json.loads(json.dumps(document["meta"]))
    config = meta["config"]
    task_names = sorted({run["task"] for run in document["runs"]} | {row["task"] for row in document["summary"]})
    unknown = [name for name in task_names if name not in SCHEMA_1_TASKS]
    if unknown:
        raise UsageError(f"{source}: schema-1 file of task {unknown[0]!r}: cannot upgrade it "
                         "(its number of classes is not known)")
    seeds = sorted({run["seed"] for run in document["runs"]})
    config.update(selection_seeds=seeds, evaluation_seeds=seeds, tasks=[
        {"task": name, **{key: config[key] for key in ("steps", "batch_size", "eval_every", "target") if key in config},
         "num_classes": SCHEMA_1_TASKS[name][0], "n_test": SCHEMA_1_TASKS[name][1]} for name in task_names])
    meta["upgraded_from"] = 1
    lrs = defaultdict(set)
    for run in document["runs"]:
        lrs[(run["task"], run["optimizer"])].add(lr_key(run["lr"]))
    trials = {key: sorted(values) for key, values in lrs.items()}
    runs = [_upgrade_run(run, trials[(run["task"], run["optimizer"])].index(lr_key(run["lr"])))
            for run in document["runs"]]
    seconds = {(row["task"], row["optimizer"]): row["seconds_per_step"] for row in document["summary"]}
    chosen = {(row["task"], row["optimizer"], row["init"], lr_key(row["lr"]))
              for row in document["summary"] if row["best_lr"]}
    classes = {name: SCHEMA_1_TASKS[name][0] for name in task_names}
    summary = summarize(runs, seconds, num_classes=classes)
    for row in summary:
        row["chosen"] = (row["task"], row["optimizer"], row["init"], lr_key(row["lr"])) in chosen
    annotate_choices(summary, runs, {task: 1.0 / count for task, count in classes.items()})
    upgraded = build(meta, runs, summary)
    check_tree(upgraded, SCHEMA_3, f"{source} (upgraded from schema 1)")
    check_consistency(upgraded, f"{source} (upgraded from schema 1)")
    return upgraded


def _upgrade_run(run: dict, trial: int) -> dict:
    curve = run["curve"]
    return with_stability({
        "task": run["task"], "optimizer": run["optimizer"], "init": run["init"], "seed": run["seed"],
        "phase": "evaluation", "trial": trial, "lr": run["lr"], "hyperparams": {"learning_rate": run["lr"]},
        "initial_train_loss": None, "final_train_loss": run["final_train_loss"],
        "final_val_accuracy": run["final_val_accuracy"], "final_test_accuracy": run["final_test_accuracy"],
        "steps_to_target": None if run["diverged"] else run["steps_to_target"], "examples_to_target": None,
        "failed": run["diverged"], "failure": "non-finite" if run["diverged"] else None,
        "diverged": run["diverged"],
        "curve": {"step": curve["step"], "train_loss": curve["train_loss"],
                  "train_loss_max": [None] * len(curve["step"]), "val_accuracy": curve["val_accuracy"]},
    })
