"""muP in miniature (Yang et al. 2021, "Tensor Programs V", Figure 1): does the best learning
rate stay put as the network widens?

Input: a results document of the `mup` suite (tasks that differ only in hidden width, Adam
over one learning-rate grid, two parametrizations: `lecun_normal`, the standard one, and
`mup`). For each parametrization and width, the final training loss at every learning rate
is the **median** over the selection seeds (the seeds that train every rate): one diverged seed
moves a mean anywhere, a median not. A failed run counts at the loss it measured, or as +inf
(worse than any loss) where that is not finite. The best learning rate of a width is the one
with the lowest median loss. The drift, log10 of the largest over the smallest best rate, comes
with a 95% bootstrap interval: the selection seeds resampled with replacement (the same draw for
every width and rate: they are paired), the best rates and the drift recomputed
(`scipy.stats.bootstrap`, percentile). Under the standard parametrization the best rate should
drift down as the width grows, under muP stay put; the figure's title says how far it moved in
the file, never what theory predicts.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np

from bench.imports import LazyModule
from bench.records.estimators import CONFIDENCE, quiet_numerics

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

DRIFT_RESAMPLES = 2000
DRIFT_SEED = 0
PARAMETRIZATIONS = (("lecun_normal", "standard parametrization (lecun_normal)"), ("mup", "muP"))
WIDTH = re.compile(r"-w(\d+)$")


def applies(results: dict[str, Any]) -> bool:
    """True for a document with width tasks and both parametrizations (the `mup` suite)."""
    widths = {WIDTH.search(run["task"]) is not None for run in results["runs"]}
    inits = {run["init"] for run in results["runs"]}
    return widths == {True} and {"lecun_normal", "mup"} <= inits


def losses_by_seed(results: dict[str, Any]) -> dict[str, dict[int, dict[float, dict[int, float]]]]:
    """parametrization -> width -> learning rate -> {selection seed: final training loss}, a
    non-finite loss as +inf."""
    found: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for run in results["runs"]:
        match = WIDTH.search(run["task"])
        if match and run.get("phase") == "selection":
            loss = run["final_train_loss"]
            found[run["init"]][int(match.group(1))][float(run["lr"])][run["seed"]] = (
                np.inf if loss is None or not np.isfinite(loss) else float(loss))
    return found


def loss_by_rate(results: dict[str, Any]) -> dict[str, dict[int, dict[float, float]]]:
    """parametrization -> width -> learning rate -> median final training loss (selection seeds;
    +inf where half or more seeds ended non-finite)."""
    return {init: {width: {lr: float(np.median(list(by_seed.values()))) for lr, by_seed in by_rate.items()}
                   for width, by_rate in widths.items()}
            for init, widths in losses_by_seed(results).items()}


def best_rates(results: dict[str, Any]) -> dict[str, dict[int, float]]:
    """parametrization -> width -> the learning rate with the lowest median training loss."""
    return {init: {width: min(by_rate, key=by_rate.get) for width, by_rate in sorted(widths.items())}
            for init, widths in loss_by_rate(results).items()}


def drift(results: dict[str, Any]) -> dict[str, float]:
    """parametrization -> how far the best rate moves over the widths, in decades
    (log10 of the largest over the smallest best rate)."""
    return {init: _decades(rates.values()) for init, rates in best_rates(results).items()}


def _decades(rates) -> float:
    rates = list(rates)
    return float(np.log10(max(rates) / min(rates)))


def drift_interval(results: dict[str, Any], confidence: float = CONFIDENCE) -> dict[str, tuple[float, float] | None]:
    """parametrization -> the 95% percentile bootstrap interval of its drift over resamples of
    the selection seeds (None with fewer than two seeds shared by every width and rate)."""
    found = {}
    for init, widths in losses_by_seed(results).items():
        cells = [(width, lr) for width, by_rate in sorted(widths.items()) for lr in sorted(by_rate)]
        seeds = sorted(set.intersection(*(set(widths[width][lr]) for width, lr in cells)))
        if len(seeds) < 2:
            found[init] = None
            continue
        widths_order = sorted(widths)
        lrs = sorted({lr for _, lr in cells})
        # losses[width, rate, seed]; a rate a width never ran counts as +inf
        losses = np.array([[[widths[width].get(lr, {}).get(seed, np.inf) for seed in seeds] for lr in lrs]
                           for width in widths_order])
        rates = np.array(lrs)

        def statistic(indices, axis=-1):
            picked = np.asarray(indices, dtype=int)                  # (..., seeds)
            medians = np.median(losses[:, :, picked], axis=-1)       # (widths, rates, ...)
            best = rates[np.argmin(medians, axis=1)]                  # (widths, ...)
            return np.log10(best.max(axis=0) / best.min(axis=0))

        with quiet_numerics():
            result = scipy_stats.bootstrap((np.arange(len(seeds)),), statistic, vectorized=True,
                                           n_resamples=DRIFT_RESAMPLES, method="percentile",
                                           confidence_level=confidence,
                                           rng=np.random.default_rng(DRIFT_SEED))
        found[init] = (float(result.confidence_interval.low), float(result.confidence_interval.high))
    return found


def table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the best learning rate per width under each parametrization, and the
    drift with its 95% bootstrap interval."""
    best = best_rates(results)
    widths = sorted({width for rates in best.values() for width in rates})
    header = ["parametrization", *[f"width {width}" for width in widths], "drift (decades) [95% CI]"]
    moved, intervals = drift(results), drift_interval(results)
    rows = [[label, *[f"{best[init][width]:g}" if width in best.get(init, {}) else "—" for width in widths],
             f"{moved[init]:.2f}" + (f" [{intervals[init][0]:.2f}, {intervals[init][1]:.2f}]"
                                     if intervals.get(init) else " (too few seeds for an interval)")]
            for init, label in PARAMETRIZATIONS if init in best]
    return header, rows


def figure(results: dict[str, Any]):
    """Two panels (standard, muP): final training loss vs learning rate, one line per width
    (an ordered colour map, colour-blind safe, and a marker each), each width's best rate marked;
    the legend right of the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.analysis.figures import MARKERS, legend_outside

    found = loss_by_rate(results)
    widths = sorted({width for by_width in found.values() for width in by_width})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(widths)))
    panels = [(init, label) for init, label in PARAMETRIZATIONS if init in found]
    fig, axes_row = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), sharey=True,
                                 squeeze=False)
    for axes, (init, label) in zip(axes_row[0], panels):
        for color, width in zip(colors, widths):
            by_rate = found[init].get(width, {})
            if not by_rate:
                continue
            rates = sorted(by_rate)
            losses = [by_rate[rate] for rate in rates]
            axes.plot(rates, losses, marker=MARKERS[widths.index(width) % len(MARKERS)], markersize=4, color=color,
                      label=f"width {width}")
            best = min(by_rate, key=by_rate.get)
            axes.plot([best], [by_rate[best]], marker="*", markersize=12, color=color)
        axes.set(xscale="log", yscale="log", xlabel="learning rate (Adam)", title=label)
        axes.grid(alpha=0.3, which="both")
    axes_row[0][0].set_ylabel("final training loss (median over selection seeds)")
    legend_outside(axes_row[0][-1])
    moved = drift(results)
    fig.suptitle("Best learning rate (star) across widths: it moves "
                 + ", ".join(f"{moved[init]:.2f} decades under {short}"
                             for init, short in (("lecun_normal", "the standard parametrization"),
                                                 ("mup", "muP")) if init in moved))
    fig.tight_layout()
    return fig
