"""Scale-out (issue 27): each program a job, one owner merging their parts; a failed or killed job
is a failed program, the rest go on, and a rerun trains only what is missing."""
import concurrent.futures
import json
import os
import shutil
import textwrap

import pytest

import bench
from bench.cli import main
from bench.suite.jobs import read_executor_config

SMALL = dict(task="digits-mlp", inits="he_normal", seeds=2, selection_seeds=2, steps=40,
             eval_every=20, lrs=[0.01, 0.03])
CLI_SMALL = ["--task", "digits-mlp", "--inits", "he_normal", "--seeds", "2", "--selection-seeds", "2",
             "--steps", "40", "--eval-every", "20", "--lrs", "0.01,0.03", "--no-plots", "--quiet"]


def numbers(results):
    """Every run's numbers keyed by the run, timings apart."""
    return {(r["task"], r["optimizer"], r["init"], r["phase"], r["seed"], r["trial"]):
            (r["final_train_loss"], r["final_val_accuracy"], r["final_test_accuracy"], r["curve"])
            for r in results["runs"]}


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    out = tmp_path_factory.mktemp("inline") / "inline.json"
    return bench.run("smoke", optimizers="sgd,adam", out=str(out), **SMALL)


def test_a_thread_pool_gives_the_inline_numbers_in_the_inline_order(inline, tmp_path):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        results = bench.run("smoke", optimizers="sgd,adam", out=str(tmp_path / "r.json"),
                            executor=executor, **SMALL)
    assert numbers(results) == numbers(inline)
    assert [r["optimizer"] for r in results["runs"]] == [r["optimizer"] for r in inline["runs"]]
    assert results["meta"]["complete"] and "failed_programs" not in results["meta"]
    jobs = [p["job"] for p in results["meta"]["programs"]]
    assert len(jobs) == 4 and all(job["executor"] == "concurrent.ThreadPoolExecutor" for job in jobs)
    assert not (tmp_path / "r.parts").exists()  # merged parts are gone


