"""A program saves between calls and resumes from its save with the numbers of an uninterrupted
run, bit for bit: after Ctrl-C (inline), after its process is killed, past saves that are not
its own or were cut off while written."""
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import optax
import pytest

from bench import runner
from bench.tasks import TASKS
from inits.strategy import Strategy
from optimizers.spec import OptimizerSpec

I = jax.nn.initializers
STRATEGIES = {"he_normal": Strategy(I.he_normal(), I.zeros, "", "")}
ADAM = OptimizerSpec(optax.adam, optax.adam, {}, (1e-3,), "", "")
TASK = TASKS["digits-mlp"]
STEPS, EVAL_EVERY, BATCH, SEEDS, LRS = 400, 100, 64, [0, 1], [1e-3, 3e-3]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def setup():
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, SEEDS, BATCH, mesh)
    return mesh, dataset, initialized


def train(setup, runs=None, steps=STEPS, spec=ADAM, each=False, **options):
    mesh, dataset, initialized = setup
    runs = runner.grid(["he_normal"], SEEDS, LRS) if runs is None else runs
    train = runner.train_each_configuration if each else runner.train_runs
    return train(TASK, dataset, spec, runs, initialized, steps=steps, batch_size=BATCH,
                 eval_every=EVAL_EVERY, mesh=mesh, **options)


@pytest.fixture(scope="module")
def uninterrupted(setup):
    return train(setup)[0]


def assert_same(output, expected):
    for field in runner.RunOutput._fields:
        a, b = np.asarray(getattr(output, field)), np.asarray(getattr(expected, field))
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field


class InterruptOnce:
    """on_progress that raises KeyboardInterrupt (or sends this process SIGINT) once `at`
    run-steps are done; counts the run-steps it is told of."""

    def __init__(self, at, signal_self=False):
        self.at, self.signal_self, self.done, self.fired = at, signal_self, 0, False

    def __call__(self, run_steps):
        self.done += run_steps
        if not self.fired and self.done >= self.at:
            self.fired = True
            if self.signal_self:
                os.kill(os.getpid(), signal.SIGINT)
            else:
                raise KeyboardInterrupt


def interrupt(setup, folder, fraction=0.5, runs=None, steps=STEPS, checkpoint_seconds=3600,
              **options):
    """Train, Ctrl-C once `fraction` of the run-steps are done (it saves then, and after
    every call with checkpoint_seconds=0)."""
    runs = runner.grid(["he_normal"], SEEDS, LRS) if runs is None else runs
    with pytest.raises(KeyboardInterrupt):
        train(setup, runs, steps, on_progress=InterruptOnce(fraction * len(runs) * steps),
              checkpoint=folder, checkpoint_seconds=checkpoint_seconds, **options)
    assert saves(folder)


def saves(folder):
    """The committed saves in a program's folder (orbax names each by its position)."""
    return sorted(name for name in os.listdir(folder) if name.isdigit())


def test_interrupted_program_resumes_to_the_numbers_of_an_uninterrupted_run(setup, uninterrupted,
                                                                            tmp_path):
    folder = tmp_path / "program"
    interrupt(setup, folder, checkpoint_seconds=0)  # a save after every call
    progress = InterruptOnce(at=float("inf"))
    output, timing = train(setup, checkpoint=folder, on_progress=progress)
    steps_per_epoch = TASK.load().x_train.shape[0] // BATCH
    assert STEPS // 2 <= timing.resumed_from < STEPS // 2 + steps_per_epoch
    assert progress.done == 4 * STEPS  # the save's run-steps are reported once, then the rest
    assert_same(output, uninterrupted)
    assert not folder.exists()


def test_a_fresh_program_says_it_did_not_resume_and_leaves_no_folder(setup, uninterrupted, tmp_path):
    output, timing = train(setup, checkpoint=tmp_path / "program", checkpoint_seconds=0.3)
    assert timing.resumed_from is None
    assert_same(output, uninterrupted)
    assert not (tmp_path / "program").exists()


def test_numbers_do_not_depend_on_how_steps_are_split_into_calls(setup, uninterrupted):
    output, timing = train(setup, call_seconds=0.0)  # every call trains one step
    assert timing.calls == STEPS
    assert_same(output, uninterrupted)


def test_ctrl_c_waits_for_the_call_in_flight_then_saves(setup, uninterrupted, tmp_path):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is held back only in the main thread")
    folder = tmp_path / "program"
    # Python's own SIGINT handler, as in a terminal: a process started in the background by a
    # shell without job control inherits SIGINT ignored, and the runner then holds nothing back
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):  # SIGINT during the run, no periodic save
            train(setup, on_progress=InterruptOnce(2 * STEPS, signal_self=True), checkpoint=folder)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(saves(folder)) == 1
    output, timing = train(setup, checkpoint=folder)
    assert timing.resumed_from >= STEPS // 2
    assert_same(output, uninterrupted)


