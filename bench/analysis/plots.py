"""The plots of a results file, as PNGs: convergence curves, the test-accuracy heatmap, steps
to target, and learning-rate sensitivity. `make_plots(results, out_dir)` writes them all.

Each (optimizer, init) is drawn at its configuration chosen on validation, from its evaluation
seeds; "best init" means best on validation too. Validation accuracy counts every seed: where a
failed run measured nothing finite it counts at chance, as in every mean of the summary; training
losses have no such stand-in, so a non-finite loss is left out of its band. Bands on curves are
95% percentile bootstrap intervals of the mean over seeds (`figures.bootstrap_mean_band`). Every
optimizer and init is drawn in its own colour, dash pattern and marker (`figures`), the same in
every figure; legends sit outside the data; accuracy axes span the data, not 0 to 1. Steps to
target show censored seeds (never reached, or failed) at the right edge, and the Kaplan-Meier
median with its interval.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: safe on headless CI and remote GPU hosts

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.analysis import search  # noqa: E402
from bench.analysis.figures import (bootstrap_mean_band, init_style, legend_outside, mark_every,  # noqa: E402
                                    optimizer_style, save_figure, slug, zoomed_limits)
from bench.records import budgets  # noqa: E402
from bench.records.keys import pair_of  # noqa: E402
from bench.records.labels import format_configuration, format_lr  # noqa: E402
from bench.records.queries import (chance, chosen_rows, inits_of, optimizers_of, rows_of,  # noqa: E402
                                   runs_of_row, task_settings, tasks)
from bench.records.selection import selection_key  # noqa: E402
from bench.records.values import finite_or_none  # noqa: E402

METRICS = (("val_accuracy", "validation accuracy"), ("train_loss", "training loss"))


SUITE = "suite"  # the task slot of plots across tasks: <stem>-suite-<kind>.png


def suite_plots(results: dict) -> list[tuple[str, object]]:
    """(kind, function drawing it) of the plots across tasks: performance profiles when a suite
    has several tasks, the muP study when it is one."""
    from bench.analysis import mup, profiles

    found = []
    if len(tasks(results)) > 1 and profiles.applies(results):  # several tasks, several methods
        found.append(("profiles", profiles.profile_figure))
    if mup.applies(results):
        found.append(("mup", mup.figure))
    return found


def optimizers_by_init(results: dict, task: str) -> list[str]:
    """The optimizers that get a figure of their own, one line per init: those that ran two inits
    or more on `task` (one init's line is already in the task's convergence figure)."""
    return [optimizer for optimizer in optimizers_of(results, task)
            if len({row["init"] for row in results["summary"]
                    if row["task"] == task and row["optimizer"] == optimizer}) > 1]


def plot_paths(results: dict, out_dir, stem: str = "results") -> list[Path]:
    """The PNGs `make_plots` writes, in order, without drawing anything: with several budgets
    (`run --budgets`), each budget's figures, named `<stem>-budget<N>-...`."""
    out_dir = Path(out_dir)
    paths = []
    for part_stem, part in _budget_parts(results, stem):
        for task in tasks(part):
            kinds = ["convergence", *(f"convergence-{slug(o)}" for o in optimizers_by_init(part, task)),
                     "heatmap", "steps-to-target", "lr-sensitivity"]
            paths += [out_dir / f"{part_stem}-{slug(task)}-{kind}.png" for kind in kinds]
        paths += [out_dir / f"{part_stem}-{SUITE}-{kind}.png" for kind, _ in suite_plots(part)]
    if search.is_search(results):
        paths += [path for path, _ in search.search_plots(results, out_dir, stem)]
    return paths


def _budget_parts(results: dict, stem: str) -> list[tuple[str, dict]]:
    """(file stem, slice) of each budget: the stem itself for a document of one budget."""
    return [(stem if budget is None else f"{stem}-{budgets.slug(budget)}", part)
            for budget, part in budgets.slices(results)]


