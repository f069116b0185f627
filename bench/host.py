"""Splitting the CPU host into one XLA device per core, before JAX starts.

XLA runs one CPU device's small batched matmuls on one thread; two host devices over two
cores ran the same 64-seed vmapped program 2.1x faster on the 2-core development machine.
The flag must be set before the JAX backend starts, hence this module imports nothing heavy.
"""
from __future__ import annotations

import os
import sys

HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"
# Where (host, cores) this module set XLA_FLAGS itself: a job started on another node (SLURM
# exports the owner's environment) computes its own layout instead of inheriting the owner's.
SET_BY = "INITOPT_XLA_FLAGS_SET_FOR"


def split_host_devices(count: int | None = None) -> bool:
    """Ask XLA for `count` (default: one per core) CPU devices; True if the flag was set.

    Leaves XLA_FLAGS alone when the user set it (an XLA_FLAGS this module set for another host
    or another core count is not the user's: it is set again), and does nothing once a JAX
    backend is up.
    """
    if count is None:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    here = f"{_hostname()}:{max(1, int(count or 1))}"
    ours = os.environ.get(SET_BY)
    if os.environ.get("XLA_FLAGS") is not None and (ours is None or ours == here):
        return False
    if "jax" in sys.modules:
        try:
            from jax._src import xla_bridge

            if xla_bridge.backends_are_initialized():
                return False
        except (ImportError, AttributeError):
            return False
    others = [flag for flag in os.environ.get("XLA_FLAGS", "").split()  # kept: --deterministic's
              if not flag.startswith(HOST_DEVICES_FLAG)]
    os.environ["XLA_FLAGS"] = " ".join([f"{HOST_DEVICES_FLAG}={max(1, int(count or 1))}", *others])
    os.environ[SET_BY] = here
    return True


def _hostname() -> str:
    import socket

    return socket.gethostname()


# OpenBLAS's worker threads spin for work 2^OPENBLAS_THREAD_TIMEOUT cycles before they sleep
# (default 2^28). Each library that loads OpenBLAS starts them spinning: SciPy's, imported while
# XLA compiles the train program (bench.imports), spent 0.1 CPU-second of the two cores there
# (`import scipy.linalg`: 0.27 CPU-s in 0.17 s of wall, 0.15 in 0.15 with the shortest wait).
# A BLAS call with threads then wakes them from sleep instead of finding them spinning; the
# statistics of a run call BLAS on arrays of a few hundred numbers at most.
BLAS_SPIN = {"OPENBLAS_THREAD_TIMEOUT": "4"}  # 2^4 cycles: the least OpenBLAS takes
_blas_spin_set_here: list[str] = []


def quiet_blas_threads() -> None:
    """Shorten OpenBLAS's spin wait (BLAS_SPIN) in the libraries loaded from now on, unless the
    user set it: the number of threads, and so what BLAS computes, is unchanged. The command
    line does it (`bench.cli.main`, as the process's entry); importing `bench` does not."""
    for name, value in BLAS_SPIN.items():
        if name not in os.environ:
            os.environ[name] = value
            _blas_spin_set_here.append(name)


def environment_as_the_user_set_it() -> dict[str, str]:
    """This process's environment less what `quiet_blas_threads` put there: what a child that
    stands for another program (an older revision of the suite, a user's script) is started
    with, so that it runs as it would have run alone."""
    return {name: value for name, value in os.environ.items() if name not in _blas_spin_set_here}


def cache_directory() -> str:
    """Per-user folder for JAX's persistent compilation cache ($XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "initopt", "jax")


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache unless the user configured one.

    A repeated `python -m bench` then loads its programs instead of compiling them. Set through
    the environment so that it holds whenever and however JAX is imported afterwards;
    INITOPT_NO_COMPILATION_CACHE=1 turns it off.
    """
    if os.environ.get("INITOPT_NO_COMPILATION_CACHE") == "1":
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", cache_directory())
    # The runner's programs compile in 0.3-3 s on a 2-core CPU; JAX's default threshold (1 s)
    # would skip most of them.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def available_memory_bytes() -> int:
    """Host memory this process can still get: MemAvailable, capped by a cgroup limit if any."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            available = 8 << 30
    try:  # cgroup v2: a container's limit, often far below the machine's RAM
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as limit_file:
            limit = limit_file.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as current_file:
            current = int(current_file.read().strip())
        if limit != "max":
            available = min(available, max(int(limit) - current, 0))
    except (OSError, ValueError):
        pass
    return available


# What to install (or set) for each platform JAX_PLATFORMS may name.
PLATFORM_ADVICE = {
    "cuda": "install JAX for NVIDIA GPUs (pip install -e '.[cuda12]') on a machine with a CUDA driver",
    "gpu": "install JAX for NVIDIA GPUs (pip install -e '.[cuda12]') on a machine with a CUDA driver",
    "rocm": "install JAX for AMD GPUs (jax[rocm], see JAX's installation guide)",
    "tpu": "install JAX for TPUs (pip install -e '.[tpu]') on a TPU VM",
    "cpu": "check the JAX installation (pip install -e .)",
}


def start_jax() -> None:
    """Start JAX's backend now, so that a platform that cannot start is one clear line.

    JAX_PLATFORMS=gpu on a machine without one otherwise ends in a long traceback about
    'rocm'. Raises bench.errors.UsageError naming the platform and what to install or set.
    """
    import jax

    try:
        jax.devices()
    except Exception as error:  # RuntimeError, or a bare AssertionError for 'cuda' without plugin
        from bench.errors import UsageError

        requested = os.environ.get("JAX_PLATFORMS") or os.environ.get("JAX_PLATFORM_NAME") or ""
        names = [name.strip().lower() for name in requested.split(",") if name.strip()]
        unknown = [name for name in names if name not in PLATFORM_ADVICE]
        detail = (str(error).strip().splitlines() or [""])[0].split(" (set JAX_PLATFORMS")[0]
        # JAX's own message may name another platform ('gpu' fails as 'rocm'): keep it only
        # when it speaks of the one asked for.
        detail = f" ({detail})" if any(f"'{name}'" in detail for name in names) else ""
        if unknown:
            advice = (f"'{unknown[0]}' is not a JAX platform (use cpu, cuda/gpu, rocm or tpu), "
                      "or unset JAX_PLATFORMS to let JAX choose")
        elif names:
            advice = "; ".join(dict.fromkeys(PLATFORM_ADVICE[name] for name in names if name != "cpu")
                               ) or PLATFORM_ADVICE["cpu"]
            advice += ", or unset JAX_PLATFORMS to run on the CPU"
        else:
            advice = PLATFORM_ADVICE["cpu"]
        where = f"JAX_PLATFORMS={requested}: " if requested else ""
        raise UsageError(f"{where}JAX cannot start this platform here{detail}; {advice}") from None
