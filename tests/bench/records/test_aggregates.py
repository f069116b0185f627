"""Aggregates across tasks: IQM, stratified bootstrap, probability of improvement, Friedman and
Nemenyi, and the document's `aggregates` key."""
import copy
import json

import numpy as np
import pytest
from scipy import stats

from bench.records.aggregates import (aggregates, friedman_nemenyi, iqm, point_and_interval,
                                      probability_interval, probability_of_improvement, stratified_resamples)
from bench.records.summary import summarize
from bench.results.schema import AGGREGATES_KEY, build
from tests.bench.fake_results import NUM_CLASSES, make_results


def several_tasks(names=("task-a", "task-b"), **options) -> dict:
    """One synthetic document of several tasks: `make_results` per task, merged and rebuilt."""
    parts = [make_results(task=name, noise_seed=index, single_seed_pairs=(), **options)
             for index, name in enumerate(names)]
    runs = [run for part in parts for run in part["runs"]]
    meta = copy.deepcopy(parts[0]["meta"])
    meta["config"]["tasks"] = [part["meta"]["config"]["tasks"][0] for part in parts]
    seconds = {(row["task"], row["optimizer"], row["phase"]): 0.001 for part in parts for row in part["summary"]}
    return build(meta, runs, summarize(runs, seconds, num_classes={name: NUM_CLASSES for name in names}))


def test_iqm_is_the_mean_of_the_middle_half():
    scores = np.array([8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0])
    assert iqm(scores) == pytest.approx(4.5)  # (3 + 4 + 5 + 6) / 4
    assert iqm(np.array([0.0, 0.0, 1.0, 1.0, 100.0, -100.0, 0.5, 0.5])) == pytest.approx(0.5)
    skewed = np.random.default_rng(1).exponential(size=37)
    assert iqm(skewed) == pytest.approx(stats.trim_mean(skewed, 0.25))
    assert iqm(skewed) != pytest.approx(np.mean(skewed))


def test_the_bootstrap_redraws_seeds_within_each_task():
    per_task = {"a": np.array([0.0, 0.1, 0.2]), "b": np.array([10.0, 11.0]), "c": np.array([5.0])}
    drawn = stratified_resamples(per_task, np.random.default_rng(0), resamples=200)
    assert drawn["a"].shape == (200, 3) and drawn["b"].shape == (200, 2)
    assert set(np.unique(drawn["a"])) <= {0.0, 0.1, 0.2} and set(np.unique(drawn["b"])) <= {10.0, 11.0}
    assert np.all(drawn["c"] == 5.0)  # one seed: no spread
    # a single-seed task contributes no spread: every resample's mean is its one score
    point, interval = point_and_interval({"c": np.array([0.7])}, np.mean, np.random.default_rng(0))
    assert point == interval[0] == interval[1] == pytest.approx(0.7)
    # pooled across tasks, the interval of the mean stays inside what within-task redraws can make
    point, (low, high) = point_and_interval(per_task, np.mean, np.random.default_rng(0))
    assert low < point < high and low >= (0.0 * 3 + 10.0 * 2 + 5.0) / 6 - 1e-12


def test_probability_of_improvement():
    x = {"a": np.array([0.9, 0.8, 0.7]), "b": np.array([0.5, 0.6])}
    y = {"a": np.array([0.1, 0.2, 0.3]), "b": np.array([0.6, 0.7])}
    assert probability_of_improvement(x, x) == 0.5
    assert probability_of_improvement(y, y) == 0.5
    # task a: x always wins (1); task b: 0.5 > {0.6, 0.7} never, 0.6 vs 0.6 a tie: 0.5 / 4
    assert probability_of_improvement(x, y) == pytest.approx((1.0 + 0.125) / 2)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)
    low, high = probability_interval(x, y, np.random.default_rng(0))
    assert 0.5 <= low <= probability_of_improvement(x, y) <= high <= 1.0
    assert probability_interval({"a": np.array([1.0])}, {"a": np.array([0.0])}, np.random.default_rng(0)) == [1.0, 1.0]


