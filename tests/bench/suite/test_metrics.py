"""Run records and summaries (bench.suite.metrics): the failure rule, failures counted in every
mean, the censored median of steps to target, and the rule that chooses a configuration."""
import json
from typing import NamedTuple

import numpy as np
import pytest

from bench.records.selection import choose
from bench.results.document import build, check_document
from bench.suite import metrics
from tests.bench.fake_results import _meta, make_run

STEPS = np.array([25, 50, 75, 100])
CLASSES = {"digits-mlp": 10}


class Run(NamedTuple):  # the runner's Run (contract of /work/contracts.md)
    init: str
    seed: int
    lr: float
    trial: int = 0
    hyperparams: tuple = ()

    def described(self) -> dict:
        return {"learning_rate": self.lr, **dict(self.hyperparams)}


class RunOutput(NamedTuple):  # RunOutput v2 (contract of /work/contracts.md)
    steps: np.ndarray
    initial_train_loss: np.ndarray
    train_loss: np.ndarray
    train_loss_max: np.ndarray
    finite: np.ndarray
    params_finite: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray


def output(rows: list[dict]) -> RunOutput:
    """A RunOutput of one run per dict; each dict overrides a healthy run's arrays."""
    healthy = {"initial_train_loss": 2.3, "train_loss": [1.0, 0.5, 0.3, 0.2],
               "train_loss_max": [2.0, 0.9, 0.6, 0.4], "finite": [True] * 4, "params_finite": True,
               "val_accuracy": [0.5, 0.8, 0.96, 0.97], "test_accuracy": 0.95}
    filled = [{**healthy, **row} for row in rows]
    return RunOutput(STEPS, *(np.array([row[key] for row in filled]) for key in RunOutput._fields[1:]))


def records(rows, phase="evaluation", lrs=None, target=0.95):
    runs = [Run("he_normal", seed, (lrs or {}).get(seed, 0.1)) for seed in range(len(rows))]
    return metrics.run_records("digits-mlp", "sgd", runs, output(rows), target=target, phase=phase,
                               examples_per_step=128)


def test_a_healthy_run_reaches_the_target_and_counts_examples():
    (record,) = records([{}])
    assert not record["failed"] and record["failure"] is None and not record["diverged"]
    assert record["steps_to_target"] == 75 and record["examples_to_target"] == 75 * 128
    assert record["final_val_accuracy"] == pytest.approx(0.97)
    assert record["final_test_accuracy"] == pytest.approx(0.95)
    assert record["hyperparams"] == {"learning_rate": 0.1} and record["phase"] == "evaluation"
    assert len(record["curve"]["train_loss_max"]) == len(record["curve"]["step"]) == 4


def test_a_spike_hidden_by_the_period_mean_is_an_explosion():
    # mean 1.5 stays under 10 x 2.3 = 23, but one step of the period reached 30
    (record,) = records([{"train_loss": [1.5, 0.5, 0.3, 0.2], "train_loss_max": [30.0, 0.9, 0.6, 0.4]}])
    assert record["failed"] and record["failure"] == "exploded" and not record["diverged"]
    assert record["steps_to_target"] is None and record["examples_to_target"] is None  # failed never reaches
    assert record["final_val_accuracy"] == pytest.approx(0.97)  # it counts at what it measured
    (calm,) = records([{"train_loss_max": [22.9, 0.9, 0.6, 0.4]}])
    assert not calm["failed"]


@pytest.mark.parametrize("broken", [
    {"params_finite": False},                                   # NaN made by the last update
    {"val_accuracy": [0.5, 0.8, np.nan, 0.9]},                  # an evaluation went non-finite
    {"test_accuracy": np.nan},                                  # the final test evaluation
    {"finite": [True, False, False, False], "train_loss": [1.0, np.nan, np.nan, np.nan],
     "train_loss_max": [2.0, np.nan, np.nan, np.nan]},          # the training loss
    {"initial_train_loss": np.inf},
])
def test_anything_non_finite_fails_the_run(broken):
    (record,) = records([broken])
    assert record["failed"] and record["failure"] == "non-finite" and record["diverged"]
    assert record["steps_to_target"] is None
    json.dumps(record, allow_nan=False)  # no NaN leaks into the results file


def test_accuracies_of_a_non_finite_model_are_null():
    nan_params, nan_loss = records([{"params_finite": False},
                                    {"finite": [True, True, False, False], "train_loss": [1.0, 0.5, np.nan, np.nan]}])
    assert nan_params["final_val_accuracy"] is None and nan_params["final_test_accuracy"] is None
    assert nan_loss["curve"]["val_accuracy"] == [0.5, 0.8, None, None]
    assert nan_loss["final_train_loss"] is None and nan_loss["curve"]["train_loss"][2:] == [None, None]


