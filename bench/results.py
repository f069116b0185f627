"""Results files: provenance, atomic writes, and reuse of finished programs.

One JSON file per suite run and a CSV of its summary beside it (schema: README, "Results
format"). Files are written to a temporary name in the same folder and renamed into place, so
a reader never sees half a file. A rerun with the same `--out` reuses every program whose own
configuration is unchanged.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Sequence

SCHEMA_VERSION = 1
SUMMARY_COLUMNS = (
    "task", "optimizer", "init", "lr", "n_seeds", "n_diverged", "test_accuracy_mean",
    "test_accuracy_ci95_low", "test_accuracy_ci95_high", "val_accuracy_mean",
    "steps_to_target_median", "reached_fraction", "diverged_fraction", "seconds_per_step", "best_lr")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_path(suite: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join("results", f"{suite}-{stamp}.json")


def _version(package: str) -> str | None:
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


def environment(deterministic: bool = False) -> dict[str, Any]:
    """Versions, backend and devices: what a reader needs to reproduce or compare a run."""
    import jax

    devices = jax.devices()
    return {
        "versions": {"python": platform.python_version(), "initopt": _version("initopt"),
                     **{name: _version(name) for name in ("jax", "jaxlib", "flax", "optax", "numpy")}},
        "platform": platform.platform(),
        "backend": jax.default_backend(),
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


def atomic_write(path: str, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder: whole or not at all."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def summary_csv(summary: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summary:
        low, high = row["test_accuracy_ci95"] or (None, None)
        writer.writerow({**{k: row.get(k) for k in SUMMARY_COLUMNS},
                         "test_accuracy_ci95_low": low, "test_accuracy_ci95_high": high})
    return buffer.getvalue()


def csv_path(json_path: str) -> str:
    return os.path.splitext(json_path)[0] + ".csv"


def write(path: str, results: dict[str, Any]) -> None:
    """The JSON, then the CSV beside it; each appears whole or not at all."""
    atomic_write(path, json.dumps(results, indent=1, allow_nan=False) + "\n")
    atomic_write(csv_path(path), summary_csv(results["summary"]))


def reusable_programs(path: str, program_configs: dict[tuple[str, str], dict[str, Any]]
                      ) -> dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Programs of an earlier file at `path` whose configuration equals this run's.

    Returns (task, optimizer) -> (program meta, run records). A missing or unreadable file, or
    one of another schema, reuses nothing.
    """
    try:
        with open(path, encoding="utf-8") as file:
            earlier = json.load(file)
        programs = earlier["meta"]["programs"]
        runs = earlier["runs"]
        if earlier.get("schema_version") != SCHEMA_VERSION:
            return {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    reusable = {}
    for program in programs:
        key = (program.get("task"), program.get("optimizer"))
        if key in program_configs and program.get("config") == program_configs[key]:
            records = [r for r in runs if (r["task"], r["optimizer"]) == key]
            reusable[key] = (program, records)
    return reusable
