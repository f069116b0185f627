"""Expected best of n trials (Dodge et al. 2019) against simulation, and the search's tables."""
import numpy as np

from bench.analysis.search import expected_best, trials


def test_expected_best_of_one_trial_is_the_mean_and_of_many_the_maximum():
    scores = [0.2, 0.9, 0.5, 0.7]
    mean, std = expected_best(scores, [1, 1000])
    assert np.isclose(mean[0], np.mean(scores))
    assert np.isclose(std[0], np.std(scores))
    assert np.isclose(mean[1], 0.9) and std[1] < 1e-6


def test_expected_best_matches_a_simulation_of_drawing_trials_with_replacement():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.5, 1.0, 20)
    budgets = [1, 2, 5, 10]
    mean, std = expected_best(scores, budgets)
    for n, m, s in zip(budgets, mean, std):
        best = rng.choice(scores, size=(200_000, n)).max(axis=1)
        assert abs(best.mean() - m) < 3e-3 and abs(best.std() - s) < 3e-3


def test_expected_best_grows_with_the_budget():
    mean, _ = expected_best(np.linspace(0, 1, 11), range(1, 30))
    assert np.all(np.diff(mean) > 0)


def test_trials_score_failed_runs_at_chance_and_count_them():
    def run(trial, seed, val, failed=False):
        return {"task": "t", "optimizer": "adam", "init": "he_normal", "phase": "selection",
                "trial": trial, "seed": seed, "final_val_accuracy": val, "failed": failed,
                "hyperparams": {"learning_rate": 10.0 ** -trial}}

    results = {"meta": {"config": {"num_classes": 10}},
               "runs": [run(0, 0, 0.9), run(0, 1, 0.8), run(1, 0, None, True), run(1, 1, 0.5, True),
                        {**run(0, 1000, 0.95), "phase": "evaluation"}]}
    found = trials(results)[("t", "adam", "he_normal")]
    assert [row["trial"] for row in found] == [0, 1]
    assert np.isclose(found[0]["score"], 0.85) and found[0]["failed"] == 0
    assert np.isclose(found[1]["score"], (0.1 + 0.5) / 2) and found[1]["failed"] == 2


def test_tune_writes_its_search_plots_and_the_report_links_them(tmp_path):
    import re

    from bench.cli import main

    out = tmp_path / "t.json"
    assert main(["tune", "--task", "digits-mlp", "--optimizers", "adam", "--budget", "2", "--selection-seeds", "1",
                 "--seeds", "1", "--steps", "20", "--out", str(out)]) == 0
    report = (tmp_path / "t.report.md").read_text()
    linked = set(re.findall(r"\]\(([^)]+\.png)\)", report))
    search = {"t-digits-mlp-he_normal-budget.png", "t-digits-mlp-adam-he_normal-sensitivity.png"}
    assert search <= linked
    for name in linked:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
