"""Provenance of a results file: when, from which code, with which libraries, on which devices."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Sequence


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def package_version(package: str) -> str | None:
    """The installed version of `package`, or None where it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    """The source tree's commit (with '+dirty' when it has uncommitted changes), if a git checkout."""
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                  text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return revision + ("+dirty" if dirty else "")


def cpu_model() -> str | None:
    """The host CPU's model name ("AMD EPYC 7B13"): float rounding differs between CPUs, so a
    reader comparing two files needs it. None where the platform does not say."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                  text=True, timeout=5, check=True).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or None


def gpu_name(backend: str, devices: Sequence[Any]) -> str | None:
    """The GPU's name as JAX reports it ("NVIDIA H100 80GB HBM3"), or None without a GPU."""
    return devices[0].device_kind if backend == "gpu" and devices else None


def environment(deterministic: bool = False) -> dict[str, Any]:
    """Versions, CPU, backend and devices: what a reader needs to reproduce or compare a run."""
    import jax

    devices = jax.devices()
    backend = jax.default_backend()
    return {
        "versions": {"python": platform.python_version(), "initopt": package_version("initopt"),
                     **{name: package_version(name) for name in ("jax", "jaxlib", "flax", "optax", "numpy")}},
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "gpu_name": gpu_name(backend, devices),
        "backend": backend,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "devices": [str(device) for device in devices],
        "process_count": jax.process_count(),
        "deterministic": deterministic,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def new_meta(suite: str, config: dict[str, Any], argv: Sequence[str] | None,
             deterministic: bool = False) -> dict[str, Any]:
    argv = list(argv if argv is not None else sys.argv)
    return {
        "suite": suite,
        "complete": False,
        "command": " ".join(["python -m bench", *argv[1:]]) if argv and argv[0].endswith(
            ("__main__.py", "bench")) else " ".join(argv),
        "argv": argv,
        "started_at": utc_now(),
        "finished_at": None,
        "wall_seconds": None,
        "git_revision": git_revision(),
        **environment(deterministic),
        "config": config,
        "programs": [],
    }