def test_selection_runs_report_no_test_accuracy():
    (record,) = records([{}], phase="selection")
    assert record["phase"] == "selection" and record["final_test_accuracy"] is None
    with pytest.raises(ValueError):
        records([{}], phase="test")


def _document(runs, num_classes=10):
    settings = {"task": "digits-mlp", "steps": 100, "target": 0.95, "num_classes": num_classes, "n_test": 270}
    config = {"tasks": [settings], **settings, "optimizers": ["sgd"], "inits": ["he_normal"],
              "selection_seeds": sorted({r["seed"] for r in runs if r["phase"] == "selection"}),
              "evaluation_seeds": sorted({r["seed"] for r in runs if r["phase"] == "evaluation"})}
    return build(_meta(config, ["sgd"]), runs, metrics.summarize(runs, {}, num_classes={"digits-mlp": num_classes}))


def test_records_and_summary_pass_the_schema_check():
    runs = records([{}, {"params_finite": False}, {"train_loss_max": [99.0, 1, 1, 1]}])
    check_document(_document(runs))


def test_sgd_at_lr_10_and_1e30_fails_every_seed_counts_them_and_never_chooses_them():
    """The issue's case, with the arrays a runner gives: lr 10 blows up then sits at chance, lr 1e30
    goes NaN; lr 0.1 is healthy."""
    healthy = {}
    exploded = {"train_loss": [8e3, 2.3, 2.3, 2.3], "train_loss_max": [6e10, 2.3, 2.3, 2.3],
                "val_accuracy": [0.1, 0.1, 0.1, 0.1], "test_accuracy": 0.1}
    nan = {"finite": [False] * 4, "train_loss": [np.nan] * 4, "train_loss_max": [np.nan] * 4,
           "params_finite": False, "val_accuracy": [0.1] * 4, "test_accuracy": 0.1}
    runs, arrays = [], []
    for trial, (lr, row) in enumerate(((0.1, healthy), (10.0, exploded), (1e30, nan))):
        for seed in range(4):
            runs.append(Run("he_normal", seed, lr, trial))
            arrays.append(row)
    found = metrics.run_records("digits-mlp", "sgd", runs, output(arrays), target=0.95,
                                phase="selection", examples_per_step=128)
    assert [r["failure"] for r in found if r["lr"] == 10.0] == ["exploded"] * 4
    assert [r["failure"] for r in found if r["lr"] == 1e30] == ["non-finite"] * 4
    summary = {row["lr"]: row for row in metrics.summarize(found, {}, num_classes=CLASSES)}
    assert summary[10.0]["n_failed"] == summary[1e30]["n_failed"] == 4
    assert summary[10.0]["val_accuracy_mean"] == pytest.approx(0.1)  # as measured
    assert summary[1e30]["val_accuracy_mean"] == pytest.approx(0.1)  # chance: 1 / 10 classes
    assert summary[0.1]["chosen"] and not summary[10.0]["chosen"] and not summary[1e30]["chosen"]


# -- summaries --------------------------------------------------------------------------------

def _runs(values, times, *, phase="evaluation", failures=None, lr=0.1, trial=0, test=None):
    """Hand-made run records: final accuracies `values` (None: non-finite), steps to target `times`."""
    failures = failures or [None] * len(values)
    made = []
    for seed, (value, time, failure) in enumerate(zip(values, times, failures)):
        run = make_run("sgd", "he_normal", lr, seed, trial=trial, phase=phase, steps=300, eval_every=25)
        run.update(final_val_accuracy=value, steps_to_target=time,
                   examples_to_target=None if time is None else time * 128,
                   failed=failure is not None, failure=failure, diverged=failure == "non-finite",
                   final_test_accuracy=None if phase == "selection" else (value if test is None else test[seed]))
        made.append(run)
    return made


def test_failed_runs_count_in_every_mean_at_what_they_measured_or_chance():
    runs = _runs([0.9, 0.92, 0.3, None], [100, 125, None, None], failures=[None, None, "exploded", "non-finite"])
    (row,) = metrics.summarize(runs, {}, num_classes=CLASSES)
    counted = [0.9, 0.92, 0.3, 0.1]
    assert row["val_accuracy_mean"] == pytest.approx(np.mean(counted))
    assert row["test_accuracy_mean"] == pytest.approx(np.mean(counted))
    from scipy import stats
    low, high = stats.t.interval(0.95, 3, loc=np.mean(counted), scale=stats.sem(counted))
    assert row["test_accuracy_ci95"] == pytest.approx([max(low, 0.0), min(high, 1.0)])
    assert (row["n_seeds"], row["n_failed"], row["n_diverged"]) == (4, 2, 1)
    assert row["failed_fraction"] == 0.5 and row["seeds"] == [0, 1, 2, 3]
    assert row["reached_fraction"] == 0.5


