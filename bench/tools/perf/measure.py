"""How perf measures: compile counts, the machine's matmul rate, process start-up, and whole
processes timed from outside."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bench.host import environment_as_the_user_set_it
from bench.sharding import runs_mesh, runs_sharding

MATMUL_SIZE = 2048
# the function names of the training programs: the runner's and the lean loops'
TRAIN_PROGRAMS = ("jit(train)", "jit(lean_train)", "jit(lean_train_vmap)")


class CompileCounter:
    """Counts XLA compiles by function name (a persistent-cache hit counts too) while active.

    `compiles` counts only the training programs: small eager ops (gathers, key splits) compile
    as well but are not "the program".
    """

    def __init__(self):
        self.by_name: dict[str, int] = {}
        self.cache_hits = 0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)
        jax.monitoring.register_event_listener(self._on_event)

    @property
    def compiles(self) -> int:
        return sum(self.by_name.get(name, 0) for name in TRAIN_PROGRAMS)

    def _on_duration(self, event: str, seconds: float, fun_name: str = "", **_):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.by_name[fun_name] = self.by_name.get(fun_name, 0) + 1

    def _on_event(self, event: str, **_):
        if self.active and event == "/jax/compilation_cache/cache_hits":
            self.cache_hits += 1

    def __enter__(self):
        self.by_name, self.cache_hits = {}, 0
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


_COUNTER: CompileCounter | None = None


def compile_counter() -> CompileCounter:
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = CompileCounter()
    return _COUNTER


def matmul_gflops(size: int = MATMUL_SIZE, repeats: int = 10) -> float:
    """A jitted size x size f32 matmul, one per device at once over every device; GFLOP/s."""
    mesh = runs_mesh()
    n = mesh.devices.size
    sharding = runs_sharding(mesh)
    a = jax.device_put(jax.random.normal(jax.random.key(0), (n, size, size), jnp.float32), sharding)
    b = jax.device_put(jax.random.normal(jax.random.key(1), (n, size, size), jnp.float32), sharding)
    matmul = jax.jit(lambda a, b: a @ b, out_shardings=sharding)
    jax.block_until_ready(matmul(a, b))
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(matmul(a, b))
        times.append(time.perf_counter() - began)
    return n * 2 * size ** 3 / float(np.median(times)) / 1e9


def process_seconds() -> float | None:
    """Seconds since this process started (Linux), i.e. start-up and imports so far."""
    try:
        with open("/proc/self/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return up - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed_process(command: Sequence[str], env: dict[str, str] | None = None,
                  stdout_json: bool = False, cwd: str | None = None) -> dict[str, Any]:
    """Run `command` in a fresh process (in `cwd`); {"wall_seconds", ...its JSON on stdout} or
    {"error"}."""
    began = time.perf_counter()
    done = subprocess.run(list(command), env={**environment_as_the_user_set_it(), **(env or {})},
                          capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        return {"command": " ".join(command), "error": done.stderr[-2000:]}
    found = {"command": " ".join(command), "wall_seconds": round(wall, 3)}
    if stdout_json:
        found.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return found


def runner_process(workload, seeds: int, env: dict[str, str] | None = None,
                   cwd: str | None = None) -> dict[str, Any]:
    """`python -m bench run` for the workload in a fresh process with an empty compile cache
    (`cwd`: a checkout of another revision, whose `bench` it then runs)."""
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run.json")
        command = [sys.executable, "-m", "bench", "run", "--task", workload.task_spec or workload.task.name,
                   "--optimizers", workload.optimizer, "--inits", "he_normal", "--seeds", str(seeds),
                   "--lrs", repr(workload.lr), "--steps", str(workload.steps), "--eval-every",
                   str(workload.eval_every), "--no-plots", "--quiet", "--out", out]
        found = timed_process(command, {"JAX_COMPILATION_CACHE_DIR": os.path.join(folder, "cache"),
                                        **(env or {})}, cwd=cwd)
        if "error" not in found:
            program = json.load(open(out))["meta"]["programs"][-1]
            found.update(compile_seconds=program["compile_seconds"], run_seconds=program["run_seconds"])
        found["command"] = "python " + " ".join(command[1:-2])
    return found


def lean_process(workload, seeds: int, evaluate: bool = False) -> dict[str, Any]:
    """The lean loop as a user's script: a fresh process, JAX's defaults (one CPU device, no
    compile cache), its own timings on stdout."""
    command = [sys.executable, "-m", "bench.tools.perf.lean", "--task", workload.task_spec or workload.task.name,
               "--optimizer", workload.optimizer, "--lr", repr(workload.lr), "--seeds", str(seeds),
               "--steps", str(workload.steps)]
    if evaluate:
        command += ["--eval-every", str(workload.eval_every)]
    # XLA_FLAGS set (to nothing) keeps `import bench` from splitting the host into devices
    found = timed_process(command, {"XLA_FLAGS": "", "INITOPT_NO_COMPILATION_CACHE": "1"},
                         stdout_json=True)
    found["command"] = "python " + " ".join(command[1:])
    return found
