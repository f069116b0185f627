"""Reading a schema-1 file: upgraded in memory to schema 2 (README, "Results format")."""
from __future__ import annotations

import json
from collections import defaultdict

from bench.errors import UsageError
from bench.records.keys import lr_key
from bench.records.summary import summarize
from bench.results.schema import SCHEMA_2, build
from bench.results.validation import check_consistency, check_tree

# Facts a schema-1 file did not record, for the tasks such files came from (their data split is
# fixed, so these never change): task -> (number of classes, test examples).
SCHEMA_1_TASKS = {"digits-mlp": (10, 270), "digits-deep": (10, 270), "digits-cnn": (10, 270),
                  "spirals": (2, 150)}


def upgrade_schema_1(document: dict, source: str = "results") -> dict:
    """A schema-1 document as schema 2, in memory (the file is never rewritten).

    Schema 1 trained one set of seeds, chose the learning rate on their validation accuracy and
    reported their test accuracy. So: every run's phase is "evaluation", its trial the index of
    its lr among its optimizer's lrs, its hyperparams {"learning_rate": lr}; failed = diverged
    (failure "non-finite"; schema 1 had no explosion rule, and no initial loss, period maxima or
    examples to target: null); selection_seeds = evaluation_seeds = the seeds it ran; `chosen` is
    its `best_lr`. The summary is recomputed from the runs under the rules of schema 2 (failures
    counted, censored speed). `meta.upgraded_from = 1` tells readers that selection and evaluation
    shared seeds in this file.
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
    summary = summarize(runs, seconds, num_classes={name: SCHEMA_1_TASKS[name][0] for name in task_names})
    for row in summary:
        row["chosen"] = (row["task"], row["optimizer"], row["init"], lr_key(row["lr"])) in chosen
    upgraded = build(meta, runs, summary)
    check_tree(upgraded, SCHEMA_2, f"{source} (upgraded from schema 1)")
    check_consistency(upgraded, f"{source} (upgraded from schema 1)")
    return upgraded


def _upgrade_run(run: dict, trial: int) -> dict:
    curve = run["curve"]
    return {
        "task": run["task"], "optimizer": run["optimizer"], "init": run["init"], "seed": run["seed"],
        "phase": "evaluation", "trial": trial, "lr": run["lr"], "hyperparams": {"learning_rate": run["lr"]},
        "initial_train_loss": None, "final_train_loss": run["final_train_loss"],
        "final_val_accuracy": run["final_val_accuracy"], "final_test_accuracy": run["final_test_accuracy"],
        "steps_to_target": None if run["diverged"] else run["steps_to_target"], "examples_to_target": None,
        "failed": run["diverged"], "failure": "non-finite" if run["diverged"] else None,
        "diverged": run["diverged"],
        "curve": {"step": curve["step"], "train_loss": curve["train_loss"],
                  "train_loss_max": [None] * len(curve["step"]), "val_accuracy": curve["val_accuracy"]},
    }