def make_plots(results: dict, out_dir, stem: str = "results") -> list[Path]:
    """Write every plot of `results` into `out_dir` as `<stem>-<task>-<kind>.png` (a figure per
    budget where budgets vary); their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = iter(plot_paths(results, out_dir, stem))
    written = []
    for _, part in _budget_parts(results, stem):
        for task in tasks(part):
            figures = [convergence_by_optimizer(part, task)]
            figures += [convergence_by_init(part, task, optimizer)
                        for optimizer in optimizers_by_init(part, task)]
            figures += [accuracy_heatmap(part, task), steps_to_target_strips(part, task),
                        lr_sensitivity(part, task)]
            written += [save_figure(figure, next(paths)) for figure in figures]
        written += [save_figure(draw(part), next(paths)) for _, draw in suite_plots(part)]
    if search.is_search(results):
        written += search.write_search_plots(results, out_dir, stem)
    return written


def config_title(results: dict, task: str, what: str, phase: str = "evaluation") -> str:
    seeds = len(results["meta"]["config"][f"{phase}_seeds"])
    steps, batch = (task_settings(results, task).get(key, "?") for key in ("steps", "batch_size"))
    return f"{what}\n{task}: {seeds} {phase} seeds, {steps} steps, batch size {batch}"


# -- convergence curves -------------------------------------------------------------------------

def curve_matrix(runs: list[dict], metric: str, missing: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs x steps values) over the union of the runs' evaluated steps; a null value
    becomes `missing` (NaN: left out of the band; chance, for an accuracy: counted)."""
    steps = np.array(sorted({step for run in runs for step in run["curve"]["step"]}), dtype=float)
    column = {step: index for index, step in enumerate(steps)}
    matrix = np.full((len(runs), len(steps)), np.nan)
    for row, run in enumerate(runs):
        for step, value in zip(run["curve"]["step"], run["curve"][metric]):
            value = finite_or_none(value)
            matrix[row, column[step]] = missing if value is None else value
    return steps, matrix


def _plot_band(axes, runs: list[dict], metric: str, label: str, style: dict, chance_accuracy: float,
               line: int = 0) -> list[float]:
    """Draw the mean and its bootstrap band; the values drawn (for the axis limits)."""
    if not runs:
        return []
    steps, matrix = curve_matrix(runs, metric, chance_accuracy if metric == "val_accuracy" else np.nan)
    mean, low, high = bootstrap_mean_band(matrix)
    axes.plot(steps, mean, label=label, color=style["color"], linestyle=style["linestyle"],
              marker=style["marker"], markersize=4, markevery=mark_every(len(steps), line), linewidth=1.6)
    axes.fill_between(steps, low, high, color=style["color"], alpha=0.15, linewidth=0)
    return [*mean, *low, *high]


