"""The rule that chooses a configuration (bench.records.selection), as the summary rows apply it:
a mostly failed configuration never wins, failures count at chance, and ties are broken in order."""
import pytest

from bench.records.selection import choose
from bench.records.summary import summarize
from tests.bench.fake_results import hand_made_runs

CLASSES = {"digits-mlp": 10}


def _candidates(*configs):
    """configs: (lr, trial, values, failures) -> selection rows of one (task, optimizer, init)."""
    runs = []
    for lr, trial, values, failures in configs:
        runs += hand_made_runs(values, [None] * len(values), phase="selection", failures=failures, lr=lr,
                               trial=trial)
    return summarize(runs, {}, num_classes=CLASSES)


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
    assert choose(rows)[("digits-mlp", "sgd", "he_normal", None)]["trial"] == 0
