"""muP in miniature (Yang et al. 2021, "Tensor Programs V", Figure 1): does the best learning
rate stay put as the network widens?

Input: a results document of the `mup` suite (tasks that differ only in hidden width, Adam
over one learning-rate grid, two parametrizations: `lecun_normal`, the standard one, and
`mup`). For each parametrization and width, the final training loss at every learning rate
is its mean over the selection seeds (the seeds that train every rate); a failed run counts
at the loss it measured, or as missing where that is not finite. The best learning rate of a
width is the one with the lowest mean loss. Under the standard parametrization it should drift
down as the width grows, under muP stay put; the figure's title says how far it moved in the file,
never what theory predicts.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np

PARAMETRIZATIONS = (("lecun_normal", "standard parametrization (lecun_normal)"), ("mup", "muP"))
WIDTH = re.compile(r"-w(\d+)$")


def applies(results: dict[str, Any]) -> bool:
    """True for a document with width tasks and both parametrizations (the `mup` suite)."""
    widths = {WIDTH.search(run["task"]) is not None for run in results["runs"]}
    inits = {run["init"] for run in results["runs"]}
    return widths == {True} and {"lecun_normal", "mup"} <= inits


def loss_by_rate(results: dict[str, Any]) -> dict[str, dict[int, dict[float, float]]]:
    """parametrization -> width -> learning rate -> mean final training loss (selection seeds)."""
    values: dict[tuple, list[float]] = defaultdict(list)
    for run in results["runs"]:
        match = WIDTH.search(run["task"])
        if match and run.get("phase") == "selection" and run["final_train_loss"] is not None:
            values[(run["init"], int(match.group(1)), float(run["lr"]))].append(run["final_train_loss"])
    found: dict[str, dict[int, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    for (init, width, lr), losses in values.items():
        found[init][width][lr] = float(np.mean(losses))
    return found


def best_rates(results: dict[str, Any]) -> dict[str, dict[int, float]]:
    """parametrization -> width -> the learning rate with the lowest mean training loss."""
    return {init: {width: min(by_rate, key=by_rate.get) for width, by_rate in sorted(widths.items())}
            for init, widths in loss_by_rate(results).items()}


def drift(results: dict[str, Any]) -> dict[str, float]:
    """parametrization -> how far the best rate moves over the widths, in decades
    (log10 of the largest over the smallest best rate)."""
    return {init: float(np.log10(max(rates.values()) / min(rates.values())))
            for init, rates in best_rates(results).items()}


def table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the best learning rate per width under each parametrization."""
    best = best_rates(results)
    widths = sorted({width for rates in best.values() for width in rates})
    header = ["parametrization", *[f"width {width}" for width in widths], "drift (decades)"]
    moved = drift(results)
    rows = [[label, *[f"{best[init][width]:g}" if width in best.get(init, {}) else "—" for width in widths],
             f"{moved[init]:.2f}"] for init, label in PARAMETRIZATIONS if init in best]
    return header, rows


def figure(results: dict[str, Any]):
    """Two panels (standard, muP): final training loss vs learning rate, one line per width,
    each width's best rate marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
            axes.plot(rates, losses, marker="o", markersize=3, color=color, label=f"width {width}")
            best = min(by_rate, key=by_rate.get)
            axes.plot([best], [by_rate[best]], marker="*", markersize=12, color=color)
        axes.set(xscale="log", yscale="log", xlabel="learning rate (Adam)", title=label)
        axes.grid(alpha=0.3, which="both")
    axes_row[0][0].set_ylabel("final training loss (mean over selection seeds)")
    axes_row[0][-1].legend(fontsize=8)
    moved = drift(results)
    fig.suptitle("Best learning rate (star) across widths: it moves "
                 + ", ".join(f"{moved[init]:.2f} decades under {short}"
                             for init, short in (("lecun_normal", "the standard parametrization"),
                                                 ("mup", "muP")) if init in moved))
    fig.tight_layout()
    return fig
