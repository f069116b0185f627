"""Synthetic results documents, built by hand (no training): the current schema (`make_results`),
the older schema 2 (`make_schema_2_results`) and schema 1 (`make_schema_1_results`), all
following docs/results-format.md.

The model is simple and deterministic for a given `noise_seed`: each (optimizer, init, lr) has a
true accuracy; a seed adds small Gaussian noise; curves rise towards the final accuracy.
By default a schema-2 file holds two optimizers x two inits x three lrs, each trained on four
selection seeds (0-3); the configuration chosen on validation is re-trained on four evaluation
seeds (1000-1003). sgd at lr 1.0 explodes on half its seeds (its loss spikes past 10x the
initial loss, then it sits near chance), adam at lr 0.01 goes non-finite on every seed, and one
pair runs with a single seed (adam with init "orthogonal", which sgd never ran).
"""
from __future__ import annotations

import copy
import math
import zlib

import numpy as np

from bench.records.per_run import is_unstable, peak_val_accuracy
from bench.records.selection import choose
from bench.results.schema import RUN_KEYS_2, SUMMARY_KEYS_2, build
from bench.records.summary import summarize

DEFAULT_LRS = {"sgd": [0.01, 0.1, 1.0], "adam": [0.0001, 0.001, 0.01]}
BEST_LR = {"sgd": 0.1, "adam": 0.001}
OPTIMIZER_SKILL = {"sgd": 0.0, "adam": 0.03}
INIT_SKILL = {"he_normal": 0.02, "glorot_uniform": 0.0, "orthogonal": 0.01}
# (optimizer, lr) -> (fraction of seeds that fail, how)
DEFAULT_FAILURES = {("sgd", 1.0): (0.5, "exploded"), ("adam", 0.01): (1.0, "non-finite")}
NOISE = 0.004
NUM_CLASSES = 10
N_TEST = 270
BATCH_SIZE = 128
INITIAL_LOSS = 2.3


def make_results(*, task="digits-mlp", optimizers=("sgd", "adam"), inits=("he_normal", "glorot_uniform"),
                 selection_seeds=4, evaluation_seeds=4, steps=200, eval_every=20, target=0.9,
                 noise_seed=0, failures=None, single_seed_pairs=(("adam", "orthogonal"),),
                 evaluation_shift=None, learning_rates=None) -> dict:
    """A document of the current schema. `evaluation_shift(optimizer, init, seed) -> delta` moves
    test accuracies of evaluation runs (to build files that differ in a known way);
    `learning_rates` (optimizer -> grid) replaces DEFAULT_LRS."""
    failures = DEFAULT_FAILURES if failures is None else failures
    grids = {**DEFAULT_LRS, **(learning_rates or {})}
    pairs = [(opt, init) for opt in optimizers for init in inits] + [tuple(p) for p in single_seed_pairs]
    all_inits = list(dict.fromkeys([*inits, *(init for _, init in single_seed_pairs)]))
    selection_list = list(range(selection_seeds))
    evaluation_list = list(range(1000, 1000 + evaluation_seeds))
    shape = dict(task=task, steps=steps, eval_every=eval_every, target=target, noise_seed=noise_seed)

    def seeds_of(pair, seeds):
        return seeds[:1] if pair in single_seed_pairs else seeds

    selection = []
    for optimizer, init in pairs:
        for trial, lr in enumerate(grids[optimizer]):
            seeds = seeds_of((optimizer, init), selection_list)
            for index, seed in enumerate(seeds):
                selection.append(make_run(optimizer, init, lr, seed, trial=trial, phase="selection",
                                          failure=_failure(failures, optimizer, lr, index, len(seeds)), **shape))
    chosen = choose(summarize(selection, {}, num_classes={task: NUM_CLASSES}))
    evaluation = []
    for (_, optimizer, init, _budget), row in chosen.items():
        seeds = seeds_of((optimizer, init), evaluation_list)
        for index, seed in enumerate(seeds):
            shift = evaluation_shift(optimizer, init, seed) if evaluation_shift else 0.0
            evaluation.append(make_run(optimizer, init, row["lr"], seed, trial=row["trial"],
                                       phase="evaluation", test_shift=shift,
                                       failure=_failure(failures, optimizer, row["lr"], index, len(seeds)),
                                       **shape))
    runs = selection + evaluation
    settings = {"task": task, "steps": steps, "batch_size": BATCH_SIZE, "eval_every": eval_every,
                "target": target, "num_classes": NUM_CLASSES, "n_test": N_TEST}
    config = {"suite": "synthetic", "tasks": [settings], **settings,  # one task: also at the top level
              "optimizers": list(optimizers), "inits": all_inits, "pairs": [list(pair) for pair in pairs],
              "learning_rates": {opt: grids[opt] for opt in optimizers},
              "selection_seeds": selection_list, "evaluation_seeds": evaluation_list}
    seconds = {(task, opt, phase): 0.001 for opt in optimizers for phase in ("selection", "evaluation")}
    return build(make_meta(config, optimizers), runs, summarize(runs, seconds, num_classes={task: NUM_CLASSES}))


