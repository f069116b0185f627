"""What every figure of the analysis shares: the headless backend, the resolution, line colours,
names safe in a file name (`slug`), and writing a figure atomically (`save_figure`)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: safe on headless CI and remote GPU hosts

import matplotlib.pyplot as plt  # noqa: E402

from bench.results.files import temporary_beside  # noqa: E402

DPI = 110


def slug(name: str) -> str:
    """`name` as part of a file name: each run of characters other than letters, digits, `_`, `.`
    and `-` becomes one `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def save_figure(figure, path) -> Path:
    """Save via a temporary file in the same folder (a reader never sees half a PNG), then close
    the figure (many figures per report: free each one)."""
    path = Path(path)
    extension = path.suffix.lstrip(".") or "png"
    handle, temporary = temporary_beside(str(path))  # named after `path`: a stale one is found
    os.close(handle)
    try:
        figure.savefig(temporary, format=extension, dpi=DPI, bbox_inches="tight")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        plt.close(figure)
    return path


def line_colors(count: int) -> tuple:
    """Distinct colours: tab10 up to ten lines, tab20 beyond (twelve inits must not share one)."""
    return plt.cm.tab10.colors if count <= 10 else plt.cm.tab20.colors
