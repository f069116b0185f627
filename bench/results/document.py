"""The results document: its version, its keys, building it, checking it on read, and reading
older versions. The rule that chooses a configuration and the lookups over runs and summary rows
that tables, reports, plots and comparisons share live one layer below, in `bench.records`.

The one owner of the format (README, "Results format"): the writer (`bench.results.files`),
reuse, report, compare and plots all go through this module.

Words used throughout: a *configuration*, a *run*, a *cell* and a *pair*, as `bench.records.keys`
defines them; *selection* seeds choose the configuration (on validation accuracy); *evaluation*
seeds, never among the selection seeds, re-train the chosen one and report test accuracy.

Reading checks every field's type and range (`check_document`), so a hand-edited file fails
with one line naming the file, the record and the field (`UsageError`, exit 2) before anything
is computed or written. A schema-1 file is checked as such and upgraded in memory
(`upgrade_schema_1`): its readers see schema 2, flagged `meta.upgraded_from = 1`.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import numpy as np

from bench.errors import UsageError
from bench.records.keys import lr_key
from bench.records.queries import tasks
# The rule that chooses a configuration lives below, in bench.records; importable here too
# (README, "Methodology").
from bench.records.selection import choose, selection_key  # noqa: F401
from bench.records.summary import summarize

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
PHASES = ("selection", "evaluation")
# A program that trains one configuration (nothing to choose) runs both phases' seeds at once.
BOTH_PHASES = "selection+evaluation"
FAILURES = ("non-finite", "exploded")
# A results document nests five levels deep (document, runs, run, curve, values); anything
# much deeper is not one, and is refused before the parser recurses into it.
MAX_NESTING_DEPTH = 16

TOP_LEVEL_KEYS = ("schema_version", "meta", "runs", "summary")
RUN_KEYS = ("task", "optimizer", "init", "seed", "phase", "trial", "lr", "hyperparams",
            "initial_train_loss", "final_train_loss", "final_val_accuracy", "final_test_accuracy",
            "steps_to_target", "examples_to_target", "failed", "failure", "diverged", "curve")
CURVE_KEYS = ("step", "train_loss", "train_loss_max", "val_accuracy")
SUMMARY_KEYS = ("task", "optimizer", "init", "phase", "trial", "lr", "hyperparams", "seeds",
                "n_seeds", "n_failed", "failed_fraction", "n_diverged",
                "val_accuracy_mean", "val_accuracy_ci95", "test_accuracy_mean", "test_accuracy_ci95",
                "steps_to_target_median", "steps_to_target_ci95",
                "examples_to_target_median", "examples_to_target_ci95",
                "reached_fraction", "chosen", "seconds_per_step")
INTERVAL_KEYS = ("val_accuracy_ci95", "test_accuracy_ci95", "steps_to_target_ci95",
                 "examples_to_target_ci95")
# The CSV beside the JSON: one column per summary key, each interval split in two.
SUMMARY_COLUMNS = tuple(column for key in SUMMARY_KEYS for column in (
    (f"{key}_low", f"{key}_high") if key in INTERVAL_KEYS else (key,)))


def build(meta: dict[str, Any], runs: list[dict[str, Any]], summary: list[dict[str, Any]]) -> dict[str, Any]:
    """The document as written: the version first, then provenance, runs and their summary."""
    return {"schema_version": SCHEMA_VERSION, "meta": meta, "runs": runs, "summary": summary}


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


# ---------------------------------------------------------------------------------------------
# Reading: parse with a bounded depth, check every field, upgrade older versions.


def load_results(path) -> dict:
    """The results document in `path`, checked (and upgraded to schema 2 when older).

    Any problem is one `UsageError` line naming the file, the record and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a results file (not UTF-8 text)") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror})") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "results") -> dict:
    """`load_results` for a document already read into `text`."""
    depth = nesting_depth(text)
    if depth > MAX_NESTING_DEPTH:
        raise UsageError(f"{source}: not a results file (JSON nested {depth} levels deep; "
                         f"a results file nests at most {MAX_NESTING_DEPTH})")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise UsageError(f"{source}: not JSON ({str(error).splitlines()[0][:120]})") from None
    return check_document(document, source)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