def _failure(failures, optimizer, lr, index, n_seeds):
    fraction, kind = failures.get((optimizer, lr), (0.0, None))
    return kind if index < round(fraction * n_seeds) else None


def make_meta(config: dict, optimizers) -> dict:
    """The `meta` of a synthetic document whose config is `config`."""
    return {
        "suite": "synthetic", "complete": True,
        "command": "python -m bench run --suite synthetic", "argv": ["run", "--suite", "synthetic"],
        "started_at": "2026-11-23T18:00:00Z", "finished_at": "2026-11-23T18:00:52Z", "wall_seconds": 52.1,
        "git_revision": "a654acc0000000000000000000000000deadbeef",
        "versions": {"python": "3.12.0", "initopt": "0.1.0", "jax": "0.4.35", "jaxlib": "0.4.35",
                     "flax": "0.10.0", "optax": "0.2.4", "numpy": "2.1.0"},
        "platform": "Linux-6.1-x86_64", "cpu_model": "AMD EPYC 7B13", "gpu_name": None,
        "backend": "cpu", "device_kind": "cpu", "device_count": 2, "devices": ["TFRT_CPU_0", "TFRT_CPU_1"],
        "process_count": 1, "deterministic": False, "config": config,
        "programs": [{"task": config["task"], "optimizer": opt, "phase": phase, "runs": 10,
                      "compile_seconds": 3.0, "run_seconds": 20.0, "seconds_per_step": 0.001,
                      "reused": False, "reuse_key": "0" * 64, "records_sha256": "f" * 64}
                     for opt in optimizers for phase in ("selection", "evaluation")],
    }


def _noise(noise_seed, *parts) -> np.random.Generator:
    # crc32, not hash(): stable across processes, so a file is reproducible from its noise_seed
    return np.random.default_rng([noise_seed, zlib.crc32(repr(parts).encode())])


def true_accuracy(optimizer, init, lr) -> float:
    lr_penalty = 0.04 * abs(math.log10(lr) - math.log10(BEST_LR[optimizer]))
    return 0.90 + OPTIMIZER_SKILL[optimizer] + INIT_SKILL[init] - lr_penalty


def make_run(optimizer, init, lr, seed, *, trial=0, phase="evaluation", task="digits-mlp", steps=200,
             eval_every=20, target=0.9, noise_seed=0, failure=None, test_shift=0.0) -> dict:
    """One run record. `failure`: None, "exploded" (a spike past 10x the initial loss, then near
    chance) or "non-finite" (null from mid-training on)."""
    rng = _noise(noise_seed, task, optimizer, init, lr, seed)
    test = float(np.clip(true_accuracy(optimizer, init, lr) + rng.normal(0, NOISE), 0, 1))
    val = float(np.clip(test + rng.normal(0, NOISE), 0, 1))
    test = float(np.clip(test + test_shift, 0, 1))
    time_constant = 15.0 + 10.0 * abs(math.log10(lr) - math.log10(BEST_LR[optimizer])) + rng.uniform(0, 5)
    step = list(range(eval_every, steps + 1, eval_every))
    decay = [math.exp(-s / time_constant) for s in step]
    val_curve = [round(val * (1 - d) + 0.1 * d, 6) for d in decay]
    loss_curve = [round(INITIAL_LOSS * d + (1 - val), 6) for d in decay]
    loss_max = [round(1.2 * loss, 6) for loss in loss_curve]
    if failure == "exploded":
        test = val = round(0.1 + 0.05 * rng.uniform(), 6)
        val_curve = [val] * len(step)
        loss_max = [1e4] + [INITIAL_LOSS] * (len(step) - 1)
        loss_curve = [50.0] + [INITIAL_LOSS] * (len(step) - 1)
    elif failure == "non-finite":
        blown_at = len(step) // 2
        val_curve = val_curve[:blown_at] + [None] * (len(step) - blown_at)
        loss_curve = loss_curve[:blown_at] + [None] * (len(step) - blown_at)
        loss_max = loss_max[:blown_at] + [None] * (len(step) - blown_at)
    reached = None if failure else next((s for s, v in zip(step, val_curve) if v >= target), None)
    return restabilized({
        "task": task, "optimizer": optimizer, "init": init, "seed": seed, "phase": phase, "trial": trial,
        "lr": lr, "hyperparams": {"learning_rate": lr},
        "initial_train_loss": INITIAL_LOSS,
        "final_train_loss": loss_curve[-1],
        "final_val_accuracy": None if failure == "non-finite" else val_curve[-1],
        "final_test_accuracy": None if failure == "non-finite" or phase == "selection" else test,
        "steps_to_target": reached,
        "examples_to_target": None if reached is None else reached * BATCH_SIZE,
        "failed": failure is not None, "failure": failure, "diverged": failure == "non-finite",
        "curve": {"step": step, "train_loss": loss_curve, "train_loss_max": loss_max, "val_accuracy": val_curve},
    })


