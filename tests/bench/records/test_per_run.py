"""Per-run records (bench.records.per_run): the failure rule, null accuracies of a non-finite
model, and records that pass the results document's check."""
import json
from typing import NamedTuple

import numpy as np
import pytest

from bench.records.per_run import run_records
from bench.records.summary import summarize
from bench.results.document import check_document
from bench.results.schema import build
from tests.bench.fake_results import make_meta

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
    return run_records("digits-mlp", "sgd", runs, output(rows), target=target, phase=phase,
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
    return build(make_meta(config, ["sgd"]), runs, summarize(runs, {}, num_classes={"digits-mlp": num_classes}))


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
    found = run_records("digits-mlp", "sgd", runs, output(arrays), target=0.95,
                        phase="selection", examples_per_step=128)
    assert [r["failure"] for r in found if r["lr"] == 10.0] == ["exploded"] * 4
    assert [r["failure"] for r in found if r["lr"] == 1e30] == ["non-finite"] * 4
    summary = {row["lr"]: row for row in summarize(found, {}, num_classes=CLASSES)}
    assert summary[10.0]["n_failed"] == summary[1e30]["n_failed"] == 4
    assert summary[10.0]["val_accuracy_mean"] == pytest.approx(0.1)  # as measured
    assert summary[1e30]["val_accuracy_mean"] == pytest.approx(0.1)  # chance: 1 / 10 classes
    assert summary[0.1]["chosen"] and not summary[10.0]["chosen"] and not summary[1e30]["chosen"]


def test_a_run_that_falls_far_below_its_peak_is_unstable_not_failed():
    collapsed, wobbly, exploded = records([
        {"val_accuracy": [0.3, 0.52, 0.4, 0.26]},    # peaks at 0.52, ends at 0.26: unstable
        {"val_accuracy": [0.5, 0.97, 0.96, 0.90]},    # 7 points below its peak: within the rule
        {"val_accuracy": [0.5, 0.9, 0.1, 0.1], "train_loss_max": [2.0, 50.0, 2.3, 2.3]},  # a failure
    ])
    assert collapsed["unstable"] and not collapsed["failed"]
    assert collapsed["peak_val_accuracy"] == pytest.approx(0.52)
    assert not wobbly["unstable"] and wobbly["peak_val_accuracy"] == pytest.approx(0.97)
    assert exploded["failed"] and not exploded["unstable"]  # counted once, as a failure
    (row,) = summarize([collapsed, wobbly, exploded], {}, num_classes=CLASSES)
    assert (row["n_failed"], row["n_unstable"]) == (1, 1)


def test_a_drop_of_exactly_the_threshold_in_float32_is_not_unstable():
    from bench.records.per_run import UNSTABLE_DROP, is_unstable

    peak = float(np.float32(0.2))
    final = float(np.float32(0.2 - UNSTABLE_DROP))  # 0.1000000015 apart in float32
    assert peak - final > UNSTABLE_DROP and not is_unstable(final, peak, failed=False)
    assert is_unstable(final - 0.01, peak, failed=False)
