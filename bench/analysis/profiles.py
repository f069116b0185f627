"""Performance profiles across tasks (Dolan & Moré 2002, as AlgoPerf scores training
algorithms: Dahl et al. 2023, "Benchmarking Neural Network Training Algorithms", sec. 4.4).

A *method* is an (optimizer, init) pair of a suite of several tasks. On each task its time to
target is the censored (Kaplan-Meier) median number of training examples its evaluation seeds
needed to reach the task's target validation accuracy (`examples_to_target_median` of its
evaluation summary row: examples, not steps, so full-batch and mini-batch methods compare on
equal footing); a method that half or more of its seeds never brought to the target has no
time there (infinite). With t_best(task) the fastest method's time on a task,

    rho_method(tau) = fraction of tasks where time(method, task) <= tau * t_best(task)

so rho(1) is the share of tasks a method wins and rho(4) those where it is at most 4x slower;
a task no method reached counts against every method.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

TAUS = (1.0, 1.5, 2.0, 3.0, 4.0)


def times_to_target(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """method -> task -> median examples to target (inf where censored), from evaluation rows."""
    rows = [row for row in results["summary"] if row.get("phase", "evaluation") == "evaluation"]
    one_init = len({row["init"] for row in rows}) == 1
    one_optimizer = len({row["optimizer"] for row in rows}) == 1
    times: dict[str, dict[str, float]] = {}
    for row in rows:
        # name a method by what varies: the optimizer, the init, or both
        method = (row["optimizer"] if one_init else row["init"] if one_optimizer
                  else f"{row['optimizer']}/{row['init']}")
        median = row.get("examples_to_target_median")
        times.setdefault(method, {})[row["task"]] = np.inf if median is None else float(median)
    return times


def profile(times: dict[str, dict[str, float]], taus: Sequence[float]) -> dict[str, np.ndarray]:
    """method -> rho(tau) for each tau (see the module docstring)."""
    tasks = sorted({task for per_task in times.values() for task in per_task})
    best = {task: min(per_task.get(task, np.inf) for per_task in times.values()) for task in tasks}
    rho = {}
    for method, per_task in times.items():
        ratios = np.asarray([per_task.get(task, np.inf) / best[task] if np.isfinite(best[task])
                             else np.inf for task in tasks])
        rho[method] = np.asarray([np.mean(ratios <= tau) for tau in taus])
    return rho


def profile_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of rho at TAUS, methods sorted by the area under their profile."""
    times = times_to_target(results)
    rho = profile(times, TAUS)
    dense = profile(times, np.linspace(1, 4, 61))
    order = sorted(rho, key=lambda method: -float(np.mean(dense[method])))
    header = ["method", *[f"rho({tau:g})" for tau in TAUS], "tasks reached"]
    rows = [[method, *[f"{value:.2f}" for value in rho[method]],
             f"{sum(np.isfinite(t) for t in times[method].values())}/{len(times[method])}"]
            for method in order]
    return header, rows


def profile_figure(results: dict[str, Any]):
    """rho(tau) for tau in [1, 4], one step line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = times_to_target(results)
    taus = np.linspace(1, 4, 301)
    rho = profile(times, taus)
    n_tasks = len({task for per_task in times.values() for task in per_task})
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, values in sorted(rho.items(), key=lambda item: -float(np.mean(item[1]))):
        axes.step(taus, values, where="post", label=method)
    axes.set(xlabel="tau (time to target within tau x the fastest method's)",
             ylabel=f"fraction of the {n_tasks} tasks", ylim=(-0.02, 1.02), xlim=(1, 4),
             title="Performance profiles: median examples to target, evaluation seeds")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure
