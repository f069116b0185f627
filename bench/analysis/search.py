"""What a reader needs from a hyperparameter search (`python -m bench tune`).

- The expected best validation accuracy as a function of the number of trials, with its spread
  (Dodge et al. 2019, "Show Your Work: Improved Reporting of Experimental Results", sec. 3):
  for the N trial scores v_(1) <= ... <= v_(N) of a search, the best of n trials drawn with
  replacement has P(max = v_(i)) = (i/N)^n - ((i-1)/N)^n, so

      E[max_n] = sum_i v_(i) ((i/N)^n - ((i-1)/N)^n),   Var[max_n] = E[max_n^2] - E[max_n]^2.

  One line per optimizer compares optimizers at equal budgets: a ranking at 64 trials can
  differ from one at 4.
- Sensitivity: each trial's validation accuracy against each searched hyperparameter (log
  axes for log-scaled ones; 1 - value for decay rates), failed trials marked.
- The chosen configuration of each (task, optimizer, init) and the count of failed trials.

A trial's score is its mean final validation accuracy over the selection seeds, a failed run
counting at what it measured, or at chance where that is not finite (the suite's rule).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.records.queries import chance
from bench.records.values import counted_accuracy


def expected_best(scores: Sequence[float], budgets: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) of the best of n trials, for each n in `budgets` (Dodge et al.)."""
    values = np.sort(np.asarray(scores, dtype=float))
    count = values.size
    ranks = np.arange(1, count + 1) / count
    means, stds = [], []
    for n in budgets:
        weights = ranks ** n - (ranks - 1 / count) ** n
        mean = float(np.sum(weights * values))
        second = float(np.sum(weights * values ** 2))
        means.append(mean)
        stds.append(float(np.sqrt(max(second - mean ** 2, 0.0))))
    return np.asarray(means), np.asarray(stds)


