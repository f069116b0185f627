"""Synthetic results dicts that follow the README's "Results format" (schema_version 1) exactly.

The model is simple and deterministic for a given `noise_seed`: each (optimizer, init, lr) has a
true accuracy; a seed adds small Gaussian noise; curves rise towards the final accuracy.
By default the file holds: two optimizers x two inits x three lrs x four seeds; a cell where
half the seeds diverge (sgd, lr 1.0), a cell where all diverge (adam, lr 0.01), and one pair
run with a single seed (adam with init "orthogonal", which sgd never ran: a blank heatmap cell).
"""
from __future__ import annotations

import copy
import math
import zlib

import numpy as np

from bench.analysis.stats import mean_ci95

DEFAULT_LRS = {"sgd": [0.01, 0.1, 1.0], "adam": [0.0001, 0.001, 0.01]}
BEST_LR = {"sgd": 0.1, "adam": 0.001}
OPTIMIZER_SKILL = {"sgd": 0.0, "adam": 0.03}
INIT_SKILL = {"he_normal": 0.02, "glorot_uniform": 0.0, "orthogonal": 0.01}
DEFAULT_DIVERGE = {("sgd", 1.0): 0.5, ("adam", 0.01): 1.0}
NOISE = 0.004


def make_results(*, task="digits-mlp", optimizers=("sgd", "adam"), inits=("he_normal", "glorot_uniform"),
                 seeds=4, steps=200, eval_every=20, target=0.9, noise_seed=0,
                 diverge=None, single_seed_pairs=(("adam", "orthogonal"),)) -> dict:
    diverge = DEFAULT_DIVERGE if diverge is None else diverge
    pairs = [(opt, init) for opt in optimizers for init in inits] + [tuple(p) for p in single_seed_pairs]
    all_inits = list(dict.fromkeys([*inits, *(init for _, init in single_seed_pairs)]))
    runs = []
    for optimizer, init in pairs:
        pair_seeds = 1 if (optimizer, init) in single_seed_pairs else seeds
        for lr in DEFAULT_LRS[optimizer]:
            for seed in range(pair_seeds):
                runs.append(_run(task, optimizer, init, lr, seed, steps, eval_every, target, noise_seed,
                                 diverges=seed < round(diverge.get((optimizer, lr), 0.0) * pair_seeds)))
    config = {"task": task, "optimizers": list(optimizers), "inits": all_inits,
              "pairs": [list(pair) for pair in pairs], "seeds": seeds, "steps": steps,
              "batch_size": 128, "eval_every": eval_every, "target": target,
              "learning_rates": {opt: DEFAULT_LRS[opt] for opt in optimizers}}
    return {"schema_version": 1, "meta": _meta(config, optimizers), "runs": runs, "summary": summarize(runs)}


def _meta(config: dict, optimizers) -> dict:
    return {
        "suite": "synthetic", "complete": True,
        "command": "python -m bench run --suite synthetic", "argv": ["run", "--suite", "synthetic"],
        "started_at": "2026-11-23T18:00:00Z", "finished_at": "2026-11-23T18:00:52Z", "wall_seconds": 52.1,
        "git_revision": "a654acc0000000000000000000000000deadbeef",
        "versions": {"python": "3.12.0", "initopt": "0.1.0", "jax": "0.4.35", "jaxlib": "0.4.35",
                     "flax": "0.10.0", "optax": "0.2.4", "numpy": "2.1.0"},
        "backend": "cpu", "device_kind": "cpu", "device_count": 2, "devices": ["TFRT_CPU_0", "TFRT_CPU_1"],
        "process_count": 1, "deterministic": False, "config": config,
        "programs": [{"task": config["task"], "optimizer": opt, "runs": 10, "compile_seconds": 3.0,
                      "run_seconds": 20.0, "seconds_per_step": 0.001} for opt in optimizers],
    }


def _noise(noise_seed, *parts) -> np.random.Generator:
    # crc32, not hash(): stable across processes, so a file is reproducible from its noise_seed
    return np.random.default_rng([noise_seed, zlib.crc32(repr(parts).encode())])


