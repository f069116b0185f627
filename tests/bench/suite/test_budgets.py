"""`run --budgets`: each configuration trained to each budget as a run of its own (the budget is
its schedule's horizon), chosen and reported per budget, from one program per optimizer."""
import json

import numpy as np
import pytest

from bench.cli import main
from bench.records import budgets

RUN = ["run", "--task", "digits-mlp", "--optimizers", "momentum,adam", "--inits", "he_normal",
       "--seeds", "3", "--selection-seeds", "2", "--lrs", "0.003,0.03", "--eval-every", "20",
       "--schedule", "warmup_cosine", "--quiet"]


@pytest.fixture(scope="module")
def two_budgets(tmp_path_factory):
    out = tmp_path_factory.mktemp("budgets") / "r.json"
    assert main([*RUN, "--budgets", "40,80", "--out", str(out)]) == 0
    return out


def runs_at(results, budget, phase="evaluation"):
    return {(r["optimizer"], r["seed"]): r for r in results["runs"]
            if r["phase"] == phase and r["hyperparams"].get("budget") == budget}


def test_every_budget_has_its_evaluation_rows_and_its_own_horizon(two_budgets):
    results = json.loads(two_budgets.read_text())
    assert results["meta"]["config"]["budgets"] == [40, 80]
    short, long = runs_at(results, 40), runs_at(results, 80)
    assert short.keys() == long.keys() and len(short) == 6
    for key, run in short.items():
        assert run["curve"]["step"] == [20, 40]  # recorded to its budget
        assert long[key]["curve"]["step"] == [20, 40, 60, 80]
        # the same first batch; then the shorter horizon decays sooner: not the long run cut short
        assert run["initial_train_loss"] == long[key]["initial_train_loss"]
        assert run["curve"]["train_loss"][:2] != long[key]["curve"]["train_loss"][:2]
    chosen = [(row["optimizer"], row["hyperparams"]["budget"]) for row in results["summary"]
              if row["phase"] == "evaluation" and row["chosen"]]
    assert sorted(chosen) == [("adam", 40), ("adam", 80), ("momentum", 40), ("momentum", 80)]
    # one program per optimizer and phase serves both budgets
    assert len(results["meta"]["programs"]) == 4
    assert {verdict["held_fixed"]["budget"] for verdict in results["verdicts"]} == {"40", "80"}


def test_a_run_to_its_budget_is_the_run_trained_for_that_many_steps(two_budgets, tmp_path):
    alone = tmp_path / "alone.json"
    assert main([*RUN, "--steps", "40", "--out", str(alone)]) == 0
    single = {(r["optimizer"], r["seed"], r["lr"]): r for r in json.loads(alone.read_text())["runs"]
              if r["phase"] == "selection"}
    within = {(r["optimizer"], r["seed"], r["lr"]): r for r in json.loads(two_budgets.read_text())["runs"]
              if r["phase"] == "selection" and r["hyperparams"]["budget"] == 40}
    assert within.keys() == single.keys()
    for key, run in within.items():
        np.testing.assert_allclose(run["curve"]["train_loss"], single[key]["curve"]["train_loss"], rtol=1e-5)
        assert run["final_val_accuracy"] == pytest.approx(single[key]["final_val_accuracy"], abs=1e-6)


def test_the_report_has_a_table_per_budget_and_the_ranking_agreement(two_budgets):
    report = two_budgets.with_suffix(".report.md").read_text()
    assert "## digits-mlp, budget 40 steps" in report and "## digits-mlp, budget 80 steps" in report
    assert "Kendall's tau" in report and "the chosen configuration at each budget" in report
    figures = sorted(path.name for path in two_budgets.parent.glob("*.png"))
    assert any("-budget40-" in name for name in figures) and any("-budget80-" in name for name in figures)


@pytest.mark.parametrize("flags, expected", [
    (["--budgets", "forty"], "--budgets must be comma-separated step counts"),
    (["--budgets", "0,40"], "--budgets must be step counts in"),
    (["--budgets", "40,80", "--steps", "80"], "give --steps or --budgets, not both"),
    (["--budgets", "30,80"], "must be multiples of --eval-every (20)"),
])
def test_bad_budgets_are_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    assert main([*RUN, *flags, "--out", str(tmp_path / "out" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def _document(accuracies):
    """A document of two budgets: `accuracies[budget][optimizer]` -> per-seed test accuracies."""
    runs, summary = [], []
    for budget, by_optimizer in accuracies.items():
        for trial, (optimizer, values) in enumerate(by_optimizer.items()):
            hyper = {"learning_rate": 0.1, "budget": budget}
            for seed, value in enumerate(values):
                runs.append({"task": "t", "optimizer": optimizer, "init": "i", "seed": seed, "phase": "evaluation",
                             "trial": 0, "lr": 0.1, "hyperparams": hyper, "final_test_accuracy": value,
                             "failed": False})
            summary.append({"task": "t", "optimizer": optimizer, "init": "i", "phase": "evaluation", "trial": 0,
                            "lr": 0.1, "hyperparams": hyper, "chosen": True})
    config = {"tasks": [{"task": "t", "num_classes": 10, "steps": max(accuracies)}]}
    return {"meta": {"config": config}, "runs": runs, "summary": summary}


def test_ranking_agreement_is_kendalls_tau_with_an_interval_over_seeds():
    rng = np.random.default_rng(0)
    means = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
    same = {budget: {name: list(mean + 0.01 * rng.standard_normal(8)) for name, mean in means.items()}
            for budget in (100, 200)}
    [entry] = budgets.ranking_agreement(_document(same), resamples=500)
    assert entry["tau"] == 1.0 and entry["ci95"][0] > 0.5 and entry["budgets"] == [100, 200]
    assert "the ranking holds" in budgets.agreement_line(entry)
    reversed_means = dict(zip(means, reversed(list(means.values()))))
    flipped = {100: same[100], 200: {name: list(mean + 0.01 * rng.standard_normal(8))
                                     for name, mean in reversed_means.items()}}
    [entry] = budgets.ranking_agreement(_document(flipped), resamples=500)
    assert entry["tau"] == -1.0 and entry["ci95"][1] < 0
    assert "reverses" in budgets.agreement_line(entry) and "the leader changes: a/i -> d/i" in budgets.agreement_line(entry)
    assert budgets.slice_of(_document(same), 100)["meta"]["config"]["tasks"][0]["steps"] == 100


def test_compare_matches_each_budget_with_its_own(two_budgets, capsys):
    assert main(["compare", str(two_budgets), str(two_budgets)]) == 0
    out = capsys.readouterr().out
    assert "the same for 4 of 4" in out  # (optimizer, init) x 2 budgets
    assert "digits-mlp, budget 40 steps init he_normal" in out and "digits-mlp, budget 80 steps" in out
    assert "budget 40 eval test" in out and "budget 80 eval test" in out
