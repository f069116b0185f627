"""The data cache: one folder per data set under INITOPT_DATA_DIR, filled atomically.

A file is written under a temporary name in its own folder and renamed into place only when it
is whole (and, for downloads, verified), so a killed process never leaves a file that looks
complete; another process sees either nothing or the finished file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

DATA_DIR_VARIABLE = "INITOPT_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/initopt/data")


def data_dir(name: str = "") -> Path:
    """The cache folder (INITOPT_DATA_DIR, default ~/.cache/initopt/data), or its sub-folder `name`."""
    root = Path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR).expanduser()
    return root / name if name else root


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yields a temporary path next to `path`; renamed to `path` if the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        yield Path(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a cache may be shared
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to `path`, atomically."""
    with atomic_file(path) as temporary:
        with open(temporary, "wb") as file:  # a file object: np.savez would append ".npz" to a name
            np.savez(file, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}