def trials(results: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(task, optimizer, init) -> its trials in order: {"trial", "hyperparams", "score",
    "failed" (runs), "seeds"}, from the selection runs of a results document."""
    grouped: dict[tuple, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for run in results["runs"]:
        if run.get("phase") == "selection":
            grouped[(run["task"], run["optimizer"], run["init"])][run["trial"]].append(run)
    found = {}
    for key, by_trial in grouped.items():
        rows = []
        guess = chance(results, key[0])
        for trial, runs in sorted(by_trial.items()):
            values = [counted_accuracy(run["final_val_accuracy"], guess) for run in runs]
            rows.append({"trial": trial, "hyperparams": runs[0].get("hyperparams", {}),
                         "score": float(np.mean(values)),
                         "failed": sum(bool(run.get("failed")) for run in runs),
                         "seeds": len(runs)})
        found[key] = rows
    return found


def chosen_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (task, optimizer, init): the chosen trial (the configuration its evaluation runs
    trained), its selection score, and its evaluation test accuracy."""
    by_key = trials(results)
    evaluation: dict[tuple, list[dict]] = defaultdict(list)
    for run in results["runs"]:
        if run.get("phase", "evaluation") == "evaluation":
            evaluation[(run["task"], run["optimizer"], run["init"])].append(run)
    rows = []
    for key, runs in evaluation.items():
        trial = runs[0].get("trial", 0)
        scored = {row["trial"]: row for row in by_key.get(key, [])}
        tests = [counted_accuracy(run["final_test_accuracy"], chance(results, key[0])) for run in runs]
        rows.append({"task": key[0], "optimizer": key[1], "init": key[2], "trial": trial,
                     "hyperparams": runs[0].get("hyperparams", {}),
                     "selection_score": scored[trial]["score"] if trial in scored else None,
                     "trials": len(scored),
                     "failed_trials": sum(row["failed"] > 0 for row in scored.values()),
                     "test_accuracy_mean": float(np.mean(tests)) if tests else None,
                     "evaluation_seeds": len(runs)})
    return rows


def budget_figure(results: dict[str, Any], task: str, init: str):
    """Expected best validation accuracy vs number of trials, one line (mean +- std) per optimizer,
    in its colour and style (`figures.optimizer_style`); the y axis spans the data, the legend
    sits right of it."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figures import legend_outside, mark_every, optimizer_style, zoomed_limits

    figure, axes = plt.subplots(figsize=(7, 4.5))
    drawn = []
    line = 0
    for (t, optimizer, i), rows in trials(results).items():
        if (t, i) != (task, init):
            continue
        budgets = np.arange(1, len(rows) + 1)
        mean, std = expected_best([row["score"] for row in rows], budgets)
        style = optimizer_style(optimizer)
        low, high = np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1)
        axes.plot(budgets, mean, marker=style["marker"], markersize=4, color=style["color"],
                  linestyle=style["linestyle"], markevery=mark_every(len(budgets), line),
                  label=f"{optimizer} ({len(rows)} trials)")
        axes.fill_between(budgets, low, high, color=style["color"], alpha=0.15, linewidth=0)
        drawn += [*mean, *low, *high]
        line += 1
    limits = zoomed_limits(drawn, ceiling=1.0)
    if limits is not None:
        axes.set_ylim(*limits)
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set(xlabel="trials (budget)", ylabel="expected best validation accuracy",
             title=f"{task}, init {init}: expected best of n trials (Dodge et al. 2019), mean +- std")
    axes.grid(alpha=0.3, which="both")
    if line:
        legend_outside(axes)
    figure.tight_layout()
    return figure


def sensitivity_figure(results: dict[str, Any], task: str, optimizer: str, init: str):
    """Each trial's score against each searched hyperparameter, in the optimizer's colour; trials
    with failed seeds as black x. The y axis spans the trials without failures; a trial below it
    is drawn at the foot (a triangle, or its x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figures import legend_outside, optimizer_color, zoomed_limits

    color = optimizer_color(optimizer)
    rows = trials(results).get((task, optimizer, init), [])
    space = (results["meta"].get("config", {}).get("search_space") or {}).get(optimizer, {})
    dimensions = [(dimension[0], dimension[1]) for dimension in space.values()]
    if results["meta"].get("config", {}).get("schedule", "constant") != "constant":
        dimensions.append(("warmup_fraction", "linear"))
    figure, panels = plt.subplots(1, max(len(dimensions), 1), figsize=(4 * max(len(dimensions), 1), 3.6),
                                  squeeze=False, sharey=True)
    for axes, (argument, scale) in zip(panels[0], dimensions):
        x = np.asarray([row["hyperparams"].get(argument, np.nan) for row in rows], dtype=float)
        label = argument
        if scale == "one_minus_log":
            x, label = 1 - x, f"1 - {argument}"
        y = np.asarray([row["score"] for row in rows])
        failed = np.asarray([row["failed"] > 0 for row in rows], dtype=bool)
        # the axis spans the trials without failed seeds; a trial below it sits at the foot
        limits = zoomed_limits(y[~failed] if (~failed).any() else y, ceiling=1.0)
        if limits is not None:
            axes.set_ylim(*limits)
        low = -np.inf if limits is None else limits[0]
        foot = axes.get_xaxis_transform()  # y in axes coordinates
        axes.scatter(x[~failed & (y >= low)], y[~failed & (y >= low)], s=16, color=color, label="trial")
        if (~failed & (y < low)).any():
            axes.scatter(x[~failed & (y < low)], np.full((~failed & (y < low)).sum(), 0.03), marker="v", s=20,
                         color=color, transform=foot, label="trial below the axis")
        if failed.any():
            axes.scatter(x[failed & (y >= low)], y[failed & (y >= low)], marker="x", s=30, color="black",
                         label="trial with failed seeds")
            axes.scatter(x[failed & (y < low)], np.full((failed & (y < low)).sum(), 0.03), marker="x", s=30,
                         color="black", transform=foot)
        if scale in ("log", "one_minus_log"):
            axes.set_xscale("log")
        axes.set_xlabel(label)
        axes.grid(alpha=0.3, which="both")
    panels[0][0].set_ylabel("validation accuracy (selection seeds)")
    if rows:
        legend_outside(panels[0][-1], fontsize=7)
    figure.suptitle(f"{task}, {optimizer}, init {init}: sensitivity of {len(rows)} trials")
    figure.tight_layout()
    return figure


def is_search(results: dict[str, Any]) -> bool:
    """True for a document `tune` wrote (its config records each optimizer's search space)."""
    return bool(results["meta"]["config"].get("search_space"))


def search_plots(results: dict[str, Any], out_dir, stem: str) -> list[tuple[Path, Any]]:
    """(path, draw) for every search plot of a tune results document, in order:
    `<stem>-<task>-<init>-budget.png` and `<stem>-<task>-<optimizer>-<init>-sensitivity.png`."""
    from bench.analysis.figures import slug

    keys = sorted(trials(results))
    found = [(Path(out_dir) / f"{stem}-{slug(task)}-{slug(init)}-budget.png",
              lambda task=task, init=init: budget_figure(results, task, init))
             for task, init in sorted({(task, init) for task, _, init in keys})]
    found += [(Path(out_dir) / f"{stem}-{slug(task)}-{slug(optimizer)}-{slug(init)}-sensitivity.png",
               lambda task=task, optimizer=optimizer, init=init:
               sensitivity_figure(results, task, optimizer, init))
              for task, optimizer, init in keys]
    return found


def write_search_plots(results: dict[str, Any], out_dir, stem: str) -> list[Path]:
    """Draw and write every search plot (`search_plots`); their paths."""
    from bench.analysis.figures import save_figure

    return [save_figure(draw(), path) for path, draw in search_plots(results, out_dir, stem)]


def chosen_table(results: dict[str, Any]):
    """A rich table of the chosen configurations and failed trials."""
    from rich.table import Table

    table = Table(title="tune: the configuration chosen on the selection seeds, tested on the evaluation seeds",
                  title_justify="left")
    for column in ("task", "optimizer", "init", "trial", "hyperparameters", "val (selection)",
                   "test (evaluation)", "failed trials"):
        table.add_column(column, justify="right" if column in ("trial", "val (selection)",
                                                               "test (evaluation)", "failed trials") else "left")
    for row in chosen_rows(results):
        hyper = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in sorted(row["hyperparams"].items()))
        table.add_row(row["task"], row["optimizer"], row["init"], str(row["trial"]), hyper,
                      "—" if row["selection_score"] is None else f"{row['selection_score']:.3f}",
                      "—" if row["test_accuracy_mean"] is None else f"{row['test_accuracy_mean']:.3f}",
                      f"{row['failed_trials']}/{row['trials']}")
    return table