def test_friedman_ranks_and_critical_difference():
    tasks = {f"t{index}": index * 0.01 for index in range(6)}
    scores = {"good": {task: np.array([0.9 + shift]) for task, shift in tasks.items()},
              "middle": {task: np.array([0.5 + shift]) for task, shift in tasks.items()},
              "bad": {task: np.array([0.1 + shift]) for task, shift in tasks.items()}}
    found = friedman_nemenyi(scores)
    assert found["average_ranks"] == {"bad": 3.0, "good": 1.0, "middle": 2.0}
    assert found["statistic"] == pytest.approx(12.0) and found["p_value"] < 0.01
    # Demšar 2006, table 5: q_0.05 = 2.343 for k = 3; CD = q sqrt(k (k + 1) / (6 N))
    assert found["critical_difference"] == pytest.approx(2.343 * np.sqrt(3 * 4 / 36), abs=1e-3)
    assert found["different"] == [["bad", "good"]]
    assert friedman_nemenyi({name: scores[name] for name in ("good", "bad")}) is None  # two methods


def test_two_tasks_get_aggregates_and_one_task_does_not():
    one = make_results()
    assert AGGREGATES_KEY not in one
    two = several_tasks()
    found = two[AGGREGATES_KEY]
    assert found["tasks"] == ["task-a", "task-b"]
    assert set(found["methods"]) == {"sgd/he_normal", "sgd/glorot_uniform", "adam/he_normal",
                                     "adam/glorot_uniform"}
    for entry in found["methods"].values():
        low, high = entry["iqm_ci95"]
        assert low <= entry["iqm"] <= high and entry["n_tasks"] == 2 and entry["n_scores"] == 8
    assert max(entry["mean"] for entry in found["methods"].values()) <= 1.0 + 1e-9
    pairs = {(entry["x"], entry["y"]): entry["probability"] for entry in found["probability_of_improvement"]}
    assert len(pairs) == 4 * 3
    assert pairs[("adam/he_normal", "sgd/glorot_uniform")] > 0.9  # adam and he_normal are the better
    assert found["friedman"] is None  # two tasks


def test_aggregates_use_the_chosen_configurations_only():
    two = several_tasks()
    before = aggregates(two)
    for row in two["summary"]:  # a non-chosen evaluation row with a perfect score must change nothing
        if row["phase"] == "evaluation":
            two["summary"].append({**row, "chosen": False, "trial": 99, "test_accuracy_mean": 1.0})
            break
    assert aggregates(two) == before


def test_statistics_false_leaves_aggregates_out():
    two = several_tasks()
    assert AGGREGATES_KEY not in build(two["meta"], two["runs"], two["summary"], statistics=False)


def test_three_tasks_get_a_friedman_test():
    three = several_tasks(("task-a", "task-b", "task-c"))
    found = three[AGGREGATES_KEY]["friedman"]
    assert found is not None and set(found["average_ranks"]) == set(three[AGGREGATES_KEY]["methods"])
    assert sum(found["average_ranks"].values()) == pytest.approx(4 * 5 / 2)


def test_aggregates_are_checked_on_read(tmp_path):
    from bench.errors import UsageError
    from bench.results.document import load_results

    document = several_tasks()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    assert load_results(path)[AGGREGATES_KEY]["methods"]  # a written document reads back
    method = next(iter(document[AGGREGATES_KEY]["methods"]))
    for broken, expected in (
            (lambda d: d[AGGREGATES_KEY]["methods"][method].update(iqm_ci95=[0.9, 0.1]), "iqm_ci95"),
            (lambda d: d[AGGREGATES_KEY]["probability_of_improvement"][0].update(probability=1.5), "probability"),
            (lambda d: d[AGGREGATES_KEY].pop("methods"), "lacks 'methods'")):
        bad = json.loads(json.dumps(document))
        broken(bad)
        path.write_text(json.dumps(bad))
        with pytest.raises(UsageError, match=expected):
            load_results(path)
