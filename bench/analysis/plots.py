"""The plots of a results file, as PNGs: convergence curves, the best-lr accuracy heatmap, steps
to target, and learning-rate sensitivity. `make_plots(results, out_dir)` writes them all.

Every mean is over the seeds that did not diverge (null values are skipped, never plotted as 0),
and every band is the 95% t interval over those seeds (`bench.analysis.stats`). A cell where every seed
diverged shows as a grey heatmap cell or an "x" at the foot of a sensitivity plot.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: safe on headless CI and remote GPU hosts

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.results.document import (best_lr_rows, finite_or_none, format_lr, inits_of, lr_key,  # noqa: E402
                                  optimizers_of, runs_by_cell, tasks)
from bench.analysis.stats import column_means_ci95, mean_ci95  # noqa: E402
from bench.results.files import temporary_beside  # noqa: E402

DPI = 110
METRICS = (("val_accuracy", "validation accuracy"), ("train_loss", "training loss"))


def make_plots(results: dict, out_dir, stem: str = "results") -> list[Path]:
    """Write every plot of `results` into `out_dir` as `<stem>-<task>-<kind>.png`; their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task in tasks(results):
        prefix = f"{stem}-{_slug(task)}"
        figures = {"convergence": convergence_by_optimizer(results, task)}
        for optimizer in optimizers_of(results, task):
            figures[f"convergence-{_slug(optimizer)}"] = convergence_by_init(results, task, optimizer)
        figures["heatmap"] = accuracy_heatmap(results, task)
        figures["steps-to-target"] = steps_to_target_strips(results, task)
        figures["lr-sensitivity"] = lr_sensitivity(results, task)
        for kind, figure in figures.items():
            written.append(save_figure(figure, out_dir / f"{prefix}-{kind}.png"))
    return written


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def save_figure(figure, path) -> Path:
    """Save via a temporary file in the same folder (a reader never sees half a PNG), then close
    the figure (many figures per report: free each one)."""
    path = Path(path)
    extension = path.suffix.lstrip(".") or "png"
    handle, temporary = temporary_beside(str(path))  # named after `path`: a stale one is found
    os.close(handle)
    try:
        figure.savefig(temporary, format=extension, dpi=DPI, bbox_inches="tight")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        plt.close(figure)
    return path


def config_title(results: dict, task: str, what: str) -> str:
    config = results["meta"].get("config", {})
    seeds, steps, batch = (config.get(key, "?") for key in ("seeds", "steps", "batch_size"))
    return f"{what}\n{task}: {seeds} seeds, {steps} steps, batch size {batch}"


# -- convergence curves -------------------------------------------------------------------------

def curve_matrix(runs: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs x steps values) over the union of the runs' evaluated steps; null -> NaN."""
    steps = np.array(sorted({step for run in runs for step in run["curve"]["step"]}), dtype=float)
    column = {step: index for index, step in enumerate(steps)}
    matrix = np.full((len(runs), len(steps)), np.nan)
    for row, run in enumerate(runs):
        for step, value in zip(run["curve"]["step"], run["curve"][metric]):
            value = finite_or_none(value)
            if value is not None:
                matrix[row, column[step]] = value
    return steps, matrix


def line_colors(count: int) -> tuple:
    """Distinct colours: tab10 up to ten lines, tab20 beyond (twelve inits must not share one)."""
    return plt.cm.tab10.colors if count <= 10 else plt.cm.tab20.colors


def _plot_band(axes, runs: list[dict], metric: str, label: str, color) -> None:
    if not runs:
        return
    steps, matrix = curve_matrix(runs, metric)
    mean, low, high = column_means_ci95(matrix)
    axes.plot(steps, mean, label=label, color=color, linewidth=1.8)
    axes.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)


