"""initopt's benchmark: tasks, the vmapped runner, metrics, verification and reports.

Importing `bench` splits a CPU host into one XLA device per core (so the runner can shard its
runs axis over the cores), unless the user already set XLA_FLAGS or JAX is already running.
"""
from bench._host import split_host_devices

split_host_devices()