def restabilized(run: dict) -> dict:
    """`run` with `peak_val_accuracy` and `unstable` recomputed from its curve and final accuracy."""
    peak = peak_val_accuracy(run["curve"]["val_accuracy"])
    run.update(peak_val_accuracy=peak, unstable=is_unstable(run["final_val_accuracy"], peak, run["failed"]))
    return run


def hand_made_runs(values, times, *, phase="evaluation", failures=None, lr=0.1, trial=0, test=None):
    """Hand-made run records: final accuracies `values` (None: non-finite), steps to target `times`."""
    failures = failures or [None] * len(values)
    made = []
    for seed, (value, time, failure) in enumerate(zip(values, times, failures)):
        run = make_run("sgd", "he_normal", lr, seed, trial=trial, phase=phase, steps=300, eval_every=25)
        run.update(final_val_accuracy=value, steps_to_target=time,
                   examples_to_target=None if time is None else time * 128,
                   failed=failure is not None, failure=failure, diverged=failure == "non-finite",
                   final_test_accuracy=None if phase == "selection" else (value if test is None else test[seed]))
        if value is not None:  # the curve ends where the run ended, and never rose above it
            run["curve"]["val_accuracy"] = [None if v is None else min(v, value)
                                            for v in run["curve"]["val_accuracy"][:-1]] + [value]
        made.append(restabilized(run))
    return made


def resummarize(results: dict) -> dict:
    """`results` with its summary and verdicts recomputed from its runs (after editing runs in a
    test)."""
    seconds = {(row["task"], row["optimizer"], row["phase"]): row["seconds_per_step"] for row in results["summary"]}
    classes = {settings["task"]: settings["num_classes"] for settings in results["meta"]["config"]["tasks"]}
    for run in results["runs"]:
        restabilized(run)
    rebuilt = build(results["meta"], results["runs"], summarize(results["runs"], seconds, num_classes=classes))
    results.clear()
    results.update(rebuilt)
    return results


def make_schema_2_results(**options) -> dict:
    """A schema-2 document as the runner of that era wrote it: `make_results(**options)` without
    what schema 3 added (peaks and instability of runs, the new summary fields, verdicts)."""
    current = make_results(**options)
    runs = [{key: run[key] for key in RUN_KEYS_2} for run in current["runs"]]
    summary = [{key: row[key] for key in SUMMARY_KEYS_2} for row in current["summary"]]
    return {"schema_version": 2, "meta": current["meta"], "runs": runs, "summary": summary}


def shift_accuracy(results: dict, optimizer: str, init: str, delta: float, phase: str = "evaluation",
                   lr: float | None = None) -> dict:
    """A copy of `results` with one pair's test accuracies (or, for selection, validation
    accuracies; at one `lr` if given) moved by `delta` on every seed (summary recomputed)."""
    shifted = copy.deepcopy(results)
    metric = "final_test_accuracy" if phase == "evaluation" else "final_val_accuracy"
    for run in shifted["runs"]:
        if ((run["optimizer"], run["init"], run["phase"]) == (optimizer, init, phase) and run[metric] is not None
                and lr in (None, run["lr"])):
            run[metric] = float(np.clip(run[metric] + delta, 0, 1))
            restabilized(run)
    return resummarize(shifted)


