"""Summary rows (bench.records.summary): failures counted in every mean at what they measured or
chance, the censored median of steps to target, and which rows report test statistics."""
import numpy as np
import pytest

from bench.records.estimators import bootstrap_interval
from bench.records.summary import summarize
from tests.bench.fake_results import hand_made_runs

CLASSES = {"digits-mlp": 10}


def test_failed_runs_count_in_every_mean_at_what_they_measured_or_chance():
    runs = hand_made_runs([0.9, 0.92, 0.3, None], [100, 125, None, None],
                          failures=[None, None, "exploded", "non-finite"])
    (row,) = summarize(runs, {}, num_classes=CLASSES)
    counted = [0.9, 0.92, 0.3, 0.1]
    assert row["val_accuracy_mean"] == pytest.approx(np.mean(counted))
    assert row["test_accuracy_mean"] == pytest.approx(np.mean(counted))
    # a bootstrap interval over the counted seeds, never clipped: within the seeds' range
    assert row["test_accuracy_ci95"] == pytest.approx(list(bootstrap_interval(counted)))
    low, high = row["test_accuracy_ci95"]
    assert min(counted) <= low < np.mean(counted) < high <= max(counted)
    assert (row["n_seeds"], row["n_failed"], row["n_diverged"]) == (4, 2, 1)
    assert row["failed_fraction"] == 0.5 and row["seeds"] == [0, 1, 2, 3]
    assert row["reached_fraction"] == 0.5


def test_censored_median_over_all_seeds_and_its_null_case():
    # 5 of 8 reached: the median over all 8, "never" counted as later than anything
    five = hand_made_runs([0.96] * 8, [50, 50, 75, 100, 125, None, None, None])
    (row,) = summarize(five, {}, num_classes=CLASSES)
    assert row["steps_to_target_median"] == 112.5  # == median of [50, 50, 75, 100, 125, inf, inf, inf]
    # on the evaluation grid (every 25 steps): the 4th and 5th crossings lie in (75, 100] and
    # (100, 125], so the median does in (75, 125]
    assert row["steps_to_target_median_interval"] == [75, 125]
    low, high = row["steps_to_target_ci95"]
    assert low == 25 and high is None  # first seen at 50: after 25; 3 of 8 never reached: no upper bound
    assert row["examples_to_target_median"] == 112.5 * 128
    assert row["examples_to_target_ci95"] == [25 * 128, None]
    assert row["reached_fraction"] == 5 / 8
    # 4 of 8: half never reached -> null, whatever the 4 luckiest did
    half_never = hand_made_runs([0.96] * 8, [25, 25, 50, 50, None, None, None, None])
    (half,) = summarize(half_never, {}, num_classes=CLASSES)
    assert half["steps_to_target_median"] is None and half["examples_to_target_median"] is None
    assert half["steps_to_target_ci95"][0] == 0 and half["steps_to_target_median_interval"] is None
    (none,) = summarize(hand_made_runs([0.5] * 3, [None] * 3), {}, num_classes=CLASSES)
    assert none["steps_to_target_median"] is None and none["steps_to_target_ci95"] is None


def test_every_seed_reaching_gives_the_ordinary_median_with_a_finite_interval():
    times = [25, 50, 75, 100, 125, 150, 175, 200]
    (row,) = summarize(hand_made_runs([0.96] * 8, times), {}, num_classes=CLASSES)
    assert row["steps_to_target_median"] == np.median(times)
    low, high = row["steps_to_target_ci95"]
    assert low <= np.median(times) <= high and high <= 200


def test_selection_rows_have_no_test_statistics_and_evaluation_rows_do():
    runs = hand_made_runs([0.9, 0.91], [100, 100], phase="selection") + [
        {**run, "seed": run["seed"] + 1000} for run in hand_made_runs([0.9, 0.92], [100, 125])]
    selection, evaluation = summarize(runs, {("digits-mlp", "sgd", "evaluation"): 0.002},
                                      num_classes=CLASSES)
    assert selection["phase"] == "selection" and selection["test_accuracy_mean"] is None
    assert selection["test_accuracy_ci95"] is None and selection["seconds_per_step"] is None
    assert evaluation["test_accuracy_mean"] == pytest.approx(0.91) and evaluation["seeds"] == [1000, 1001]
    assert evaluation["seconds_per_step"] == 0.002
    assert selection["chosen"] and evaluation["chosen"]  # the evaluation of the chosen configuration
