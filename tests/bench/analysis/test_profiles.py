"""Performance profiles across tasks: rho(tau) by hand on a small table of times."""
import numpy as np

from bench.analysis.profiles import profile, profile_table, times_to_target


def _row(task, optimizer, examples, init="he_normal"):
    return {"task": task, "optimizer": optimizer, "init": init, "phase": "evaluation",
            "examples_to_target_median": examples}


def test_rho_counts_tasks_within_tau_of_the_fastest():
    times = {"adam": {"a": 100.0, "b": 300.0, "c": np.inf},
             "sgd": {"a": 200.0, "b": 100.0, "c": 400.0}}
    rho = profile(times, [1.0, 2.0, 3.0, 4.0])
    # a: adam fastest (sgd 2x); b: sgd fastest (adam 3x); c: only sgd reached it
    np.testing.assert_allclose(rho["adam"], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(rho["sgd"], [2 / 3, 1.0, 1.0, 1.0])


def test_a_task_no_method_reached_counts_against_every_method():
    rho = profile({"adam": {"a": 10.0, "b": np.inf}, "sgd": {"a": 20.0, "b": np.inf}}, [4.0])
    assert rho["adam"][0] == 0.5 and rho["sgd"][0] == 0.5


def test_times_come_from_evaluation_rows_and_censored_medians_are_infinite():
    results = {"summary": [_row("a", "adam", 100), _row("a", "sgd", None), _row("b", "adam", 50),
                           _row("b", "sgd", 25), {**_row("a", "adam", 1), "phase": "selection"}]}
    times = times_to_target(results)
    assert times == {"adam": {"a": 100.0, "b": 50.0}, "sgd": {"a": np.inf, "b": 25.0}}
    header, rows = profile_table(results)
    assert header[0] == "method" and rows[0][0] in ("adam", "sgd")
    assert {row[0]: row[-1] for row in rows} == {"adam": "2/2", "sgd": "1/2"}