def _curve_figure(results: dict, task: str, lines: list[tuple[str, dict, list[dict]]], what: str):
    """`lines`: (label, style, runs). Accuracy on the left (axis zoomed to the data), training
    loss on the right (log where every value is positive); one legend, right of the panels."""
    figure, axes_pair = plt.subplots(1, 2, figsize=(12, 4.4))
    for axes, (metric, label) in zip(axes_pair, METRICS):
        drawn = []
        for index, (line_label, style, runs) in enumerate(lines):
            drawn += _plot_band(axes, runs, metric, line_label, style, chance(results, task), index)
        if metric == "val_accuracy":
            limits = zoomed_limits(drawn, ceiling=1.0)
            if limits is not None:
                axes.set_ylim(*limits)
        axes.set_xlabel("step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    if _all_positive(axes_pair[1]):
        axes_pair[1].set_yscale("log")  # losses span decades; log shows the late phase too
    target = task_settings(results, task).get("target")
    if target is not None:
        axes_pair[0].axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target {target}")
    handles, labels = axes_pair[0].get_legend_handles_labels()
    if handles:
        legend_outside(axes_pair[1], handles=handles, labels=labels)
    figure.suptitle(config_title(results, task, what + " (mean, 95% bootstrap band over seeds; failed runs at "
                                                       "chance)"))
    return figure


def _all_positive(axes) -> bool:
    values = [np.asarray(line.get_ydata(), dtype=float) for line in axes.get_lines()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    return finite.size > 0 and bool((finite > 0).all())


def _best_init_row(results: dict, task: str, optimizer: str) -> dict | None:
    """The optimizer's evaluation row at its best init on validation (`selection_key`)."""
    evaluation = chosen_rows(results, "evaluation", task)
    selection = chosen_rows(results, "selection", task)
    pairs = [pair for pair in evaluation if pair[1] == optimizer and pair in selection]
    return evaluation[min(pairs, key=lambda pair: selection_key(selection[pair]))] if pairs else None


def _configuration_and_failures(row: dict) -> str:
    """Legend text: the chosen configuration, and how many seeds failed there."""
    text = format_configuration(row)
    if row["n_failed"]:
        text += f", {row['n_failed']}/{row['n_seeds']} failed"
    return text


def convergence_by_optimizer(results: dict, task: str):
    """One line per optimizer, at its best init and chosen configuration (on validation)."""
    lines = []
    for optimizer in optimizers_of(results, task):
        row = _best_init_row(results, task, optimizer)
        if row is not None:
            lines.append((f"{optimizer} ({row['init']}, {_configuration_and_failures(row)})",
                          optimizer_style(optimizer), runs_of_row(results, row)))
    return _curve_figure(results, task, lines, "Convergence: each optimizer at its best init, chosen on validation")


def convergence_by_init(results: dict, task: str, optimizer: str):
    """One line per init the optimizer ran, each at its chosen configuration."""
    rows = chosen_rows(results, "evaluation", task)
    chosen = [rows[(task, optimizer, init)] for init in inits_of(results, task) if (task, optimizer, init) in rows]
    lines = [(f"{row['init']} ({_configuration_and_failures(row)})", init_style(row["init"]), runs_of_row(results, row))
             for row in chosen]
    return _curve_figure(results, task, lines, f"Convergence of {optimizer}: each init at its chosen configuration")


# -- heatmap ------------------------------------------------------------------------------------

def accuracy_heatmap(results: dict, task: str):
    """Test accuracy of each chosen configuration, init (rows) x optimizer (columns); grey: not run."""
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    rows = chosen_rows(results, "evaluation", task)
    means = np.full((len(inits), len(optimizers)), np.nan)
    for i, init in enumerate(inits):
        for j, optimizer in enumerate(optimizers):
            row = rows.get((task, optimizer, init))
            if row is not None:
                means[i, j] = row["test_accuracy_mean"]
    figure, axes = plt.subplots(figsize=(1.6 * len(optimizers) + 3, 0.7 * len(inits) + 2.2))
    colormap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")  # NaN: not run
    image = axes.imshow(np.ma.masked_invalid(means), cmap=colormap, aspect="auto")
    _annotate_heatmap(axes, means, rows, task, inits, optimizers)
    axes.set_xticks(range(len(optimizers)), optimizers)
    axes.set_yticks(range(len(inits)), inits)
    axes.set_xlabel("optimizer")
    axes.set_ylabel("init")
    figure.colorbar(image, ax=axes, label="mean test accuracy (failures counted)")
    axes.set_title(config_title(results, task, "Test accuracy at each chosen configuration"), fontsize=10)
    return figure


def _annotate_heatmap(axes, means, rows, task, inits, optimizers) -> None:
    finite = means[np.isfinite(means)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i, init in enumerate(inits):
        for j, optimizer in enumerate(optimizers):
            row = rows.get((task, optimizer, init))
            if row is None:
                text, color = "not run", "dimgrey"
            else:
                text = f"{means[i, j]:.3f}\nlr {format_lr(row['lr'])}"
                if row["n_failed"]:
                    text += f"\n{row['n_failed']}/{row['n_seeds']} failed"
                color = "black" if means[i, j] > middle else "white"  # readable on viridis
            axes.text(j, i, text, ha="center", va="center", fontsize=8, color=color)


# -- steps to target ----------------------------------------------------------------------------

def steps_to_target_strips(results: dict, task: str):
    """Per (optimizer, init) at its chosen configuration: each seed's steps to target (dots), the
    censored seeds (never reached, or failed) at the right edge, and the Kaplan-Meier median
    (bar) with its 95% interval (line; an arrow where it runs past the end of training)."""
    settings = task_settings(results, task)
    by_pair = chosen_rows(results, "evaluation", task)
    rows = [by_pair[(task, optimizer, init)] for optimizer in optimizers_of(results, task)
            for init in inits_of(results, task) if (task, optimizer, init) in by_pair]
    max_step = float(settings["steps"])
    never_x = max_step * 1.06
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 2))
    rng = np.random.default_rng(0)  # jitter only, fixed so the picture is reproducible
    labels = []
    for y, row in enumerate(rows):
        runs = runs_of_row(results, row)
        reached = [run["steps_to_target"] for run in runs if run["steps_to_target"] is not None]
        labels.append(f"{row['optimizer']} / {row['init']} ({format_configuration(row)})")
        axes.scatter(reached, y + rng.uniform(-0.15, 0.15, len(reached)), s=14,
                     color=optimizer_style(row["optimizer"])["color"], alpha=0.8)
        _median_and_interval(axes, row, y, max_step)
        censored = len(runs) - len(reached)
        if censored:
            failed = sum(run["failed"] for run in runs)
            axes.scatter([never_x], [y], marker="x", color="black", s=30)
            axes.text(never_x * 1.015, y, f"{censored}/{len(runs)} never" + (f" ({failed} failed)" if failed else ""),
                      va="center", fontsize=8, color="black")
    axes.axvline(max_step, color="grey", linestyle=":", linewidth=1)
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.set_xlim(0, max_step * 1.3)
    axes.set_ylim(len(rows) - 0.3, -0.7)  # first pair on top, in the config's order
    axes.set_xlabel("steps to reach the target validation accuracy (bar: Kaplan-Meier median, line: its 95% "
                    "interval; x: censored at the end of training)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(config_title(results, task, f"Steps to target (val accuracy >= {settings.get('target', '?')})"),
                   fontsize=10)
    return figure


def _median_and_interval(axes, row: dict, y: float, max_step: float) -> None:
    median, interval = row["steps_to_target_median"], row["steps_to_target_ci95"]
    if interval is not None:
        low, high = interval
        axes.plot([low, max_step if high is None else high], [y + 0.25] * 2, color="black", linewidth=1)
        if high is None:
            axes.annotate("", xy=(max_step * 1.03, y + 0.25), xytext=(max_step, y + 0.25),
                          arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 1})
    if median is not None:
        axes.plot([median] * 2, [y - 0.3, y + 0.3], color="black", linewidth=2)
    else:
        axes.text(max_step * 0.98, y - 0.32, f"median > {max_step:g}", ha="right", fontsize=7)


