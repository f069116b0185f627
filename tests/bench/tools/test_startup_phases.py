"""perf --startup's accounting of a process's stderr: importtime's lines and the phase marks.

The whole measurement (fresh `python -m bench run` processes) is a benchmark, not a test; here
its arithmetic on a made-up stderr, and the marks' lines from a real process.
"""
import os
import subprocess
import sys

import pytest

from bench.tools.perf import startup_phases
from bench.tools.perf.startup_phases import ECOSYSTEM_ROW, EXIT, OURS_ROW, UNMARKED

STDERR = """\
import time: self [us] | cumulative | imported package
import time:       500 |        500 |   ml_dtypes
import time:     1000000 |    1000500 | jax
import time:      2000 |       2000 | bench.cli
initopt-phase start 100.5
import time:    300000 |     300000 | scipy.stats
import time:    100000 |     100000 |   scipy
initopt-phase work 103.0
initopt-phase work 103.5
some warning the run printed
"""


def test_rows_add_up_to_the_wall_time_and_split_imports_by_library():
    rows = startup_phases.split_stderr(STDERR, began=99.0, ended=104.0, ecosystem={"ml_dtypes"})
    assert rows[ECOSYSTEM_ROW] == pytest.approx(1.0005)
    assert rows[OURS_ROW] == pytest.approx(0.002)
    assert rows["imports: scipy"] == pytest.approx(0.4)
    # a phase is the time since the previous mark less the imports made meanwhile
    assert rows["start"] == pytest.approx(1.5 - 1.0025)
    assert rows["work"] == pytest.approx(2.5 - 0.4 + 0.5)  # twice: added up
    assert rows[EXIT] == pytest.approx(0.5)
    assert sum(rows.values()) == pytest.approx(104.0 - 99.0)


def rows_with_a_window(name: str, start: float, end: float) -> dict[str, float]:
    """STDERR's rows, with a thread's window `name` around its SciPy import."""
    scipy = "import time:    300000 |     300000 | scipy.stats\n"
    beside = STDERR.replace(scipy, f"initopt-beside {name} start {start}\n{scipy}"
                                   f"initopt-beside {name} end {end}\n")
    return startup_phases.split_stderr(beside, began=99.0, ended=104.0, ecosystem={"ml_dtypes"})


def test_imports_a_thread_makes_beside_the_phases_stay_in_them_and_in_a_row_apart():
    rows = rows_with_a_window("preload", 101.0, 102.0)
    assert rows[startup_phases.BESIDE_ROW] == pytest.approx(0.3)
    assert rows["imports: scipy"] == pytest.approx(0.1)  # the main thread's import, taken out
    assert rows["work"] == pytest.approx(2.5 - 0.1 + 0.5)  # the thread's overlapped the phase
    assert sum(v for k, v in rows.items() if k != startup_phases.BESIDE_ROW) == pytest.approx(5.0)


def test_other_work_beside_the_phases_is_a_row_of_its_length_and_takes_no_import():
    rows = rows_with_a_window("init program", 101.0, 101.75)
    row = startup_phases.beside_row("init program")
    assert rows[row] == pytest.approx(0.75)
    assert startup_phases.BESIDE_ROW not in rows
    assert rows["imports: scipy"] == pytest.approx(0.4)  # the main thread's, as without the window
    assert sum(v for k, v in rows.items() if k != row) == pytest.approx(5.0)


def test_a_process_without_marks_is_imports_and_the_rest():
    lines = "\n".join(line for line in STDERR.splitlines() if "initopt-phase" not in line)
    rows = startup_phases.split_stderr(lines, began=99.0, ended=104.0, ecosystem=set())
    assert set(rows) == {"imports: ml_dtypes", ECOSYSTEM_ROW, OURS_ROW, "imports: scipy", UNMARKED}
    assert sum(rows.values()) == pytest.approx(5.0)


def test_summary_takes_medians_and_pools_small_libraries():
    processes = [{"wall_seconds": wall, "cpu_seconds": 2 * wall, "load_before": [1, 1, 1],
                  "load_after": [1, 1, 1],
                  "rows": {ECOSYSTEM_ROW: 1.0, "imports: tiny": 0.001, "imports: big": 0.5,
                           "work": wall - 1.501}} for wall in (3.0, 4.0, 9.0)]
    found = startup_phases.summarize(processes)
    assert list(found["rows"]) == [ECOSYSTEM_ROW, "imports: big", startup_phases.OTHER_IMPORTS, "work"]
    assert found["wall_seconds"] == 4.0 and found["cpu_seconds"] == 8.0
    assert found["beyond_ecosystem_seconds"] == 3.0
    assert found["beyond_ecosystem_import_seconds"] == pytest.approx(0.501)
    assert "outside_training_seconds" not in found  # no training row: the fixed cost is not known