def test_a_program_of_two_chunks_resumes_in_its_second(setup, tmp_path):
    chunked, _ = train(setup, max_runs_per_call=2)
    folder = tmp_path / "program"
    interrupt(setup, folder, 0.75, max_runs_per_call=2)  # halfway through chunk 2
    output, timing = train(setup, checkpoint=folder, max_runs_per_call=2)
    assert timing.runs_per_call == 2 and STEPS + STEPS // 2 <= timing.resumed_from < 2 * STEPS
    assert_same(output, chunked)


def test_save_of_another_program_is_ignored(setup, uninterrupted, tmp_path):
    folder = tmp_path / "program"
    interrupt(setup, folder, runs=runner.grid(["he_normal"], SEEDS, [1e-3]))
    with pytest.warns(RuntimeWarning, match="another program"):
        output, timing = train(setup, checkpoint=folder)
    assert timing.resumed_from is None
    assert_same(output, uninterrupted)
    assert not folder.exists()


def test_save_cut_off_while_written_leaves_the_previous_one(setup, uninterrupted, tmp_path):
    folder = tmp_path / "program"
    interrupt(setup, folder)
    [last] = saves(folder)
    cut = folder / f"{int(last) + 7}.orbax-checkpoint-tmp"  # as orbax names it
    (cut / "state").mkdir(parents=True)
    (cut / "state" / "manifest.ocdbt").write_bytes(b"\x00" * 3)
    output, timing = train(setup, checkpoint=folder)
    assert timing.resumed_from is not None and timing.resumed_from >= STEPS // 2
    assert_same(output, uninterrupted)


@pytest.mark.parametrize("item", ["meta", "state"])
def test_damaged_save_means_a_fresh_start(setup, uninterrupted, tmp_path, item):
    folder = tmp_path / "program"
    interrupt(setup, folder)
    [last] = saves(folder)
    for root, _, names in os.walk(folder / last / item):
        for name in names:
            if name != "commit_success.txt":
                with open(os.path.join(root, name), "r+b") as file:
                    file.truncate(os.path.getsize(file.name) // 2)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        output, timing = train(setup, checkpoint=folder)
    assert timing.resumed_from is None
    assert_same(output, uninterrupted)
    assert not folder.exists()


def test_each_configuration_saves_in_a_folder_of_its_own(setup, tmp_path):
    steps = 100
    expected, _ = train(setup, steps=steps, each=True)
    folder = tmp_path / "program"
    with pytest.raises(KeyboardInterrupt):  # halfway through the second configuration's program
        # one step a call, so that the interrupt lands there on any host (with calls of about
        # a second, a fast host trained the second program's last 99 steps in one call, and
        # the interrupt came after it had ended)
        train(setup, steps=steps, each=True, checkpoint=folder, call_seconds=0.0,
              on_progress=InterruptOnce(2 * steps + steps))
    assert len(os.listdir(folder)) == 2
    output, timing = train(setup, steps=steps, each=True, checkpoint=folder)
    assert timing.resumed_from == steps + steps // 2  # the first one's, and half of the second
    assert_same(output, expected)
    assert not folder.exists()


KILLED_SCRIPT = """
import sys, time
import bench
from tests.bench import test_resume as t
setup = t.setup.__wrapped__()
t.train(setup, steps=int(sys.argv[2]), checkpoint=sys.argv[1], checkpoint_seconds=0,
        on_progress=lambda n: time.sleep(0.02))
print("finished")
"""


@pytest.mark.parametrize("steps", [STEPS, pytest.param(2000, marks=pytest.mark.slow)])
def test_killed_process_resumes_in_a_new_one(setup, tmp_path, steps):
    folder = tmp_path / "program"
    job = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, str(folder), str(steps)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": ROOT})
    try:
        deadline = time.monotonic() + 120
        while not (folder.exists() and saves(folder)) and job.poll() is None:
            assert time.monotonic() < deadline, "no save appeared"
            time.sleep(0.05)
        job.send_signal(signal.SIGKILL)
        out, err = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == -signal.SIGKILL and "finished" not in out, err[-2000:]
    output, timing = train(setup, steps=steps, checkpoint=folder)
    assert timing.resumed_from is not None and 0 < timing.resumed_from < steps
    assert_same(output, train(setup, steps=steps)[0])
    assert not folder.exists()


@pytest.mark.slow
def test_two_thousand_steps_interrupted_halfway_resume_to_the_same_numbers(setup, tmp_path):
    """The issue's check: a 2,000-step program, Ctrl-C at about half its steps."""
    steps, folder = 2000, tmp_path / "program"
    expected, _ = train(setup, steps=steps)
    interrupt(setup, folder, steps=steps, checkpoint_seconds=0)
    output, timing = train(setup, steps=steps, checkpoint=folder)
    assert steps // 2 <= timing.resumed_from < steps // 2 + EVAL_EVERY
    assert_same(output, expected)
    assert not folder.exists()
