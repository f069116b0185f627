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
a task no method reached counts against every method. AlgoPerf's integrated score is the area
under rho from 1 to tau_max = 4 over (tau_max - 1): 1 for a method fastest on every task.

Only the chosen configurations count (the evaluation rows marked `chosen`): a candidate the
selection dropped is not a method. A profile needs two methods: with one there is nothing to be
"within tau of", and none is computed or drawn (`applies`). The bands are 95% percentile
intervals of a bootstrap over seeds: each resample redraws, within every (method, task), that
configuration's evaluation seeds with replacement, takes the median examples to target ("never"
counted as infinite, so the median is infinite when half or more never reached it: the same rule
as the summary's censored median when nothing is censored before the end), and recomputes every
profile from those times.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bench.records.aggregates import method_names
from bench.records.queries import chosen_rows, runs_of_row

TAUS = (1.0, 1.5, 2.0, 3.0, 4.0)
TAU_MAX = 4.0
DENSE_TAUS = np.linspace(1.0, TAU_MAX, 301)
RESAMPLES = 1000
LEVEL = 0.95
BOOTSTRAP_SEED = 0


def _chosen(results: dict[str, Any]) -> dict[tuple[str, str, str], dict]:
    """(task, optimizer, init) -> the chosen configuration's evaluation row."""
    return chosen_rows(results, "evaluation")


def _names(chosen) -> dict[tuple[str, str], str]:
    return method_names({(optimizer, init) for _, optimizer, init in chosen})


def applies(results: dict[str, Any]) -> bool:
    """Profiles need several tasks and at least two methods (chosen configurations)."""
    chosen = _chosen(results)
    return len({task for task, _, _ in chosen}) > 1 and len(set(_names(chosen).values())) > 1


def times_to_target(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """method -> task -> median examples to target (inf where censored), from the chosen
    configurations' evaluation rows."""
    chosen = _chosen(results)
    names = _names(chosen)
    times: dict[str, dict[str, float]] = {}
    for (task, optimizer, init), row in chosen.items():
        median = row.get("examples_to_target_median")
        times.setdefault(names[(optimizer, init)], {})[task] = np.inf if median is None else float(median)
    return times


def seed_times(results: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """method -> task -> examples to target of each evaluation seed of its chosen configuration
    (inf for a seed that never reached the target)."""
    chosen = _chosen(results)
    names = _names(chosen)
    times: dict[str, dict[str, np.ndarray]] = {}
    for (task, optimizer, init), row in chosen.items():
        values = [np.inf if run.get("examples_to_target") is None else float(run["examples_to_target"])
                  for run in runs_of_row(results, row)]
        if values:
            times.setdefault(names[(optimizer, init)], {})[task] = np.asarray(values)
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


def integrated_score(rho: np.ndarray, taus: np.ndarray = DENSE_TAUS) -> np.ndarray:
    """AlgoPerf's score: the area under rho(tau) over [1, tau_max], divided by tau_max - 1
    (`rho` over `taus` on its last axis)."""
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
    return trapezoid(rho, taus, axis=-1) / (taus[-1] - taus[0])


def bootstrap_profiles(per_seed: dict[str, dict[str, np.ndarray]], taus: Sequence[float],
                       resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, np.ndarray]:
    """method -> (resamples x taus) profiles, each from medians of seeds redrawn within every
    (method, task)."""
    rng = np.random.default_rng(seed)
    methods = sorted(per_seed)
    tasks = sorted({task for per_task in per_seed.values() for task in per_task})
    if not methods or not tasks:
        return {}
    medians = np.full((len(methods), len(tasks), resamples), np.inf)
    for m, method in enumerate(methods):
        for t, task in enumerate(tasks):
            values = per_seed[method].get(task)
            if values is not None:
                drawn = values[rng.integers(0, len(values), size=(resamples, len(values)))]
                medians[m, t] = np.median(drawn, axis=1)
    best = medians.min(axis=0)  # tasks x resamples
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(best), medians / best, np.inf)
    taus = np.asarray(taus, float)
    rho = np.mean(ratios[..., None] <= taus, axis=1)  # methods x resamples x taus
    return {method: rho[m] for m, method in enumerate(methods)}


def _band(samples: np.ndarray) -> np.ndarray:
    tail = 100 * (1 - LEVEL) / 2
    return np.percentile(samples, [tail, 100 - tail], axis=0)


def profile_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) of rho at TAUS and the integrated score with its bootstrap interval,
    methods sorted by that score; None where profiles do not apply (one method)."""
    if not applies(results):
        return None
    times = times_to_target(results)
    rho = profile(times, TAUS)
    score = {method: float(integrated_score(values)) for method, values in profile(times, DENSE_TAUS).items()}
    boot = bootstrap_profiles(seed_times(results), DENSE_TAUS)
    order = sorted(rho, key=lambda method: -score[method])
    header = ["method", *[f"rho({tau:g})" for tau in TAUS], f"score (area to {TAU_MAX:g}) [95% CI]",
              "tasks reached"]
    rows = []
    for method in order:
        low, high = _band(integrated_score(boot[method])) if method in boot else (np.nan, np.nan)
        rows.append([method, *[f"{value:.2f}" for value in rho[method]],
                     f"{score[method]:.2f} [{low:.2f}, {high:.2f}]",
                     f"{sum(np.isfinite(t) for t in times[method].values())}/{len(times[method])}"])
    return header, rows


def profile_figure(results: dict[str, Any]):
    """rho(tau) for tau in [1, 4], one step line per method with its bootstrap band over seeds;
    with one method, an empty figure that says so (no profile is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    if not applies(results):
        axes.set_axis_off()
        axes.text(0.5, 0.5, "One method: no performance profile (nothing to compare it with)",
                  ha="center", va="center")
        return figure
    times = times_to_target(results)
    rho = profile(times, DENSE_TAUS)
    bands = {method: _band(samples) for method, samples in bootstrap_profiles(seed_times(results), DENSE_TAUS).items()}
    n_tasks = len({task for per_task in times.values() for task in per_task})
    for method, values in sorted(rho.items(), key=lambda item: -float(integrated_score(item[1]))):
        style = _method_style(results, method)
        line, = axes.step(DENSE_TAUS, values, where="post", color=style["color"],
                          linestyle=style["linestyle"],
                          label=f"{method} ({float(integrated_score(values)):.2f})")
        if method in bands:
            axes.fill_between(DENSE_TAUS, *bands[method], step="post", alpha=0.15, color=line.get_color())
    axes.set(xlabel="tau (time to target within tau x the fastest method's)",
             ylabel=f"fraction of the {n_tasks} tasks", ylim=(-0.02, 1.02), xlim=(1, TAU_MAX),
             title="Performance profiles: median examples to target, chosen configurations,\n"
                   "evaluation seeds (bands: 95% bootstrap over seeds; legend: integrated score)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


def _method_style(results: dict, method: str) -> dict:
    """A profile's method in the colours every figure gives it (`bench.analysis.figures`): an
    optimizer's, an init's, or, for "optimizer/init", the optimizer's colour in the init's dashes."""
    from bench.analysis.figures import init_style, optimizer_style

    optimizer, _, init = method.partition("/")
    if init:
        return {**optimizer_style(optimizer), "linestyle": init_style(init)["linestyle"]}
    inits = {run["init"] for run in results["runs"]}
    return init_style(method) if method in inits and method not in {run["optimizer"] for run in results["runs"]} \
        else optimizer_style(method)