def test_the_fixed_cost_leaves_out_the_training_calls_of_each_process():
    from bench.phases import TRAINING

    processes = [{"wall_seconds": wall, "cpu_seconds": wall, "load_before": [1, 1, 1], "load_after": [1, 1, 1],
                  "rows": {ECOSYSTEM_ROW: 1.0, "work": 1.0, TRAINING: training}}
                 for wall, training in ((3.0, 1.0), (3.5, 0.2), (5.0, 3.0))]
    found = startup_phases.summarize(processes)
    assert found["beyond_ecosystem_seconds"] == 2.5  # 2.0, 2.5, 4.0
    assert found["outside_training_seconds"] == 1.0  # 1.0, 2.3, 1.0: each process's own


def test_the_marks_reach_stderr_only_when_asked():
    code = "from bench.phases import mark; mark('one'); mark('two')"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "INITOPT_PHASES": "1"})
    names = [line.split()[1] for line in loud.stderr.splitlines()]
    assert names == ["one", "two"]


def test_records_compare_on_their_numbers_not_their_seconds():
    a = [{"seed": 0, "final_train_loss": 0.5, "compile_seconds": 1.0}]
    assert startup_phases.same_numbers(a, [{**a[0], "compile_seconds": 2.0}])
    assert not startup_phases.same_numbers(a, [{**a[0], "final_train_loss": 0.5000001}])


def test_each_code_gets_its_bytecode_and_each_process_a_pause(tmp_path, monkeypatch):
    """perf --startup times processes as a user's later runs find them: the suite's sources
    already compiled to bytecode, whatever PYTHONDONTWRITEBYTECODE says, each process started
    on a machine the one before has left."""
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "module.py").write_text("VALUE = 1\n")
    startup_phases.cache_bytecode(str(tmp_path))
    assert list((tmp_path / "bench" / "__pycache__").glob("module.*.pyc"))

    events, compiled = [], []
    monkeypatch.setattr(startup_phases, "ecosystem_modules", lambda: set())
    monkeypatch.setattr(startup_phases, "cache_bytecode", compiled.append)
    monkeypatch.setattr(startup_phases, "settle", lambda: events.append("settle"))
    monkeypatch.setattr(startup_phases, "time_process", lambda command, cwd, ecosystem: events.append("process") or {
        "wall_seconds": 1.0, "cpu_seconds": 1.0, "rows": {ECOSYSTEM_ROW: 0.5}, "load_before": [0, 0, 0],
        "load_after": [0, 0, 0], "records": []})
    found = startup_phases.startup(repeats=2)
    assert len(compiled) == 1 and events == ["settle", "process"] * 2
    assert found["bytecode"] and found["settle_seconds"] == startup_phases.SETTLE_SECONDS


def test_the_cpu_time_the_hypervisor_took_is_read_from_proc_stat_or_left_unsaid(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  8464904 5339 553018 3671861 13304 0 2594 13156 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    assert startup_phases.stolen_seconds(str(stat)) == pytest.approx(13156 / os.sysconf("SC_CLK_TCK"))
    stat.write_text("cpu  1 2 3 4\n")  # a kernel too old to count it
    assert startup_phases.stolen_seconds(str(stat)) is None
    assert startup_phases.stolen_seconds(str(tmp_path / "absent")) is None


def test_the_two_codes_start_up_in_rounds_that_rotate_their_order(monkeypatch):
    import contextlib

    order = []

    @contextlib.contextmanager
    def checkout(revision):
        yield f"/elsewhere/{revision}"

    def time_process(command, cwd, ecosystem):
        order.append(cwd)
        return {"wall_seconds": 3.0, "cpu_seconds": 4.0, "rows": {ECOSYSTEM_ROW: 1.0, "work": 2.0},
                "load_before": [0, 0, 0], "load_after": [0, 0, 0], "records": [{"seed": 0}],
                "stolen_seconds": 0.0}

    monkeypatch.setattr(startup_phases, "checkout", checkout)
    monkeypatch.setattr(startup_phases, "time_process", time_process)
    monkeypatch.setattr(startup_phases, "ecosystem_modules", lambda: set())
    monkeypatch.setattr(startup_phases, "cache_bytecode", lambda root: None)
    monkeypatch.setattr(startup_phases, "settle", lambda: order.append("settle"))
    document = startup_phases.startup(repeats=3, against="REV")
    assert order[::2] == ["settle"] * 6
    assert order[1::2] == [None, "/elsewhere/REV", "/elsewhere/REV", None, None, "/elsewhere/REV"]
    assert document["measured"]["same_numbers"] is True
    assert document["measured"]["revision REV"]["each_wall_seconds"] == [3.0, 3.0, 3.0]
