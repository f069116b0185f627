"""The figures a reader sees (bench.analysis.plots, search, mup): the same optimizer in the same
colour in every figure, legends outside the data, accuracy axes zoomed to the data."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from bench.analysis import mup, plots, search  # noqa: E402
from bench.analysis.figures import optimizer_color  # noqa: E402
from tests.bench.fake_results import make_results  # noqa: E402

TASK = "digits-mlp"


@pytest.fixture(scope="module")
def results():
    return make_results(steps=40)


def _colours_by_label(figure) -> dict[str, str]:
    """First word of each legend entry -> the colour (hex) the legend shows for it."""
    found = {}
    for legend in _legends(figure):
        for handle, text in zip(legend.legend_handles, legend.texts):
            colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
            colour = colour[0] if np.ndim(colour) == 2 else colour
            found.setdefault(text.get_text().split()[0], to_hex(colour))
    return found


def _legends(figure):
    return [legend for legend in [*figure.legends, *(axes.get_legend() for axes in figure.axes)] if legend]


def _assert_legends_outside_every_axes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = _legends(figure)
    assert legends, "the figure has a legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axes in figure.axes:
            if axes.get_visible():
                assert not box.overlaps(axes.get_window_extent(renderer)), "legend over a data area"


def test_an_optimizer_has_the_same_colour_in_every_figure(results):
    convergence = plots.convergence_by_optimizer(results, TASK)
    sensitivity = plots.lr_sensitivity(results, TASK)
    try:
        first, second = _colours_by_label(convergence), _colours_by_label(sensitivity)
        for optimizer in ("sgd", "adam"):
            assert first[optimizer] == second[optimizer] == to_hex(optimizer_color(optimizer))
        assert first["sgd"] != first["adam"]
    finally:
        plt.close(convergence)
        plt.close(sensitivity)


def test_an_init_has_its_own_colour_in_an_optimizers_figure(results):
    from bench.analysis.figures import init_color

    figure = plots.convergence_by_init(results, TASK, "adam")
    try:
        colours = _colours_by_label(figure)
        for init in ("he_normal", "glorot_uniform", "orthogonal"):
            assert colours[init] == to_hex(init_color(init))
    finally:
        plt.close(figure)


@pytest.mark.parametrize("draw", [plots.convergence_by_optimizer, plots.lr_sensitivity,
                                  lambda results, task: plots.convergence_by_init(results, task, "adam")])
def test_legends_sit_outside_the_data(results, draw):
    figure = draw(results, TASK)
    try:
        _assert_legends_outside_every_axes(figure)
    finally:
        plt.close(figure)


def _with_selection_accuracies(results, low, high):
    """A copy whose selection rows' validation accuracies lie in [low, high], none failed."""
    import copy

    results = copy.deepcopy(results)
    rows = [row for row in results["summary"] if row["phase"] == "selection"]
    for value, row in zip(np.linspace(low, high, len(rows)), rows):
        row.update(val_accuracy_mean=float(value), val_accuracy_ci95=[float(value) - 0.002, float(value) + 0.002],
                   failed_fraction=0.0, n_failed=0)
    return results


def test_the_sensitivity_axis_is_zoomed_to_the_chosen_rates(results):
    zoomed = _with_selection_accuracies(results, 0.93, 0.99)
    figure = plots.lr_sensitivity(zoomed, TASK)
    try:
        panels = [axes for axes in figure.axes if axes.get_visible()]
        assert panels
        chosen = [row for row in zoomed["summary"] if row["phase"] == "selection" and row["chosen"]]
        for axes in panels:
            low, high = axes.get_ylim()
            assert 0.9 < low < high <= 1.0 + 0.01
        worst = min(row["val_accuracy_ci95"][0] for row in chosen)
        assert min(axes.get_ylim()[0] for axes in panels) < worst  # just below the worst chosen
    finally:
        plt.close(figure)


