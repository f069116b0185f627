"""Resolving a run's configuration works from shapes alone."""
import jax

from bench.suite.config import resolve
from bench.tools.perf.measure import compile_counter


def test_resolving_a_configuration_compiles_no_program():
    """Which inits apply to a task is decided from shapes (`applicable_inits`): resolving
    compiles nothing. A concrete key and batch there once compiled two small programs, the
    key's seeding and the batch's transfer, at every run's start."""
    jax.clear_caches()  # an earlier test's compiles would otherwise hide this one's
    with compile_counter() as counter:
        config = resolve("default", task="digits-mlp", optimizers="adam", inits="he_normal,lsuv")
    assert config.optimizers == ["adam"] and config.inits == ["he_normal", "lsuv"]
    assert counter.by_name == {} and counter.cache_hits == 0
