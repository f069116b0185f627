"""What every figure of the analysis shares: the headless backend, the resolution, names safe in
a file name (`slug`), writing a figure atomically (`save_figure`), and the one place that says
how a method is drawn.

Colours: one per optimizer and one per init, the same in every figure of a run and between runs.
The palette is Okabe and Ito's eight colours (colour-blind safe; Okabe & Ito 2008, "Color
Universal Design"). A built-in method's index is its position in its registry
(`optimizers.registry.OPTIMIZERS`, `inits.registry.STRATEGIES`): index i gets colour i mod 8 and,
past the first eight, a dash pattern of its own (i // 8), so no two built-ins share a look. A
user's method (not in the registry) gets a colour and dash pattern from a hash of its name:
the same name, the same look, in any process. Markers (one per index, cycling over ten) tell
overlapping lines apart where colour alone cannot.

Bands over seeds are percentile bootstrap intervals of the mean (`bootstrap_mean_band`), with a
fixed generator: the same file draws the same picture.
"""
from __future__ import annotations

import functools
import hashlib
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


# Okabe & Ito's palette, black and yellow last (yellow is the faintest on white)
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DASHES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
USER_STYLES = len(OKABE_ITO) * len(DASHES)  # the looks a user's name hashes into
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


@functools.lru_cache(maxsize=None)
def _registry_names(kind: str) -> tuple[str, ...]:
    if kind == "optimizer":
        from optimizers.registry import OPTIMIZERS
        return tuple(OPTIMIZERS)
    from inits.registry import STRATEGIES
    return tuple(STRATEGIES)


def _index(kind: str, name: str) -> int:
    """The method's style index: its registry position, or for a user's method a stable hash of
    its name (sha256, not Python's salted `hash`)."""
    names = _registry_names(kind)
    if name in names:
        return names.index(name)
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % USER_STYLES


def _style(kind: str, name: str) -> dict:
    index = _index(kind, str(name))
    return {"color": OKABE_ITO[index % len(OKABE_ITO)],
            "linestyle": DASHES[(index // len(OKABE_ITO)) % len(DASHES)],
            "marker": MARKERS[index % len(MARKERS)]}


def optimizer_color(name: str) -> str:
    """The optimizer's colour in every figure (hex)."""
    return _style("optimizer", name)["color"]


def init_color(name: str) -> str:
    """The init's colour in every figure (hex)."""
    return _style("init", name)["color"]


def optimizer_style(name: str) -> dict:
    """{"color", "linestyle", "marker"} of the optimizer in every figure."""
    return _style("optimizer", name)


def init_style(name: str) -> dict:
    """{"color", "linestyle", "marker"} of the init in every figure."""
    return _style("init", name)


def mark_every(points: int, line: int, marks: int = 8):
    """`markevery` for a line of `points` points: about `marks` markers, each line's shifted by
    its index so that markers of overlapping lines do not sit on each other."""
    step = max(1, points // marks)
    return (line % step, step)


def bootstrap_mean_band(matrix, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                        confidence: float = CONFIDENCE):
    """(mean, low, high) per column of `matrix` (runs x steps): the mean of the finite values,
    and the percentile bootstrap interval of that mean over resampled runs (rows). A column
    with one finite value has the value as its band; with none, NaN."""
    import numpy as np

    matrix = np.asarray(matrix, dtype=float)
    columns = matrix.shape[1] if matrix.ndim == 2 else 0
    mean, low, high = (np.full(columns, np.nan) for _ in range(3))
    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    for column in range(columns):
        values = matrix[:, column]
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        mean[column] = values.mean()
        if values.size == 1:
            low[column] = high[column] = values[0]
            continue
        means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
        low[column], high[column] = np.percentile(means, [tail, 100 - tail])
    return mean, low, high


def zoomed_limits(values, margin: float = 0.08, least: float = 0.01, ceiling: float | None = None):
    """(low, high) just around the finite `values`: their range widened by `margin` of itself
    (at least `least` in all), the top capped at `ceiling` plus the margin when given (an
    accuracy never needs room above 1). None without a finite value."""
    import numpy as np

    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * margin, (least - (high - low)) / 2 if high - low < least else 0.0, least / 4)
    top = high + pad
    if ceiling is not None:
        top = min(top, ceiling + pad)
    return low - pad, top


def legend_outside(axes, **kwargs):
    """The axes' legend to the right of its data area (never over a line)."""
    kwargs.setdefault("fontsize", 8)
    return axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