def true_accuracy(optimizer, init, lr) -> float:
    lr_penalty = 0.04 * abs(math.log10(lr) - math.log10(BEST_LR[optimizer]))
    return 0.90 + OPTIMIZER_SKILL[optimizer] + INIT_SKILL[init] - lr_penalty


def _run(task, optimizer, init, lr, seed, steps, eval_every, target, noise_seed, diverges) -> dict:
    rng = _noise(noise_seed, task, optimizer, init, lr, seed)
    test = float(np.clip(true_accuracy(optimizer, init, lr) + rng.normal(0, NOISE), 0, 1))
    val = float(np.clip(test + rng.normal(0, NOISE), 0, 1))
    time_constant = 15.0 + 10.0 * abs(math.log10(lr) - math.log10(BEST_LR[optimizer])) + rng.uniform(0, 5)
    step = list(range(0, steps + 1, eval_every))
    val_curve = [round(val * (1 - math.exp(-s / time_constant)) + 0.1 * math.exp(-s / time_constant), 6)
                 for s in step]
    loss_curve = [round(2.3 * math.exp(-s / time_constant) + (1 - val), 6) for s in step]
    if diverges:
        blown_at = len(step) // 2  # NaN from mid-training on: stored as null
        val_curve = val_curve[:blown_at] + [None] * (len(step) - blown_at)
        loss_curve = loss_curve[:blown_at] + [None] * (len(step) - blown_at)
    reached = next((s for s, v in zip(step, val_curve) if v is not None and v >= target), None)
    return {
        "task": task, "optimizer": optimizer, "init": init, "lr": lr, "seed": seed,
        "final_test_accuracy": None if diverges else test,
        "final_val_accuracy": None if diverges else val_curve[-1],
        "final_train_loss": None if diverges else loss_curve[-1],
        "steps_to_target": None if diverges else reached,
        "diverged": diverges,
        "curve": {"step": step, "train_loss": loss_curve, "val_accuracy": val_curve},
    }


def summarize(runs: list[dict]) -> list[dict]:
    """The `summary` rows of `runs`, computed the way the README specifies."""
    cells = {}
    for run in runs:
        cells.setdefault((run["task"], run["optimizer"], run["init"], run["lr"]), []).append(run)
    rows = [_summary_row(cell, cell_runs) for cell, cell_runs in cells.items()]
    _flag_best_lr(rows)
    return rows


def _summary_row(cell, runs) -> dict:
    task, optimizer, init, lr = cell
    alive = [run for run in runs if not run["diverged"]]
    reached = [run["steps_to_target"] for run in alive if run["steps_to_target"] is not None]
    tests = [run["final_test_accuracy"] for run in alive]
    ci = mean_ci95(tests)
    return {
        "task": task, "optimizer": optimizer, "init": init, "lr": lr,
        "n_seeds": len(runs), "n_diverged": len(runs) - len(alive),
        "test_accuracy_mean": float(np.mean(tests)) if tests else None,
        "test_accuracy_ci95": list(ci) if ci else None,
        "val_accuracy_mean": float(np.mean([run["final_val_accuracy"] for run in alive])) if alive else None,
        "steps_to_target_median": float(np.median(reached)) if reached else None,
        "reached_fraction": len(reached) / len(runs), "diverged_fraction": (len(runs) - len(alive)) / len(runs),
        "seconds_per_step": 0.001, "best_lr": False,
    }


def _flag_best_lr(rows: list[dict]) -> None:
    by_pair = {}
    for row in rows:
        by_pair.setdefault((row["task"], row["optimizer"], row["init"]), []).append(row)
    for pair_rows in by_pair.values():
        scored = [row for row in pair_rows if row["val_accuracy_mean"] is not None]
        if scored:
            max(scored, key=lambda row: row["val_accuracy_mean"])["best_lr"] = True


def shift_accuracy(results: dict, optimizer: str, init: str, lr: float, delta: float) -> dict:
    """A copy of `results` with one cell's test accuracies moved by `delta` (summary recomputed)."""
    shifted = copy.deepcopy(results)
    for run in shifted["runs"]:
        if (run["optimizer"], run["init"], run["lr"]) == (optimizer, init, lr) and not run["diverged"]:
            run["final_test_accuracy"] += delta
    shifted["summary"] = summarize(shifted["runs"])
    return shifted