def _curve_figure(results: dict, task: str, lines: list[tuple[str, list[dict]]], what: str):
    figure, axes_pair = plt.subplots(1, 2, figsize=(12, 4.4))
    colors = line_colors(len(lines))
    for axes, (metric, label) in zip(axes_pair, METRICS):
        for index, (line_label, runs) in enumerate(lines):
            _plot_band(axes, runs, metric, line_label, colors[index % len(colors)])
        axes.set_xlabel("step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    if _all_positive(axes_pair[1]):
        axes_pair[1].set_yscale("log")  # losses span decades; log shows the late phase too
    target = results["meta"].get("config", {}).get("target")
    if target is not None:
        axes_pair[0].axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target {target}")
    axes_pair[0].legend(fontsize=8, loc="lower right")
    figure.suptitle(config_title(results, task, what + " (mean, 95% band over seeds)"))
    return figure


def _all_positive(axes) -> bool:
    values = [np.asarray(line.get_ydata(), dtype=float) for line in axes.get_lines()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    return finite.size > 0 and bool((finite > 0).all())


def _best_init_row(results: dict, task: str, optimizer: str) -> dict | None:
    """The optimizer's best (init, lr) summary row, by mean validation accuracy."""
    rows = [row for (_, opt, _), row in best_lr_rows(results, task).items() if opt == optimizer]
    scored = [row for row in rows if finite_or_none(row["val_accuracy_mean"]) is not None]
    return max(scored, key=lambda row: row["val_accuracy_mean"]) if scored else None


def _runs_at(results: dict, row: dict) -> list[dict]:
    cell = (row["task"], row["optimizer"], row["init"], lr_key(row["lr"]))
    return runs_by_cell(results).get(cell, [])


def _lr_and_divergences(row: dict) -> str:
    """Legend text: the lr, and how many seeds diverged there (their curves stop where they blew up)."""
    text = f"lr {format_lr(row['lr'])}"
    if row["n_diverged"]:
        text += f", {row['n_diverged']}/{row['n_seeds']} diverged"
    return text


def convergence_by_optimizer(results: dict, task: str):
    """One line per optimizer, at its best init and best learning rate."""
    lines = []
    for optimizer in optimizers_of(results, task):
        row = _best_init_row(results, task, optimizer)
        if row is not None:
            lines.append((f"{optimizer} ({row['init']}, {_lr_and_divergences(row)})", _runs_at(results, row)))
    return _curve_figure(results, task, lines, "Convergence: each optimizer at its best init and lr")


def convergence_by_init(results: dict, task: str, optimizer: str):
    """One line per init the optimizer ran, each at that init's best learning rate."""
    rows = best_lr_rows(results, task)
    chosen = [rows[(task, optimizer, init)] for init in inits_of(results, task) if (task, optimizer, init) in rows]
    lines = [(f"{row['init']} ({_lr_and_divergences(row)})", _runs_at(results, row)) for row in chosen]
    return _curve_figure(results, task, lines, f"Convergence of {optimizer}: each init at its best lr")


# -- heatmap ------------------------------------------------------------------------------------

def accuracy_heatmap(results: dict, task: str):
    """Best-lr mean test accuracy, init (rows) x optimizer (columns); grey where not run or diverged."""
    optimizers, inits = optimizers_of(results, task), inits_of(results, task)
    rows = best_lr_rows(results, task)
    means = np.full((len(inits), len(optimizers)), np.nan)
    for i, init in enumerate(inits):
        for j, optimizer in enumerate(optimizers):
            row = rows.get((task, optimizer, init))
            if row is not None and finite_or_none(row["test_accuracy_mean"]) is not None:
                means[i, j] = row["test_accuracy_mean"]
    figure, axes = plt.subplots(figsize=(1.6 * len(optimizers) + 3, 0.7 * len(inits) + 2.2))
    colormap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")  # NaN: not run, or diverged
    image = axes.imshow(np.ma.masked_invalid(means), cmap=colormap, aspect="auto")
    _annotate_heatmap(axes, means, rows, task, inits, optimizers)
    axes.set_xticks(range(len(optimizers)), optimizers)
    axes.set_yticks(range(len(inits)), inits)
    axes.set_xlabel("optimizer")
    axes.set_ylabel("init")
    figure.colorbar(image, ax=axes, label="mean test accuracy")
    axes.set_title(config_title(results, task, "Test accuracy at each cell's best lr"), fontsize=10)
    return figure


def _annotate_heatmap(axes, means, rows, task, inits, optimizers) -> None:
    finite = means[np.isfinite(means)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i, init in enumerate(inits):
        for j, optimizer in enumerate(optimizers):
            row = rows.get((task, optimizer, init))
            if row is None:
                text, color = "not run", "dimgrey"
            elif np.isnan(means[i, j]):
                text, color = "diverged", "dimgrey"
            else:
                text = f"{means[i, j]:.3f}\nlr {format_lr(row['lr'])}"
                color = "black" if means[i, j] > middle else "white"  # readable on viridis
            axes.text(j, i, text, ha="center", va="center", fontsize=8, color=color)


# -- steps to target ----------------------------------------------------------------------------

def steps_to_target_strips(results: dict, task: str):
    """Per (optimizer, init) at its best lr: each seed's steps to target, the median, and at the
    right edge the count of seeds that never reached it (diverged ones included)."""
    config = results["meta"].get("config", {})
    by_pair = best_lr_rows(results, task)
    rows = [by_pair[(task, optimizer, init)] for optimizer in optimizers_of(results, task)
            for init in inits_of(results, task) if (task, optimizer, init) in by_pair]
    max_step = _max_step(results, config)
    never_x = max_step * 1.06
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 2))
    rng = np.random.default_rng(0)  # jitter only, fixed so the picture is reproducible
    labels = []
    for y, row in enumerate(rows):
        runs = _runs_at(results, row)
        reached = [run["steps_to_target"] for run in runs
                   if not run["diverged"] and run["steps_to_target"] is not None]
        labels.append(f"{row['optimizer']} / {row['init']} (lr {format_lr(row['lr'])})")
        axes.scatter(reached, y + rng.uniform(-0.15, 0.15, len(reached)), s=14, color="tab:blue", alpha=0.7)
        if reached:
            axes.plot([np.median(reached)] * 2, [y - 0.3, y + 0.3], color="black", linewidth=2)
        never = len(runs) - len(reached)
        if never:
            axes.scatter([never_x], [y], marker="x", color="tab:red", s=30)
            axes.text(never_x * 1.015, y, f"{never}/{len(runs)} never", va="center", fontsize=8, color="tab:red")
    axes.axvline(max_step, color="grey", linestyle=":", linewidth=1)
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.set_xlim(0, max_step * 1.25)
    axes.set_ylim(len(rows) - 0.3, -0.7)  # first pair on top, in the config's order
    axes.set_xlabel("steps to reach the target validation accuracy (bar: median; x: never reached)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(config_title(results, task, f"Steps to target (val accuracy >= {config.get('target', '?')})"),
                   fontsize=10)
    return figure


def _max_step(results: dict, config: dict) -> float:
    steps = [step for run in results["runs"] for step in run["curve"]["step"]]
    return float(config.get("steps") or (max(steps) if steps else 1) or 1)


# -- learning-rate sensitivity ------------------------------------------------------------------

def lr_sensitivity(results: dict, task: str):
    """Final validation accuracy vs learning rate (log x), one panel per init, one line per optimizer."""
    inits, optimizers = inits_of(results, task), optimizers_of(results, task)
    columns = min(3, len(inits)) or 1
    panels = max(1, -(-len(inits) // columns))
    figure, axes_grid = plt.subplots(panels, columns, figsize=(4.6 * columns, 3.6 * panels + 0.8),
                                     squeeze=False, sharey=True)
    cells = runs_by_cell(results)
    colors = line_colors(len(optimizers))
    for index, init in enumerate(inits):
        axes = axes_grid[index // columns][index % columns]
        for color_index, optimizer in enumerate(optimizers):
            _sensitivity_line(axes, cells, task, optimizer, init, colors[color_index % len(colors)])
        axes.set_xscale("log")
        axes.set_title(f"init {init}", fontsize=9)
        axes.set_xlabel("learning rate")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    for index in range(len(inits), panels * columns):
        axes_grid[index // columns][index % columns].set_visible(False)
    for row_axes in axes_grid:
        row_axes[0].set_ylabel("final validation accuracy")
    figure.suptitle(config_title(results, task, "Learning-rate sensitivity (mean, 95% CI; x: every seed diverged)"))
    figure.tight_layout()
    return figure


def _sensitivity_line(axes, cells, task, optimizer, init, color) -> None:
    found = sorted((lr, runs) for (t, opt, ini, lr), runs in cells.items()
                   if (t, opt, ini) == (task, optimizer, init))
    if not found:
        return
    points, all_diverged = [], []
    for lr, runs in found:
        values = [run["final_val_accuracy"] for run in runs if not run["diverged"]]
        interval = mean_ci95(values)
        finite = [v for v in (finite_or_none(v) for v in values) if v is not None]
        if finite:
            mean = float(np.mean(finite))
            points.append((lr, mean, *(interval or (mean, mean))))
        else:
            all_diverged.append(lr)
    if points:
        lrs, means, lows, highs = map(np.array, zip(*points))
        axes.errorbar(lrs, means, yerr=[means - lows, highs - means], marker="o", markersize=4,
                      capsize=3, color=color, label=optimizer)
    if all_diverged:
        # y in axes coordinates: the marks sit at the foot of the panel whatever its scale
        axes.plot(all_diverged, [0.03] * len(all_diverged), "x", color=color, markersize=8,
                  transform=axes.get_xaxis_transform(), label=None if points else optimizer)