def test_the_local_cluster_trains_each_program_in_a_process_of_its_own(inline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.toml").write_text('cluster = "local"\nfolder = "jobs"\ntimeout_min = 10\n')
    assert main(["run", *CLI_SMALL, "--optimizers", "sgd,adam", "--executor", "submitit",
                 "--executor-config", "local.toml", "--out", "r.json"]) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert numbers(results) == numbers(inline)
    pids = [p["job"]["pid"] for p in results["meta"]["programs"]]
    assert len(set(pids)) == 4 and os.getpid() not in pids
    assert all(p["job"]["cluster"] == "local" and p["job"]["job_id"] for p in results["meta"]["programs"])


FAILS_IN_A_JOB = """
    import threading
    import optax

    def fragile(learning_rate):
        # fine where the owner checks it, raises where a job trains it
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("out of memory on the node")
        return optax.sgd(learning_rate)
"""


def test_a_failed_job_is_a_failed_program_and_a_rerun_trains_only_it(inline, tmp_path, capsys):
    (tmp_path / "fragile.py").write_text(textwrap.dedent(FAILS_IN_A_JOB))
    out = str(tmp_path / "r.json")
    optimizers = f"sgd,{tmp_path / 'fragile.py'}:fragile"
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        results = bench.run("smoke", optimizers=optimizers, out=out, executor=executor, **SMALL)
    failed = results["meta"]["failed_programs"]
    assert [(p["optimizer"], p["phase"]) for p in failed] == [("fragile", "selection")]
    assert "out of memory on the node" in failed[0]["error"]
    assert not results["meta"]["complete"]
    assert {r["optimizer"] for r in results["runs"]} == {"sgd"}  # the others went on
    rerun = bench.run("smoke", optimizers=optimizers, out=out, **SMALL)  # inline: it trains
    reused = {(p["optimizer"], p["phase"]): p["reused"] for p in rerun["meta"]["programs"]}
    assert reused == {("sgd", "selection"): True, ("sgd", "evaluation"): True,
                      ("fragile", "selection"): False, ("fragile", "evaluation"): False}
    assert rerun["meta"]["complete"] and "failed_programs" not in rerun["meta"]


KILLS_ITS_JOB_ONCE = """
    import os, signal
    import optax

    MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killed-once")

    def doomed(learning_rate):
        if os.environ.get("SUBMITIT_LOCAL_JOB_ID") and not os.path.exists(MARK):
            open(MARK, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return optax.sgd(learning_rate)
"""


@pytest.mark.slow
def test_a_killed_job_leaves_the_others_and_the_same_command_trains_only_its_programs(tmp_path, capsys,
                                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "doomed.py").write_text(textwrap.dedent(KILLS_ITS_JOB_ONCE))
    (tmp_path / "local.toml").write_text('cluster = "local"\nfolder = "jobs"\ntimeout_min = 10\n')
    command = ["run", *CLI_SMALL, "--optimizers", "adam,doomed.py:doomed", "--executor", "submitit",
               "--executor-config", "local.toml", "--out", "r.json"]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "1 program(s) failed: digits-mlp / doomed / selection" in err and "Traceback" not in err
    results = json.loads((tmp_path / "r.json").read_text())
    assert {(p["optimizer"], p["phase"]) for p in results["meta"]["programs"]} == {
        ("adam", "selection"), ("adam", "evaluation")}
    assert main(command) == 0
    again = json.loads((tmp_path / "r.json").read_text())
    reused = {(p["optimizer"], p["phase"]): p["reused"] for p in again["meta"]["programs"]}
    assert reused == {("adam", "selection"): True, ("adam", "evaluation"): True,
                      ("doomed", "selection"): False, ("doomed", "evaluation"): False}


@pytest.mark.parametrize("toml, flags, expected", [
    ('cluster = "local"\nfolder = "j"\nspeed = 3\n', [], "unknown key 'speed'"),
    ('cluster = "local"\ntimeout_min = 2.5\n', [], "timeout_min must be int"),
    ('cluster = "local"\nslurm_partition = "gpu"\n', [], "SLURM key"),
    ('cluster = "mars"\n', [], "cluster must be one of"),
    ('cluster = "local"\n[oops\n', [], "cannot be read"),
    (None, [], "no such file"),
    ('cluster = "local"\n', ["--executor", "inline"], "--executor-config goes with --executor submitit"),
])
def test_bad_executor_input_is_one_line_and_exit_2(toml, flags, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if toml is not None:
        (tmp_path / "x.toml").write_text(toml)
    flags = flags or ["--executor", "submitit"]
    code = main(["run", *CLI_SMALL, "--optimizers", "sgd", *flags, "--executor-config", "x.toml",
                 "--out", "out/r.json"])
    err = capsys.readouterr().err
    assert code == 2 and expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_slurm_where_there_is_none_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "slurm.toml"
    path.write_text('cluster = "slurm"\nslurm_partition = "gpu"\n')
    with pytest.raises(bench.errors.UsageError, match="no SLURM here"):
        read_executor_config(str(path))


def test_slurm_jobs_ask_for_one_gpu_unless_told(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/sbatch")
    path = tmp_path / "slurm.toml"
    path.write_text('cluster = "slurm"\nslurm_partition = "gpu"\ncpus_per_task = 8\n')
    assert read_executor_config(str(path)).parameters == {"slurm_partition": "gpu", "cpus_per_task": 8,
                                                          "gpus_per_node": 1}


def test_a_python_object_cannot_go_to_a_job(tmp_path):
    import optax

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        with pytest.raises(bench.errors.UsageError, match="given as a Python object"):
            bench.run("smoke", optimizers={"my_sgd": lambda learning_rate: optax.sgd(learning_rate)},
                      out=str(tmp_path / "r.json"), executor=executor, **SMALL)


class InterruptAtFirstDone:
    """A view that presses Ctrl-C when the first job is done."""

    def __init__(self):
        self.states = []

    def start(self, description, total_steps):
        pass

    def advance(self, steps):
        pass

    def job(self, label, state):
        self.states.append((label, state))
        if state == "done":
            raise KeyboardInterrupt


def test_ctrl_c_in_the_owner_cancels_unfinished_jobs_and_keeps_the_finished(tmp_path):
    from bench.suite import execute
    from bench.suite.config import resolve

    config = resolve("smoke", optimizers="sgd,adam", **SMALL)
    out = str(tmp_path / "r.json")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        with pytest.raises(execute.Interrupted):
            execute.run_suite(config, out, progress=InterruptAtFirstDone(), executor=executor)
    saved = json.loads(open(out).read())
    assert not saved["meta"]["complete"]
    assert [(p["optimizer"], p["phase"]) for p in saved["meta"]["programs"]] == [("sgd", "selection")]
    _, again = execute.run_suite(config, out)
    reused = {(p["optimizer"], p["phase"]): p["reused"] for p in again["meta"]["programs"]}
    assert reused[("sgd", "selection")] is True and not any(
        value for key, value in reused.items() if key != ("sgd", "selection"))


@pytest.mark.slow
def test_a_long_program_interrupted_by_ctrl_c_resumes_with_the_uninterrupted_numbers(tmp_path):
    """The command line's own SIGINT handler raises while a call runs (its inputs donated): the
    program still saves that call's state, and the same command resumes there."""
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "bench", "run", "--task", "digits-mlp", "--optimizers", "adam",
               "--inits", "he_normal", "--seeds", "14", "--selection-seeds", "2", "--steps", "2000",
               "--eval-every", "100", "--lrs", "0.001", "--no-plots", "--quiet",
               "--checkpoint-minutes", "0"]
    interrupted = subprocess.Popen([*command, "--out", "long.json"], cwd=tmp_path, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    saves = tmp_path / "long.parts" / "checkpoints"
    deadline = time.monotonic() + 240
    while not (saves.exists() and any(saves.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # well into training
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130 and "Traceback" not in err
    resumed = subprocess.run([*command, "--out", "long.json"], cwd=tmp_path, text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((tmp_path / "long.json").read_text())
    step = results["meta"]["programs"][0]["resumed_from"]
    assert 0 < step < 2000
    fresh = subprocess.run([*command, "--out", "fresh.json"], cwd=tmp_path, capture_output=True,
                           timeout=300)
    assert fresh.returncode == 0
    assert numbers(results) == numbers(json.loads((tmp_path / "fresh.json").read_text()))
    assert not (tmp_path / "long.parts").exists()


def test_importing_submitit_closes_no_logging_handler_of_the_process():
    """submitit configures logging on import, which closes every handler the process has (absl's
    among them, with the stream it writes to: pytest's captured stderr was one)."""
    import subprocess
    import sys

    code = textwrap.dedent("""
        import io, logging, os, sys
        from absl.logging import PythonHandler  # absl's handler closes its stream when closed
        stream = io.StringIO()
        logging.getLogger("mine").addHandler(PythonHandler(stream))
        if sys.argv[1] == "ours":
            from bench.suite.jobs import import_submitit
            import_submitit()
        else:
            import submitit
        print("closed" if stream.closed else "open")
    """)
    env = {key: value for key, value in os.environ.items() if key != "SUBMITIT_LOG_LEVEL"}
    ours = subprocess.run([sys.executable, "-c", code, "ours"], capture_output=True, text=True, env=env)
    plain = subprocess.run([sys.executable, "-c", code, "plain"], capture_output=True, text=True, env=env)
    assert ours.stdout.strip() == "open", ours.stderr
    assert plain.stdout.strip() == "closed"  # what it guards against (submitit 1.5)
