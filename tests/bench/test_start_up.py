"""What keeps a run's start-up short without changing a number: the init program makes the
data keys too, quick programs compile quick, the command line imports only what a command
needs, and the run marks its phases for `perf --startup`.

Timings are `python -m bench perf --startup`'s business; these tests check behaviour."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from bench import runner
from bench.phases import BESIDE_PREFIX, LINE_PREFIX

HEAVY = ("jax", "scipy", "matplotlib", "pandas", "orbax", "submitit", "sklearn", "torch", "rich",
         "optax", "flax")


def test_the_init_program_makes_each_seeds_own_data_key():
    from bench.tasks import TASKS
    from inits import STRATEGIES

    task, seeds = TASKS["spirals"], [1000, 3, 77, 3000]
    initialized = runner.initialize(task, task.load(), {"he_normal": STRATEGIES["he_normal"]}, seeds,
                                    16, runner.runs_mesh(), max_seeds_per_call=3)  # two chunks
    for seed in (77, 3000, 1000):
        alone = np.asarray(jax.random.key_data(runner.seed_keys(seed)[1]))
        np.testing.assert_array_equal(initialized.data_key_data([seed])[0], alone)


def test_the_command_line_imports_nothing_heavy_for_help():
    code = ("import sys, bench.cli\n"
            "try:\n    bench.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_small_run_marks_its_phases_and_imports_no_plotting_saving_or_jobs(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bench", "run", "--task", "spirals",
         "--optimizers", "adam", "--inits", "he_normal", "--seeds", "1", "--selection-seeds", "1",
         "--steps", "4", "--eval-every", "2", "--lrs", "0.01", "--no-plots", "--quiet",
         "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "INITOPT_PHASES": "1",
                                             "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(out)
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"matplotlib", "pandas", "orbax", "submitit", "torch"}
    phases = [line.split()[1:-1] for line in done.stderr.splitlines() if line.startswith(LINE_PREFIX)]
    names = [" ".join(words) for words in phases]
    for phase in ("init program: trace and size", "train program: compile",
                  "train program: first call", "records, statistics and writing"):
        assert phase in names
    assert names.index("train program: compile") < names.index("train program: first call")
    # SciPy's statistics are imported beside the train program's compile, not beside the
    # smaller programs' compiles before it (bench.imports.preload_beside_compile)
    lines = [line for line in done.stderr.splitlines() if line.startswith((LINE_PREFIX, BESIDE_PREFIX))]
    starts = [i for i, line in enumerate(lines) if line.startswith(f"{BESIDE_PREFIX} preload start")]
    assert len(starts) == 1
    assert starts[0] > lines.index(next(line for line in lines if line.startswith(f"{LINE_PREFIX} train program: trace")))
    # the init program compiles and runs beside it too (bench.overlap), done before the first call
    marks = [line.split()[0] + " " + " ".join(line.split()[1:-1]) for line in lines]
    began = marks.index(f"{BESIDE_PREFIX} init program start")
    assert marks.count(f"{BESIDE_PREFIX} init program start") == 1
    assert marks.index(f"{LINE_PREFIX} train program: trace") < began
    assert began < marks.index(f"{BESIDE_PREFIX} init program end") < marks.index(f"{LINE_PREFIX} train program: first call")


@pytest.mark.parametrize("task_name", ["digits-mlp", "digits-cnn", "mnist1d-gru"])
def test_the_init_programs_compiler_options_change_no_bit(task_name):
    # Data-independent inits compile quick (-O1); a program with a data-dependent one (LSUV runs
    # the model) keeps XLA's optimization level. Either way: XLA's defaults' bits.
    from bench.tasks import TASKS
    from inits import STRATEGIES

    task, seeds = TASKS[task_name], np.asarray([0, 1001], np.uint32)
    x_train = task.load().x_train
    assert runner.quick_compiler_options("cpu")
    for names in (("he_normal", "orthogonal", "glorot_uniform"), ("he_normal", "lsuv")):
        strategies = {name: STRATEGIES[name] for name in names}
        lowered = runner.make_init_program(task, strategies, 32).lower(seeds, x_train)
        ours = runner.compile_init_program(lowered, "cpu", strategies)(seeds, x_train)
        xlas = lowered.compile()(seeds, x_train)
        for got, want in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(xlas)):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_a_quick_program_compiles_once_without_a_probe_of_its_options():
    code = ("import jax, numpy as np\n"
            "from bench import runner\n"
            "compiles = []\n"
            "jax.monitoring.register_event_duration_secs_listener(lambda event, seconds, **_: "
            "compiles.append(event) if event.endswith('backend_compile_duration') else None)\n"
            "lowered = jax.jit(lambda x: x * 3 + 1).lower(np.float32(2))\n"
            "assert float(runner.compile_init_program(lowered, 'cpu', {})(np.float32(2))) == 7.0\n"
            "print(len(compiles))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "INITOPT_NO_COMPILATION_CACHE": "1"})
    assert done.stdout.strip().splitlines()[-1] == "1"  # a fresh process: no probe cached


def test_an_option_this_jaxlib_does_not_know_falls_back_to_xlas_defaults(monkeypatch):
    monkeypatch.setitem(runner.QUICK_COMPILER_OPTIONS, "cpu", {"xla_no_such_option_anywhere": True})
    assert runner.quick_compiler_options("cpu") is None
    lowered = jax.jit(lambda x: x + 1).lower(np.float32(1))
    assert float(runner.compile_init_program(lowered, "cpu", {})(np.float32(1))) == 2.0


def test_the_run_commands_modules_leave_scipy_for_later():
    """SciPy's statistics (about half a second) wait until a run has trained (bench.imports)."""
    code = ("import sys, bench.cli, bench.suite.execute, bench.suite.config, bench.runner, bench.results.files; "
            "print('scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_python_m_bench_ends_after_every_atexit_handler_with_the_commands_code(tmp_path):
    # `python -m bench` leaves without the interpreter's teardown (bench/__main__.py), but only
    # after every atexit handler: here a user's optimizer file registers one, after JAX's import
    (tmp_path / "mine.py").write_text(
        "import atexit, os, optax\n"
        "atexit.register(lambda: open(os.path.join(os.path.dirname(__file__), 'atexit-ran'), 'w').close())\n"
        "def my_sgd(learning_rate):\n    return optax.sgd(learning_rate)\n")
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--task", "spirals", "--optimizers", "mine.py:my_sgd",
         "--inits", "he_normal", "--seeds", "1", "--selection-seeds", "1", "--steps", "2",
         "--eval-every", "2", "--lrs", "0.01", "--no-plots", "--quiet", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(out)  # stdout flushed before the process left
    assert (tmp_path / "atexit-ran").exists()
    refused = subprocess.run([sys.executable, "-m", "bench", "run", "--task", "nope"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.startswith("error: unknown task 'nope'")