def edited(document: dict, edit) -> dict:
    """A deep copy of `document` changed by `edit(copy)` (to build a hand-edited, broken file)."""
    broken = copy.deepcopy(document)
    edit(broken)
    return broken


def set_field(section, index, field, value):
    """An edit for `edited`: sets document[section][index][field...] (index None: document[section])."""
    def edit(document):
        target = document[section][index] if isinstance(index, int) else document[section]
        for key in field[:-1]:
            target = target[key]
        target[field[-1]] = value
    return edit


# -- schema 1 (files written before failures, censoring and evaluation seeds) ----------------------

SCHEMA_1_DIVERGE = {("sgd", 1.0): 0.5, ("adam", 0.01): 1.0}


def make_schema_1_results(*, task="digits-mlp", optimizers=("sgd", "adam"), inits=("he_normal", "glorot_uniform"),
                          seeds=4, steps=200, eval_every=20, target=0.9, noise_seed=0) -> dict:
    """A schema-1 document as the runner of that era wrote it (one set of seeds, `best_lr`)."""
    runs = []
    for optimizer in optimizers:
        for init in inits:
            for lr in DEFAULT_LRS[optimizer]:
                for seed in range(seeds):
                    diverges = seed < round(SCHEMA_1_DIVERGE.get((optimizer, lr), 0.0) * seeds)
                    run = make_run(optimizer, init, lr, seed, task=task, steps=steps, eval_every=eval_every,
                                   target=target, noise_seed=noise_seed,
                                   failure="non-finite" if diverges else None)
                    runs.append({
                        "task": task, "optimizer": optimizer, "init": init, "lr": lr, "seed": seed,
                        "final_test_accuracy": run["final_test_accuracy"],
                        "final_val_accuracy": run["final_val_accuracy"],
                        "final_train_loss": None if diverges else run["final_train_loss"],
                        "steps_to_target": run["steps_to_target"], "diverged": diverges,
                        "curve": {key: run["curve"][key] for key in ("step", "train_loss", "val_accuracy")},
                    })
    config = {"task": task, "optimizers": list(optimizers), "inits": list(inits),
              "pairs": [[o, i] for o in optimizers for i in inits], "seeds": seeds, "steps": steps,
              "batch_size": BATCH_SIZE, "eval_every": eval_every, "target": target,
              "learning_rates": {opt: DEFAULT_LRS[opt] for opt in optimizers}}
    meta = make_meta(config, optimizers)
    for key in ("cpu_model", "gpu_name"):
        del meta[key]
    meta["programs"] = [{"task": task, "optimizer": opt, "runs": 24, "compile_seconds": 3.0, "run_seconds": 20.0,
                         "seconds_per_step": 0.001} for opt in optimizers]
    return {"schema_version": 1, "meta": meta, "runs": runs, "summary": _schema_1_summary(runs)}


def _schema_1_summary(runs: list[dict]) -> list[dict]:
    cells = {}
    for run in runs:
        cells.setdefault((run["task"], run["optimizer"], run["init"], run["lr"]), []).append(run)
    rows = []
    for (task, optimizer, init, lr), members in cells.items():
        alive = [run for run in members if not run["diverged"]]
        tests = [run["final_test_accuracy"] for run in alive]
        reached = [run["steps_to_target"] for run in alive if run["steps_to_target"] is not None]
        spread = float(np.std(tests, ddof=1)) if len(tests) > 1 else 0.0
        rows.append({
            "task": task, "optimizer": optimizer, "init": init, "lr": lr,
            "n_seeds": len(members), "n_diverged": len(members) - len(alive),
            "test_accuracy_mean": float(np.mean(tests)) if tests else None,
            "test_accuracy_ci95": [float(np.mean(tests)) - spread, float(np.mean(tests)) + spread] if len(tests) > 1 else None,
            "val_accuracy_mean": float(np.mean([run["final_val_accuracy"] for run in alive])) if alive else None,
            "steps_to_target_median": float(np.median(reached)) if reached else None,
            "reached_fraction": len(reached) / len(members),
            "diverged_fraction": (len(members) - len(alive)) / len(members),
            "seconds_per_step": 0.001, "best_lr": False,
        })
    by_pair = {}
    for row in rows:
        by_pair.setdefault((row["task"], row["optimizer"], row["init"]), []).append(row)
    for pair_rows in by_pair.values():
        scored = [row for row in pair_rows if row["val_accuracy_mean"] is not None]
        max(scored, key=lambda row: row["val_accuracy_mean"])["best_lr"] = True
    return rows