def test_censored_median_over_all_seeds_and_its_null_case():
    # 5 of 8 reached: the median over all 8, "never" counted as later than anything
    five = _runs([0.96] * 8, [50, 50, 75, 100, 125, None, None, None])
    (row,) = metrics.summarize(five, {}, num_classes=CLASSES)
    assert row["steps_to_target_median"] == 112.5  # == median of [50, 50, 75, 100, 125, inf, inf, inf]
    low, high = row["steps_to_target_ci95"]
    assert low == 50 and high is None  # 3 of 8 never reached: no upper bound within training
    assert row["examples_to_target_median"] == 112.5 * 128
    assert row["examples_to_target_ci95"] == [50 * 128, None]
    assert row["reached_fraction"] == 5 / 8
    # 4 of 8: half never reached -> null, whatever the 4 luckiest did
    (half,) = metrics.summarize(_runs([0.96] * 8, [25, 25, 50, 50, None, None, None, None]), {}, num_classes=CLASSES)
    assert half["steps_to_target_median"] is None and half["examples_to_target_median"] is None
    assert half["steps_to_target_ci95"][0] == 25
    (none,) = metrics.summarize(_runs([0.5] * 3, [None] * 3), {}, num_classes=CLASSES)
    assert none["steps_to_target_median"] is None and none["steps_to_target_ci95"] is None


def test_every_seed_reaching_gives_the_ordinary_median_with_a_finite_interval():
    times = [25, 50, 75, 100, 125, 150, 175, 200]
    (row,) = metrics.summarize(_runs([0.96] * 8, times), {}, num_classes=CLASSES)
    assert row["steps_to_target_median"] == np.median(times)
    low, high = row["steps_to_target_ci95"]
    assert low <= np.median(times) <= high and high <= 200


def test_selection_rows_have_no_test_statistics_and_evaluation_rows_do():
    runs = _runs([0.9, 0.91], [100, 100], phase="selection") + [
        {**run, "seed": run["seed"] + 1000} for run in _runs([0.9, 0.92], [100, 125])]
    selection, evaluation = metrics.summarize(runs, {("digits-mlp", "sgd", "evaluation"): 0.002},
                                              num_classes=CLASSES)
    assert selection["phase"] == "selection" and selection["test_accuracy_mean"] is None
    assert selection["test_accuracy_ci95"] is None and selection["seconds_per_step"] is None
    assert evaluation["test_accuracy_mean"] == pytest.approx(0.91) and evaluation["seeds"] == [1000, 1001]
    assert evaluation["seconds_per_step"] == 0.002
    assert selection["chosen"] and evaluation["chosen"]  # the evaluation of the chosen configuration


# -- the chosen configuration -----------------------------------------------------------------

def _candidates(*configs):
    """configs: (lr, trial, values, failures) -> selection rows of one (task, optimizer, init)."""
    runs = []
    for lr, trial, values, failures in configs:
        runs += _runs(values, [None] * len(values), phase="selection", failures=failures, lr=lr, trial=trial)
    return metrics.summarize(runs, {}, num_classes=CLASSES)


def test_a_mostly_failed_configuration_is_never_chosen_even_with_a_higher_mean():
    # trial 1: 3 of 4 seeds exploded, yet each measured 0.97: its all-seed mean beats trial 0's
    rows = _candidates((0.1, 0, [0.95, 0.95, 0.95, 0.95], [None] * 4),
                       (1.0, 1, [0.97, 0.97, 0.97, 0.98], ["exploded"] * 3 + [None]))
    assert rows[1]["val_accuracy_mean"] > rows[0]["val_accuracy_mean"]
    assert [row["chosen"] for row in rows] == [True, False]


def test_failures_at_chance_pull_the_mean_down():
    # 7 of 8 non-finite: the survivor's 0.99 cannot carry a mean at chance
    rows = _candidates((0.3, 0, [0.99] + [None] * 7, [None] + ["non-finite"] * 7),
                       (0.1, 1, [0.9] * 8, [None] * 8))
    assert rows[0]["val_accuracy_mean"] == pytest.approx((0.99 + 7 * 0.1) / 8)
    assert [row["chosen"] for row in rows] == [False, True]


def test_ties_go_to_fewer_failures_then_the_smaller_lr_then_the_lower_trial():
    tie = [0.9, 0.9, 0.9, 0.9]
    rows = _candidates((0.1, 0, tie, [None, None, None, "exploded"]), (0.3, 1, tie, [None] * 4))
    assert [row["chosen"] for row in rows] == [False, True]
    rows = _candidates((0.3, 0, tie, [None] * 4), (0.1, 1, tie, [None] * 4))
    assert [row["chosen"] for row in rows] == [False, True]
    rows = _candidates((0.1, 0, tie, [None] * 4), (0.1, 1, tie, [None] * 4))
    assert [row["chosen"] for row in rows] == [True, False]
    assert choose(rows)[("digits-mlp", "sgd", "he_normal")]["trial"] == 0
