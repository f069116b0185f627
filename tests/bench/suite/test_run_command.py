"""`python -m bench run` / `list`: bad input, the files a run writes, interruption and reuse."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import bench
from bench.suite import execute as experiment
from bench.cli import main
from bench.suite.config import resolve
from bench.results.document import check_schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = ["--suite", "smoke", "--steps", "20", "--eval-every", "10", "--no-plots"]


@pytest.mark.parametrize("flags, expected", [
    (["--task", "digits-mpl"], "did you mean 'digits-mlp'"),
    (["--optimizers", "adam,adamm"], "unknown optimizer 'adamm'; did you mean 'adam'"),
    (["--inits", "he_norml"], "unknown init 'he_norml'; did you mean 'he_normal'"),
    (["--suite", "fulll"], "unknown suite"),
    (["--seeds", "0"], "--seeds must be a positive integer"),
    (["--seeds", "-3"], "--seeds must be a positive integer"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--eval-every", "-1"], "--eval-every must be a positive integer"),
    (["--batch-size", "5000"], "larger than the 1257-example training set"),
    (["--lrs", "1e-3,abc"], "--lrs must be comma-separated numbers"),
    (["--lrs", "1e-3,0"], "--lrs must all be positive"),
    (["--lrs", "-0.1"], "--lrs must all be positive"),
    (["--lrs", "nan"], "--lrs must all be positive and finite"),
    (["--target", "0"], "--target must be in (0, 1]"),
    (["--target", "1.5"], "--target must be in (0, 1]"),
    (["--steps", "30", "--eval-every", "25"], "must be a multiple of --eval-every"),
    (["--seeds", "abc"], "invalid int value"),
])
def test_bad_input_is_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    out = tmp_path / "run.json"
    with pytest.raises(SystemExit) if expected == "invalid int value" else _no_raise() as raised:
        code = main(["run", *TINY, *flags, "--out", str(out)])
    if raised is not None:
        code = raised.value.code
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_out_that_is_a_directory_or_unwritable(tmp_path, capsys):
    assert main(["run", *TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and len(err.splitlines()) == 1  # no blank line either
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert main(["run", *TINY, "--out", str(blocker / "run.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot create its folder" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_bad_input_from_the_real_command_line_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "--optimizers", "adamm", "--out",
                           str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown optimizer 'adamm'; did you mean 'adam'?"
    assert not (tmp_path / "x.json").exists()


def test_list_names_every_task_init_optimizer_and_suite(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits-mlp", "digits-deep", "digits-cnn", "spirals", "small_random", "lsuv",
                 "adadelta", "lion", "default", "full", "sweep"):
        assert name in out


def test_default_suite_covers_the_classic_eight_and_all_twelve_inits():
    from bench.suite.config import CLASSIC_INITS
    from inits import STRATEGIES

    config = resolve("default")
    assert set(config.optimizers) == {"gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta",
                                      "rmsprop", "adam"}
    assert set(config.inits) == set(CLASSIC_INITS) and len(CLASSIC_INITS) == 12
    assert set(CLASSIC_INITS) <= set(STRATEGIES)
    assert len(config.seeds) >= 8
    assert all(len(config.learning_rates[o]) >= 1 for o in config.optimizers)


def test_a_run_writes_schema_valid_json_and_csv_and_prints_tables(tmp_path, capsys):
    out = tmp_path / "sub" / "run.json"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # smoke: 2 optimizers x 2 inits, one learning rate each, so one program per optimizer
    # trains the 2 selection seeds (which choose the report's leaders) and the 2 evaluation seeds
    assert "test accuracy" in printed and "failures: 0 of 16 runs" in printed
    document = json.loads(out.read_text())
    check_schema(document)
    assert document["meta"]["complete"] is True
    assert document["meta"]["config"]["seeds"] == 2
    assert {"jax", "jaxlib", "flax", "optax"} <= set(document["meta"]["versions"])
    assert len(document["runs"]) == 16 and len(document["summary"]) == 8
    assert [p["phase"] for p in document["meta"]["programs"]] == ["selection+evaluation"] * 2
    selection = [r for r in document["runs"] if r["phase"] == "selection"]
    assert {r["seed"] for r in selection} == {0, 1}
    assert all(r["final_test_accuracy"] is None for r in selection)
    assert all(r["curve"]["step"] == [10, 20] for r in document["runs"])
    csv_lines = out.with_suffix(".summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("task,optimizer,init,phase,trial,lr,hyperparams,seeds") and len(csv_lines) == 9
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_quiet_prints_only_the_path(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["run", *TINY, "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)


def test_interrupted_run_keeps_finished_programs_and_a_rerun_reuses_them(tmp_path):
    out = str(tmp_path / "run.json")
    config = resolve("smoke", steps=20, eval_every=10)

    class InterruptSecondProgram:
        started = 0

        def start(self, description, total_steps):
            self.started += 1
            if self.started == 2:
                raise KeyboardInterrupt

        def advance(self, steps):
            pass

    with pytest.raises(experiment.Interrupted):
        experiment.run_suite(config, out, progress=InterruptSecondProgram())
    partial = json.load(open(out))
    assert partial["meta"]["complete"] is False
    assert [p["optimizer"] for p in partial["meta"]["programs"]] == ["sgd"]

    _, finished = experiment.run_suite(config, out)
    assert finished["meta"]["complete"] is True
    assert [(p["optimizer"], p["reused"]) for p in finished["meta"]["programs"]] == [
        ("sgd", True), ("adam", False)]
    sgd_runs = [r for r in finished["runs"] if r["optimizer"] == "sgd"]
    assert sgd_runs == [r for r in partial["runs"] if r["optimizer"] == "sgd"]


def test_python_api_runs_a_suite_and_returns_the_document(tmp_path):
    document = bench.run("smoke", out=str(tmp_path / "api.json"), steps=20, eval_every=10,
                         optimizers="adam", seeds=[5, 7])
    evaluation = [r for r in document["runs"] if r["phase"] == "evaluation"]
    assert {r["seed"] for r in evaluation} == {5, 7}
    assert {r["seed"] for r in document["runs"]} - {5, 7} == {0, 1}  # the selection seeds
    assert {r["optimizer"] for r in document["runs"]} == {"adam"}


def test_sigterm_exits_130_with_the_finished_programs_saved(tmp_path):
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "bench", "--suite", "smoke", "--optimizers", "sgd,adam",
               "--steps", "3000", "--eval-every", "100", "--no-plots", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 240
    while not out.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    document = json.loads(out.read_text())
    assert document["meta"]["complete"] is False
    assert [p["optimizer"] for p in document["meta"]["programs"]] == ["sgd"]


@pytest.mark.slow
def test_an_interrupt_is_honoured_within_seconds_inside_one_long_period(tmp_path):
    # 20 million steps in periods of 2 million: without calls bounded in time the first period
    # alone would take hours; the host must regain control about every second.
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "bench", "--suite", "smoke", "--optimizers", "sgd",
               "--inits", "he_normal", "--steps", "20000000", "--eval-every", "2000000",
               "--no-plots", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(25)  # imports, init and compile are over; training is inside the first period
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    sent = time.time()
    _, err = process.communicate(timeout=120)
    waited = time.time() - sent
    assert process.returncode == 130, err[-2000:]
    assert waited < 15, f"exited {waited:.1f} s after the interrupt"
    assert "Traceback" not in err


def test_selection_seeds_flag_sets_the_seeds_that_choose(tmp_path):
    out = tmp_path / "run.json"
    assert main(["run", *TINY, "--optimizers", "adam", "--inits", "he_normal", "--lrs", "1e-3,3e-3",
                 "--selection-seeds", "3", "--seeds", "2", "--quiet", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["meta"]["config"]["selection_seeds"] == [0, 1, 2]
    selection = [r for r in document["runs"] if r["phase"] == "selection"]
    assert sorted({r["seed"] for r in selection}) == [0, 1, 2] and len(selection) == 6  # 2 lrs
    evaluation = [r for r in document["runs"] if r["phase"] == "evaluation"]
    assert sorted({r["seed"] for r in evaluation}) == [1000, 1001] and len({r["lr"] for r in evaluation}) == 1