# -- learning-rate sensitivity ------------------------------------------------------------------

def lr_sensitivity(results: dict, task: str):
    """Final validation accuracy vs learning rate (log x), one panel per init, one line per optimizer,
    over the selection seeds (every seed counted). Each panel's y axis runs from just below its
    worst chosen configuration's interval (among those where at most half the seeds failed) to
    just above its best: the differences between chosen configurations are what a reader compares. At the
    foot: a triangle for a rate whose accuracy lies below the axis, x where more than half the
    seeds failed; a ring marks each optimizer's chosen rate. A search's trials are points, not a
    line."""
    inits, optimizers = inits_of(results, task), optimizers_of(results, task)
    columns = min(3, len(inits)) or 1
    panels = max(1, -(-len(inits) // columns))
    figure, axes_grid = plt.subplots(panels, columns, figsize=(4.6 * columns, 3.6 * panels + 0.8),
                                     squeeze=False)
    candidates = _candidate_rows(results, task)
    chosen = chosen_rows(results, "selection", task)
    handles: dict[str, object] = {}
    for index, init in enumerate(inits):
        axes = axes_grid[index // columns][index % columns]
        picked = [chosen[(task, optimizer, init)] for optimizer in optimizers if (task, optimizer, init) in chosen]
        limits = sensitivity_limits(picked)
        if limits is not None:
            axes.set_ylim(*limits)
        for line, optimizer in enumerate(optimizers):
            drawn = _sensitivity_line(axes, candidates.get((task, optimizer, init), []), optimizer,
                                      optimizer_style(optimizer), chosen.get((task, optimizer, init)), limits,
                                      connect=not search.is_search(results))
            if drawn is not None:
                handles.setdefault(optimizer, drawn)
        axes.set_xscale("log")
        axes.set_title(f"init {init}", fontsize=9)
        axes.set_xlabel("learning rate")
        axes.grid(alpha=0.3)
    for index in range(len(inits), panels * columns):
        axes_grid[index // columns][index % columns].set_visible(False)
    if handles:
        legend_outside(axes_grid[0][columns - 1], handles=list(handles.values()), labels=list(handles),
                       title="optimizer")
    for row_axes in axes_grid:
        row_axes[0].set_ylabel("final validation accuracy")
    figure.suptitle(config_title(results, task, "Learning-rate sensitivity on the selection seeds (mean, 95% CI, "
                                                "failures counted)\nring: chosen; axis zoomed to the chosen rates, "
                                                "triangle: below it; x: most seeds failed", "selection"),
                    fontsize=10)
    figure.tight_layout()
    return figure


def sensitivity_limits(chosen: list[dict]):
    """(low, high) of a sensitivity panel: just around the chosen configurations' mean validation
    accuracies and their 95% intervals (the top capped at 1), those where more than half the
    seeds failed left out (None when nothing is left)."""
    kept = [row for row in chosen if row.get("failed_fraction", 0.0) <= 0.5]
    values = [row["val_accuracy_mean"] for row in kept]
    values += [bound for row in kept for bound in (row.get("val_accuracy_ci95") or [])]
    return zoomed_limits(values, ceiling=1.0)


def _candidate_rows(results: dict, task: str) -> dict[tuple, list[dict]]:
    """(task, optimizer, init) -> its candidates' rows: the selection rows (evaluation rows for a
    pair that has none, as in a schema-1 file)."""
    found: dict[str, dict[tuple, list[dict]]] = {"selection": {}, "evaluation": {}}
    for phase, by_pair in found.items():
        for row in rows_of(results, phase, task):
            by_pair.setdefault(pair_of(row), []).append(row)
    return {**found["evaluation"], **found["selection"]}


def _sensitivity_line(axes, rows: list[dict], optimizer: str, style: dict, chosen: dict | None, limits,
                      connect: bool = True):
    """One optimizer's line (points only where `connect` is false: a search's neighbouring rates
    differ in other hyperparameters too); its handle for the legend (None when it has no rows)."""
    rows = sorted(rows, key=lambda row: row["lr"])
    if not rows:
        return None
    lrs = np.array([row["lr"] for row in rows])
    means = np.array([row["val_accuracy_mean"] for row in rows])
    lows = np.array([(row["val_accuracy_ci95"] or [row["val_accuracy_mean"]] * 2)[0] for row in rows])
    highs = np.array([(row["val_accuracy_ci95"] or [row["val_accuracy_mean"]] * 2)[1] for row in rows])
    drawn = axes.errorbar(lrs, means, yerr=[means - lows, highs - means], marker=style["marker"], markersize=4,
                          capsize=3, color=style["color"], linestyle=style["linestyle"] if connect else "none",
                          label=optimizer)
    if chosen is not None:
        axes.plot([chosen["lr"]], [chosen["val_accuracy_mean"]], marker="o", markersize=11, markerfacecolor="none",
                  markeredgecolor=style["color"], markeredgewidth=1.5, linestyle="none")
    failed = [row["lr"] for row in rows if row["failed_fraction"] > 0.5]
    below = [row["lr"] for row in rows if row["failed_fraction"] <= 0.5 and limits is not None
             and row["val_accuracy_mean"] < limits[0]]
    # y in axes coordinates: the marks sit at the foot of the panel whatever its scale
    if failed:
        axes.plot(failed, [0.03] * len(failed), "x", color=style["color"], markersize=8,
                  transform=axes.get_xaxis_transform())
    if below:
        axes.plot(below, [0.03] * len(below), "v", color=style["color"], markersize=6,
                  transform=axes.get_xaxis_transform())
    return drawn
