"""initopt's benchmark: tasks, the vmapped runner, suites, results files, analysis and tools.

Importing `bench` splits a CPU host into one XLA device per core (so the runner can shard its
runs axis over the cores), unless the user already set XLA_FLAGS or JAX is already running,
and turns on JAX's persistent compilation cache (in ~/.cache/initopt/jax) unless the user
configured one.
The Python API: `bench.run(suite="default", out=None, **overrides) -> results dict`.
"""
from bench.host import enable_compilation_cache, split_host_devices

split_host_devices()
enable_compilation_cache()


def __getattr__(name):
    # Lazy, so that `python -m bench --help` does not wait for JAX to import.
    if name == "run":
        from bench.suite.execute import run

        return run
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
