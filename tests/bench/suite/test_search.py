"""Quasi-random search spaces (bench.suite.search): values inside their bounds, on their scale,
reproducible, and the schedule's own values."""
import numpy as np
import pytest

from bench.runner import SCHEDULES
from bench.suite import search

SPACE = {
    "lr": search.Dimension("learning_rate", "log", 1e-4, 1e-1),
    "one_minus_b1": search.Dimension("b1", "one_minus_log", 0.5, 0.999),
    "wd": search.Dimension("weight_decay", "linear", 0.0, 0.5),
}


def test_values_stay_inside_their_bounds_and_follow_their_scale():
    trials = search.sample(SPACE, 64)
    lr = np.array([t["learning_rate"] for t in trials])
    b1 = np.array([t["b1"] for t in trials])
    wd = np.array([t["weight_decay"] for t in trials])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    assert b1.min() >= 0.5 and b1.max() <= 0.999
    assert wd.min() >= 0.0 and wd.max() <= 0.5
    # log-uniform: about half the points below the geometric middle (1e-2.5), not the arithmetic one
    assert 0.4 < np.mean(lr < 10 ** -2.5) < 0.6
    # 1 - b1 log-uniform between 1e-3 and 0.5: half below sqrt(1e-3 * 0.5)
    assert 0.4 < np.mean(1 - b1 < np.sqrt(1e-3 * 0.5)) < 0.6
    assert 0.4 < np.mean(wd < 0.25) < 0.6


def test_a_search_is_reproducible_and_a_smaller_budget_is_a_prefix():
    assert search.sample(SPACE, 16) == search.sample(SPACE, 16)
    assert search.sample(SPACE, 16)[:5] == search.sample(SPACE, 5)
    assert search.sample(SPACE, 16, seed=1) != search.sample(SPACE, 16)


def test_sobol_points_cover_the_cube_better_than_chance():
    points = search.unit_points(64, 2)
    # every one of the 8 x 8 cells of the unit square holds exactly one of 64 Sobol points
    cells = {(int(x * 8), int(y * 8)) for x, y in points}
    assert len(cells) == 64


def test_a_scheduled_search_carries_the_schedule_and_searches_its_warmup():
    trials = search.sample(SPACE, 8, schedule="warmup_cosine")
    assert {t["schedule"] for t in trials} == {float(SCHEDULES.index("warmup_cosine"))}
    warmup = [t["warmup_fraction"] for t in trials]
    assert min(warmup) >= search.WARMUP_FRACTION[0] and max(warmup) <= search.WARMUP_FRACTION[1]
    assert len(set(warmup)) == 8
    assert all(t["final_fraction"] == search.FINAL_FRACTION for t in trials)


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="unknown scale"):
        search.to_values(search.Dimension("x", "cubic", 0.0, 1.0), np.array([0.5]))