def test_the_sensitivity_axis_leaves_out_failed_chosen_rates(results):
    failing = _with_selection_accuracies(results, 0.93, 0.99)
    for row in failing["summary"]:
        if row["phase"] == "selection" and row["chosen"] and row["optimizer"] == "sgd":
            row.update(val_accuracy_mean=0.1, val_accuracy_ci95=[0.1, 0.1], failed_fraction=1.0)
    for init in ("he_normal", "glorot_uniform"):
        chosen = [row for row in failing["summary"]
                  if row["phase"] == "selection" and row["chosen"] and row["init"] == init]
        low, _ = plots.sensitivity_limits(chosen)
        assert low > 0.9


def test_the_accuracy_axis_of_a_convergence_figure_spans_the_data(results):
    figure = plots.convergence_by_optimizer(results, TASK)
    try:
        accuracy = figure.axes[0]
        values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in accuracy.get_lines()
                                 if not line.get_label().startswith(("_", "target"))])
        low, high = accuracy.get_ylim()
        assert low <= np.nanmin(values) and high >= np.nanmax(values)
        span = np.nanmax(values) - np.nanmin(values)
        assert low > np.nanmin(values) - 0.5 * span and high <= 1.0 + 0.5 * span
        assert high < 1.1  # never the default room far above 1
    finally:
        plt.close(figure)


def test_overlapping_lines_differ_in_more_than_colour(results):
    figure = plots.convergence_by_optimizer(results, TASK)
    try:
        lines = [line for line in figure.axes[0].get_lines() if not line.get_label().startswith(("_", "target"))]
        looks = {(line.get_marker(), line.get_linestyle(), to_hex(line.get_color())) for line in lines}
        assert len(looks) == len(lines)
        assert all(line.get_marker() not in (None, "None", "") for line in lines)
    finally:
        plt.close(figure)


def test_the_search_budget_figure_uses_the_optimizer_colours_and_a_legend_outside():
    results = {"meta": {"config": {"search_space": {"adam": {}}}},
               "runs": [{"phase": "selection", "task": TASK, "optimizer": optimizer, "init": "he_normal",
                         "trial": trial, "seed": seed, "hyperparams": {"learning_rate": 10.0 ** -trial},
                         "final_val_accuracy": 0.9 + 0.01 * trial + 0.001 * seed, "failed": False}
                        for optimizer in ("adam", "momentum") for trial in range(4) for seed in range(2)]}
    results["meta"]["config"]["tasks"] = [{"task": TASK, "num_classes": 10}]
    figure = search.budget_figure(results, TASK, "he_normal")
    try:
        colours = _colours_by_label(figure)
        assert colours["adam"] == to_hex(optimizer_color("adam"))
        assert colours["momentum"] == to_hex(optimizer_color("momentum"))
        assert figure.axes[0].get_ylim()[0] > 0.85
        _assert_legends_outside_every_axes(figure)
    finally:
        plt.close(figure)


def test_the_mup_figure_has_its_legend_outside(monkeypatch):
    found = {"lecun_normal": {64: {1e-3: 0.5, 1e-2: 0.1}, 128: {1e-3: 0.4, 1e-2: 0.2}},
             "mup": {64: {1e-3: 0.5, 1e-2: 0.1}, 128: {1e-3: 0.45, 1e-2: 0.1}}}
    monkeypatch.setattr(mup, "loss_by_rate", lambda results: found)
    figure = mup.figure({})
    try:
        _assert_legends_outside_every_axes(figure)
    finally:
        plt.close(figure)


def test_a_searchs_sensitivity_draws_points_not_a_line(results):
    import copy

    searched = copy.deepcopy(results)
    searched["meta"]["config"]["search_space"] = {"adam": {}, "sgd": {}}
    figure = plots.lr_sensitivity(searched, TASK)
    grid = plots.lr_sensitivity(results, TASK)
    try:
        def styles(drawn):
            return {line.get_linestyle() for axes in drawn.axes for line in axes.get_lines()
                    if len(line.get_xdata()) > 1 and line.get_marker() not in ("x", "v")}
        assert styles(figure) == {"None"} and styles(grid) - {"None"}
    finally:
        plt.close(figure)
        plt.close(grid)
