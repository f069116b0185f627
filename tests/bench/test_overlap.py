"""bench.overlap: work that waits for the train program's compile, or for its first use."""
import threading

import pytest

from bench import overlap
from bench.overlap import Deferred, beside_next_compile, compiling


@pytest.fixture(autouse=True)
def queue(monkeypatch):
    """The queue of work waiting for a compile: empty, the test's own."""
    waiting = []
    monkeypatch.setattr(overlap, "_waiting", waiting)
    return waiting


def counting(value=None, error=None):
    """A computation that records the threads it ran on, and returns `value` or raises `error`."""
    threads = []

    def compute():
        threads.append(threading.current_thread())
        if error is not None:
            raise error
        return value

    return compute, threads


def test_work_waits_for_the_compile_and_starts_once_in_order():
    started = []
    beside_next_compile(lambda: started.append("a"))
    beside_next_compile(lambda: started.append("b"))
    assert started == []
    compiling()
    compiling()
    assert started == ["a", "b"]


def test_a_deferred_value_is_computed_beside_the_compile_on_another_thread_once():
    compute, threads = counting(value=7)
    deferred = Deferred("probe", compute)
    assert not deferred.started() and threads == []
    compiling()
    assert deferred.started()
    assert deferred.result() == 7 and deferred.result() == 7
    assert len(threads) == 1 and threads[0] is not threading.current_thread()


def test_a_deferred_value_looked_at_before_any_compile_is_computed_by_its_caller_once(queue):
    compute, threads = counting(value="v")
    deferred = Deferred("probe", compute)
    assert deferred.result() == "v"
    assert queue == []  # the queue holds neither it nor its value any more
    compiling()  # finds nothing left to start
    assert deferred.result() == "v"
    assert threads == [threading.current_thread()]


@pytest.mark.parametrize("beside_a_compile", [True, False])
def test_what_the_computation_raises_reaches_the_caller_of_result(beside_a_compile):
    compute, threads = counting(error=ValueError("the user's init broke"))
    deferred = Deferred("probe", compute)
    if beside_a_compile:
        compiling()
    for _ in range(2):  # every look raises it, not only the first
        with pytest.raises(ValueError, match="the user's init broke"):
            deferred.result()
    assert len(threads) == 1
