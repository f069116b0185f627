"""Checking a results document against its schema, and what no single field can say: fields
that must agree with each other (`failed` with `failure`, seeds with their phase, one chosen
configuration per pair). Each problem is one `UsageError` line naming the source, the record and
the field.
"""
from __future__ import annotations

from collections import defaultdict

from bench.errors import UsageError
from bench.records.keys import lr_key, unit_of
from bench.records.queries import tasks
from bench.results.checks import Check, at


def check_tree(document: dict, schema: dict[str, Check], source: str) -> None:
    """`meta` and each record of `runs`, `summary` (and, where `schema` has them, `verdicts`)
    checked against `schema` (a check per section); the first problem found is raised."""
    problem = schema["meta"](document["meta"])
    if problem:
        raise UsageError(at("", problem).line(source, "meta"))
    for name in [section for section in schema if section != "meta"]:
        records = document[name]
        if not isinstance(records, list):
            raise UsageError(f"{source}: '{name}' is not a list")
        for index, value in enumerate(records):
            problem = schema[name](value)
            if problem:
                raise UsageError(at("", problem).line(source, f"{name}[{index}]"))


def check_consistency(document: dict, source: str) -> None:
    """What no single field can say: fields that must agree with each other."""
    config = document["meta"]["config"]
    phase_seeds = {"selection": set(config["selection_seeds"]),
                   "evaluation": set(config["evaluation_seeds"])}
    settled = {entry["task"] for entry in config["tasks"]}
    unsettled = [name for name in tasks(document) if name not in settled]
    if unsettled:
        raise UsageError(f"{source}: meta.config.tasks has no settings for task {unsettled[0]!r}")
    shared = phase_seeds["selection"] & phase_seeds["evaluation"]
    if shared and document["meta"].get("upgraded_from") != 1:
        raise UsageError(f"{source}: meta.config: seeds {sorted(shared)[:5]} are both selection and "
                         "evaluation seeds (they must be disjoint)")
    for index, run in enumerate(document["runs"]):
        where = f"{source}: runs[{index}]"
        problem = _run_disagreement(run, phase_seeds)
        if problem:
            raise UsageError(f"{where}.{problem}")
    chosen = defaultdict(set)
    for index, row in enumerate(document["summary"]):
        problem = _row_disagreement(row)
        if problem:
            raise UsageError(f"{source}: summary[{index}].{problem}")
        if row["chosen"]:
            chosen[unit_of(row)].add(row["trial"])
    for unit, trials in chosen.items():
        if len(trials) > 1:
            where = "/".join(unit[:3]) + ("" if unit[3] is None else f" at budget {unit[3]}")
            raise UsageError(f"{source}: summary: {where} has {len(trials)} chosen "
                             f"configurations (trials {sorted(trials)}); at most one is chosen")


def _run_disagreement(run: dict, phase_seeds: dict[str, set]) -> str | None:
    if run.get("unstable") and run["failed"]:
        return "unstable: a failed run is counted as failed, not unstable (must be false)"
    if run["failed"] != (run["failure"] is not None):
        return f"failed: {run['failed']} disagrees with failure {run['failure']!r}"
    if run["diverged"] != (run["failure"] == "non-finite"):
        return f"diverged: {run['diverged']} disagrees with failure {run['failure']!r}"
    if run["failed"] and run["steps_to_target"] is not None:
        return "steps_to_target: a failed run never reaches the target (must be null)"
    if run["examples_to_target"] is not None and run["steps_to_target"] is None:
        return "examples_to_target: set while steps_to_target is null"
    if run["phase"] == "selection" and run["final_test_accuracy"] is not None:
        return "final_test_accuracy: a selection run reports no test accuracy (must be null)"
    if run["seed"] not in phase_seeds[run["phase"]]:
        return f"seed: {run['seed']} is not among meta.config's {run['phase']}_seeds"
    learning_rate = run["hyperparams"].get("learning_rate")
    if learning_rate is not None and lr_key(learning_rate) != lr_key(run["lr"]):
        return f"lr: {run['lr']!r} disagrees with hyperparams.learning_rate {learning_rate!r}"
    return None


def _row_disagreement(row: dict) -> str | None:
    if len(row["seeds"]) != row["n_seeds"]:
        return f"seeds: {len(row['seeds'])} seeds listed but n_seeds is {row['n_seeds']}"
    if not row["n_diverged"] <= row["n_failed"] <= row["n_seeds"]:
        return (f"n_failed: n_diverged {row['n_diverged']} <= n_failed {row['n_failed']} "
                f"<= n_seeds {row['n_seeds']} does not hold")
    if row["phase"] == "selection" and row["test_accuracy_mean"] is not None:
        return "test_accuracy_mean: a selection row reports no test accuracy (must be null)"
    if row["phase"] == "evaluation" and row["test_accuracy_mean"] is None:
        return "test_accuracy_mean: null on an evaluation row (every seed counts: it is never null)"
    if not row.get("chosen") and (row.get("grid_edge") is not None or row.get("choice_stability") is not None):
        return "grid_edge: set on a row that is not chosen (only a chosen configuration has one)"
    if row.get("n_unstable", 0) > row["n_seeds"] - row["n_failed"]:
        return f"n_unstable: {row['n_unstable']} is more than the {row['n_seeds'] - row['n_failed']} runs that did not fail"
    return None
