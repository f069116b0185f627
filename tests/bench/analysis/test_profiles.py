"""Performance profiles across tasks: rho(tau) by hand on a small table of times; the chosen
configurations only; bootstrap bands; nothing for one method."""
import numpy as np
import pytest

from bench.analysis.profiles import (applies, bootstrap_profiles, integrated_score, profile, profile_figure,
                                     profile_table, seed_times, times_to_target)
from tests.bench.records.test_aggregates import several_tasks


def _row(task, optimizer, examples, init="he_normal", chosen=True):
    return {"task": task, "optimizer": optimizer, "init": init, "phase": "evaluation", "trial": 0, "lr": 0.1,
            "examples_to_target_median": examples, "chosen": chosen}


def test_rho_counts_tasks_within_tau_of_the_fastest():
    times = {"adam": {"a": 100.0, "b": 300.0, "c": np.inf},
             "sgd": {"a": 200.0, "b": 100.0, "c": 400.0}}
    rho = profile(times, [1.0, 2.0, 3.0, 4.0])
    # a: adam fastest (sgd 2x); b: sgd fastest (adam 3x); c: only sgd reached it
    np.testing.assert_allclose(rho["adam"], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(rho["sgd"], [2 / 3, 1.0, 1.0, 1.0])


def test_a_task_no_method_reached_counts_against_every_method():
    rho = profile({"adam": {"a": 10.0, "b": np.inf}, "sgd": {"a": 20.0, "b": np.inf}}, [4.0])
    assert rho["adam"][0] == 0.5 and rho["sgd"][0] == 0.5


def test_the_integrated_score_is_the_area_over_tau_max_minus_one():
    taus = np.linspace(1, 4, 301)
    assert integrated_score(np.ones_like(taus), taus) == pytest.approx(1.0)
    assert integrated_score((taus >= 2.5).astype(float), taus) == pytest.approx(0.5, abs=0.01)


def test_times_come_from_chosen_evaluation_rows_and_censored_medians_are_infinite():
    results = {"runs": [], "summary": [
        _row("a", "adam", 100), _row("a", "sgd", None), _row("b", "adam", 50), _row("b", "sgd", 25),
        {**_row("a", "adam", 1), "phase": "selection"},
        {**_row("b", "sgd", 1, chosen=False), "trial": 3}]}  # not chosen: not a method's time
    times = times_to_target(results)
    assert times == {"adam": {"a": 100.0, "b": 50.0}, "sgd": {"a": np.inf, "b": 25.0}}
    header, rows = profile_table(results)
    assert header[0] == "method" and rows[0][0] in ("adam", "sgd")
    assert {row[0]: row[-1] for row in rows} == {"adam": "2/2", "sgd": "1/2"}


def test_one_method_gets_no_profile():
    results = {"runs": [], "summary": [_row("a", "adam", 100), _row("b", "adam", 50),
                                       _row("a", "sgd", 10, chosen=False)]}
    assert not applies(results) and profile_table(results) is None
    figure = profile_figure(results)
    assert not figure.axes[0].lines and not figure.axes[0].collections  # nothing drawn


def test_bands_come_from_the_chosen_configurations_seeds():
    results = several_tasks()
    per_seed = seed_times(results)
    assert set(per_seed) == {"sgd/he_normal", "sgd/glorot_uniform", "adam/he_normal", "adam/glorot_uniform"}
    assert all(len(values) == 4 for per_task in per_seed.values() for values in per_task.values())
    taus = np.linspace(1, 4, 31)
    boot = bootstrap_profiles(per_seed, taus, resamples=200)
    point = profile(times_to_target(results), taus)
    for method, samples in boot.items():
        assert samples.shape == (200, 31) and np.all((samples >= 0) & (samples <= 1))
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
        assert np.all(np.diff(samples, axis=1) >= 0)  # each resample's profile rises with tau
        assert np.mean((low <= point[method]) & (point[method] <= high)) > 0.8
    figure = profile_figure(results)
    assert len(figure.axes[0].lines) == 4 and len(figure.axes[0].collections) == 4  # a band per method


def test_a_single_seed_per_task_has_no_band():
    per_seed = {"adam": {"a": np.array([100.0]), "b": np.array([50.0])},
                "sgd": {"a": np.array([200.0]), "b": np.array([25.0])}}
    boot = bootstrap_profiles(per_seed, [1.0, 2.0, 4.0], resamples=50)
    assert all(np.ptp(samples, axis=0).max() == 0 for samples in boot.values())


def test_a_profiles_lines_wear_each_methods_colours_from_every_other_figure():
    from matplotlib.colors import to_hex

    from bench.analysis.figures import optimizer_style

    lines = {line.get_label().split(" (")[0]: line for line in profile_figure(several_tasks()).axes[0].lines}
    for method, line in lines.items():
        optimizer = method.split("/")[0]
        assert to_hex(line.get_color()) == to_hex(optimizer_style(optimizer)["color"])
