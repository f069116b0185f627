"""`run --schedule`: a decayed learning rate in a run as in `tune`, part of every configuration
and of its program's key (issue 25's first point)."""
import json

import pytest

from bench.cli import main

RUN = ["run", "--task", "digits-mlp", "--optimizers", "adam", "--inits", "he_normal", "--seeds", "2",
       "--selection-seeds", "2", "--steps", "60", "--eval-every", "20", "--lrs", "0.003", "--no-plots",
       "--quiet"]


def runs_of(path):
    return {(r["phase"], r["seed"]): r for r in json.loads(path.read_text())["runs"]}


def test_a_decayed_run_records_its_schedule_and_trains_differently(tmp_path):
    constant, decayed = tmp_path / "constant.json", tmp_path / "decayed.json"
    assert main([*RUN, "--schedule", "constant", "--out", str(constant)]) == 0
    assert main([*RUN, "--schedule", "warmup_cosine", "--warmup-fraction", "0.1",
                 "--out", str(decayed)]) == 0
    flat, cosine = runs_of(constant), runs_of(decayed)
    assert flat.keys() == cosine.keys()
    for key, run in cosine.items():
        assert run["hyperparams"] == {"learning_rate": 0.003, "final_fraction": 0.0,
                                      "schedule": "warmup_cosine", "warmup_fraction": 0.1}
        assert flat[key]["hyperparams"] == {"learning_rate": 0.003}
        # the same first batch, before any update; then another trajectory
        assert run["initial_train_loss"] == flat[key]["initial_train_loss"]
        assert run["curve"]["train_loss"] != flat[key]["curve"]["train_loss"]
    meta = json.loads(decayed.read_text())["meta"]["config"]
    assert (meta["schedule"], meta["warmup_fraction"], meta["final_fraction"]) == ("warmup_cosine", 0.1, 0.0)


def test_the_comparison_suites_decay_and_default_constant_does_not():
    from bench.suite.config import resolve

    for suite in ("default", "full", "sweep", "deep", "smoke"):
        config = resolve(suite, task="spirals", optimizers="adam,schedule_free_adamw", inits="he_normal")
        assert (config.schedule, config.warmup_fraction, config.final_fraction) == ("warmup_cosine", 0.05, 0.0)
        assert config.candidates("adam")[0]["final_fraction"] == 0.0
        # schedule-free makes its own schedule: it warms up, then holds the peak
        assert config.candidates("schedule_free_adamw")[0]["final_fraction"] == 1.0
    # tune's searched trials too: the same rule, in the one place that makes candidates
    import dataclasses

    searched = dataclasses.replace(config, search={"schedule_free_adamw": (
        {"learning_rate": 0.01, "schedule": 1.0, "warmup_fraction": 0.1, "final_fraction": 0.0},)})
    assert searched.candidates("schedule_free_adamw")[0]["final_fraction"] == 1.0
    constant = resolve("default-constant", task="spirals", optimizers="adam", inits="he_normal")
    assert constant.schedule == "constant" and set(constant.candidates("adam")[0]) == {"learning_rate", "budget"}


def test_another_schedule_is_another_program(tmp_path):
    out = tmp_path / "r.json"
    assert main([*RUN, "--out", str(out)]) == 0
    assert main([*RUN, "--schedule", "warmup_linear", "--out", str(out)]) == 0
    programs = json.loads(out.read_text())["meta"]["programs"]
    assert [p["reused"] for p in programs] == [False]  # nothing of the constant run was served


@pytest.mark.parametrize("flags, expected", [
    (["--schedule", "linear"], "--schedule must be one of constant, warmup_cosine, warmup_linear"),
    (["--schedule", "constant", "--warmup-fraction", "0.1"],
     "--warmup-fraction and --final-fraction go with --schedule"),
    (["--schedule", "warmup_cosine", "--warmup-fraction", "1.5"], "--warmup-fraction must be in [0, 1)"),
    (["--schedule", "warmup_cosine", "--final-fraction", "-0.1"], "--final-fraction must be in [0, 1)"),
])
def test_bad_schedules_are_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    assert main([*RUN, *flags, "--out", str(tmp_path / "out" / "r.json")]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
