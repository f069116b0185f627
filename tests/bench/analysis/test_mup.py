"""The muP study's reading of a results file: best rate per width on the median of the seeds'
losses, its drift with a bootstrap interval, the table."""
import numpy as np
import pytest

from bench.analysis import mup


def _runs(best_rate_of_width):
    """Selection runs whose training loss is lowest at best_rate_of_width[init](width)."""
    runs = []
    for init in ("lecun_normal", "mup"):
        for width in (64, 256, 1024):
            best = best_rate_of_width[init](width)
            for lr in (1e-4, 1e-3, 1e-2, 1e-1):
                for seed in (0, 1):
                    loss = 0.1 + abs(np.log10(lr / best)) + 0.01 * seed
                    runs.append({"task": f"digits-mlp-w{width}", "init": init, "lr": lr, "seed": seed,
                                 "phase": "selection", "final_train_loss": loss})
    return {"runs": runs, "meta": {}}


def test_best_rates_and_their_drift():
    results = _runs({"lecun_normal": lambda width: {64: 1e-2, 256: 1e-3, 1024: 1e-4}[width],
                     "mup": lambda width: 1e-2})
    assert mup.applies(results)
    best = mup.best_rates(results)
    assert best["lecun_normal"] == {64: 1e-2, 256: 1e-3, 1024: 1e-4}
    assert best["mup"] == {64: 1e-2, 256: 1e-2, 1024: 1e-2}
    drift = mup.drift(results)
    assert np.isclose(drift["lecun_normal"], 2.0) and drift["mup"] == 0.0
    header, rows = mup.table(results)
    assert header[1] == "width 64" and rows[1][0] == "muP" and rows[1][-1] == "0.00 [0.00, 0.00]"
    assert rows[0][-1].startswith("2.00 [")


def test_a_run_without_a_finite_loss_counts_as_worse_than_any_and_other_suites_do_not_apply():
    results = _runs({"lecun_normal": lambda width: 1e-3, "mup": lambda width: 1e-3})
    for run in results["runs"]:
        if run["lr"] == 1e-1:
            run["final_train_loss"] = None  # failed with a non-finite loss
    assert mup.loss_by_rate(results)["mup"][64][1e-1] == np.inf  # never the best, never dropped
    assert not mup.applies({"runs": [{"task": "digits-mlp", "init": "mup"}], "meta": {}})


def test_one_diverged_seed_does_not_move_the_best_rate():
    # at every width, 1e-2 is best on three seeds of four; the fourth seed blew up there (loss 50):
    # the mean would move the best rate to 1e-3, the median keeps 1e-2
    runs = []
    for init in ("lecun_normal", "mup"):
        for width in (64, 256):
            for lr, loss in ((1e-3, 0.3), (1e-2, 0.1)):
                for seed in range(4):
                    blown = lr == 1e-2 and seed == 3 and width == 256
                    runs.append({"task": f"digits-mlp-w{width}", "init": init, "lr": lr, "seed": seed,
                                 "phase": "selection", "final_train_loss": 50.0 if blown else loss + 0.001 * seed})
    results = {"runs": runs, "meta": {}}
    assert mup.best_rates(results)["lecun_normal"] == {64: 1e-2, 256: 1e-2}
    assert mup.drift(results)["lecun_normal"] == 0.0
    low, high = mup.drift_interval(results)["lecun_normal"]
    assert low == 0.0 and high == pytest.approx(1.0)  # resamples that draw seed 3 twice or more move it


def test_the_figure_says_what_was_measured_not_what_theory_predicts():
    drifting_mup = _runs({"lecun_normal": lambda width: 1e-2,
                          "mup": lambda width: {64: 1e-3, 256: 1e-2, 1024: 1e-1}[width]})
    figure = mup.figure(drifting_mup)
    title = figure._suptitle.get_text()
    assert "0.00 decades under the standard parametrization" in title and "2.00 decades under muP" in title