_STRINGS_AND_TEXT = re.compile(r'"(?:[^"\\]|\\.)*"|[^\[\]{}"]+')


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest (string contents ignored), without parsing it."""
    brackets = np.frombuffer(_STRINGS_AND_TEXT.sub("", text).encode("ascii", "replace"), np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(
        brackets, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def check_document(document, source: str = "results") -> dict:
    """`document` checked field by field; a schema-1 document comes back upgraded to schema 2.

    Raises UsageError with one line: "<source>: <record>.<field>: <what is wrong>".
    """
    if not isinstance(document, dict):
        raise UsageError(f"{source}: not an initopt results file (top level is not an object)")
    missing = [key for key in TOP_LEVEL_KEYS if key not in document]
    if missing:
        raise UsageError(f"{source}: not an initopt results file (missing {', '.join(map(repr, missing))})")
    version = document["schema_version"]
    if not _is_integer(version) or version not in READABLE_VERSIONS:
        raise UsageError(f"{source}: schema_version {_show(version)} is not supported "
                         f"(this initopt reads {', '.join(map(str, READABLE_VERSIONS))})")
    if version == 1:
        _check_tree(document, SCHEMA_1, source)
        return upgrade_schema_1(document, source)
    _check_tree(document, SCHEMA_2, source)
    _check_consistency(document, source)
    return document


# Kept for callers of the schema-1 era.
check_schema = check_document


# -- field checks: each returns what is wrong with a value, or None -----------------------------

Check = Callable[[Any], Union[str, "Problem", None]]


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def number(low: float = -math.inf, high: float = math.inf, *, integer: bool = False,
           what: str | None = None, low_open: bool = False) -> Check:
    """A finite number (an int when `integer`) in [low, high] (or (low, high] when `low_open`)."""
    kind = what or ("an integer" if integer else "a number")
    bounds = "" if (low, high) == (-math.inf, math.inf) else (
        f" >= {low:g}" if high == math.inf else f" in {'(' if low_open else '['}{low:g}, {high:g}]")

    def check(value):
        if not (_is_integer(value) if integer else _is_number(value)):
            return f"{_show(value)} is not {kind}"
        if not (low < value if low_open else low <= value) or not value <= high:
            return f"{_show(value)} is not {kind}{bounds}"
        return None

    return check


def nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def boolean(value) -> str | None:
    return None if isinstance(value, bool) else f"{_show(value)} is not true or false"


def text(value) -> str | None:
    return None if isinstance(value, str) else f"{_show(value)} is not a string"


def one_of(*choices) -> Check:
    return lambda value: None if value in choices and isinstance(value, str) else (
        f"{_show(value)} is not one of {', '.join(map(repr, choices))}")


def interval(bound: Check, *, open_high: bool = False) -> Check:
    """[low, high], two numbers with low <= high; `open_high`: high may be null (unbounded)."""

    def check(value):
        if not isinstance(value, list) or len(value) != 2:
            return f"{_show(value)} is not an interval [low, high]"
        low, high = value
        problem = bound(low) or (None if open_high and high is None else bound(high))
        if problem:
            return problem
        if high is not None and low > high:
            return f"{_show(value)} is not an interval (low > high)"
        return None

    return check


def list_of(item: Check) -> Check:
    def check(value):
        if not isinstance(value, list):
            return f"{_show(value)} is not a list"
        for index, element in enumerate(value):
            problem = item(element)
            if problem:
                return _at(f"[{index}]", problem)
        return None

    return check


def mapping_of(item: Check) -> Check:
    def check(value):
        if not isinstance(value, dict):
            return f"{_show(value)} is not an object"
        for key, element in value.items():
            problem = item(element)
            if problem:
                return _at(f"[{_show(key)}]", problem)
        return None

    return check


def either(*checks: Check) -> Check:
    def check(value):
        problems = [c(value) for c in checks]
        return None if None in problems else problems[0]

    return check


class Problem(NamedTuple):
    """What is wrong (`message`) and where, as a path inside the checked value (".curve.step[3]")."""

    path: str
    message: str

    def line(self, source: str, where: str) -> str:
        joint = " " if self.message.startswith("lacks ") else ": "
        return f"{source}: {where}{self.path}{joint}{self.message}"


def _at(place: str, problem: str | Problem) -> Problem:
    """`problem` found at `place` (a field, an index) of the value checked."""
    if isinstance(problem, Problem):
        return Problem(place + problem.path, problem.message)
    return Problem(place, problem)


def record(fields: dict[str, Check], required: Iterable[str] = (),
           agree: Callable[[dict], Optional[str]] | None = None) -> Check:
    """An object: `fields` maps a name to its check; `required` names must be present, the others
    are checked when present; keys not listed are allowed (newer writers may add provenance).
    `agree(value)` checks what no single field can (lists of equal length, ...)."""
    required = tuple(required)

    def check(value):
        if not isinstance(value, dict):
            return f"{_show(value)} is not an object"
        missing = [key for key in required if key not in value]
        if missing:
            return f"lacks {', '.join(map(repr, missing))}"
        for key, field_check in fields.items():
            if key in value:
                problem = field_check(value[key])
                if problem:
                    return _at(f".{key}", problem)
        return agree(value) if agree else None

    return check


def _check_tree(document: dict, schema: dict[str, Check], source: str) -> None:
    problem = schema["meta"](document["meta"])
    if problem:
        raise UsageError(_at("", problem).line(source, "meta"))
    for name in ("runs", "summary"):
        records = document[name]
        if not isinstance(records, list):
            raise UsageError(f"{source}: '{name}' is not a list")
        for index, value in enumerate(records):
            problem = schema[name](value)
            if problem:
                raise UsageError(_at("", problem).line(source, f"{name}[{index}]"))


def _curve_agrees(curve: dict) -> str | None:
    lengths = {key: len(values) for key, values in curve.items() if key in CURVE_KEYS}
    if len(set(lengths.values())) > 1:
        return "lists of unequal length (" + ", ".join(f"{k} {n}" for k, n in lengths.items()) + ")"
    steps = curve["step"]
    if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        return Problem(".step", "steps are not increasing")
    return None


# -- the schemas --------------------------------------------------------------------------------

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
}, required=RUN_KEYS)
SPEED_INTERVAL = nullable(interval(number(0.0, what="a count"), open_high=True))
SUMMARY_2 = record({
    **IDENTITY, "phase": one_of(*PHASES), "trial": COUNT, "hyperparams": HYPERPARAMS, "seeds": SEEDS,
    "n_seeds": COUNT, "n_failed": COUNT, "failed_fraction": FRACTION, "n_diverged": COUNT,
    "val_accuracy_mean": ACCURACY, "val_accuracy_ci95": nullable(interval(ACCURACY)),
    "test_accuracy_mean": nullable(ACCURACY), "test_accuracy_ci95": nullable(interval(ACCURACY)),
    "steps_to_target_median": MEDIAN_COUNT, "steps_to_target_ci95": SPEED_INTERVAL,
    "examples_to_target_median": MEDIAN_COUNT, "examples_to_target_ci95": SPEED_INTERVAL,
    "reached_fraction": FRACTION, "chosen": boolean, "seconds_per_step": nullable(SECONDS),
}, required=SUMMARY_KEYS)

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

SCHEMA_2 = {"meta": _meta(CONFIG_2), "runs": RUN_2, "summary": SUMMARY_2}
SCHEMA_1 = {"meta": _meta(CONFIG_1), "runs": RUN_1, "summary": SUMMARY_1}


def _check_consistency(document: dict, source: str) -> None:
    """What no single field can say: fields that must agree with each other."""
    config = document["meta"]["config"]
    phase_seeds = {"selection": set(config["selection_seeds"]),
                   "evaluation": set(config["evaluation_seeds"])}
    settled = {entry["task"] for entry in config["tasks"]}
    unsettled = [name for name in tasks(document) if name not in settled]
    if unsettled:
        raise UsageError(f"{source}: meta.config.tasks has no settings for task {unsettled[0]!r}")
    shared = phase_seeds["selection"] & phase_seeds["evaluation"]
    if shared and document["meta"].get("upgraded_from") is None:
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
            chosen[(row["task"], row["optimizer"], row["init"])].add(row["trial"])
    for pair, trials in chosen.items():
        if len(trials) > 1:
            raise UsageError(f"{source}: summary: {'/'.join(pair)} has {len(trials)} chosen "
                             f"configurations (trials {sorted(trials)}); at most one is chosen")


def _run_disagreement(run: dict, phase_seeds: dict[str, set]) -> str | None:
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
    return None


# -- schema 1 -----------------------------------------------------------------------------------

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
    _check_tree(upgraded, SCHEMA_2, f"{source} (upgraded from schema 1)")
    _check_consistency(upgraded, f"{source} (upgraded from schema 1)")
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
