"""The two estimators a summary row needs, from scipy: the t interval of a mean accuracy over
seeds (`mean_ci95`) and the Kaplan-Meier median of the steps to target, with its interval, where
a seed that never reached the target is censored at the end of training (`censored_median`).

- `mean_ci95(values)` is the two-sided 95% Student-t interval of the mean. With fewer than two
  values there is no spread to estimate, so it returns None (JSON null), never [mean, mean].
  Identical values give [mean, mean].
- `quiet_numerics()` silences scipy's warnings on nearly identical samples, here and in
  `bench.analysis.stats`.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats

from bench.records.values import finite_or_none

CONFIDENCE = 0.95


def finite_values(values) -> np.ndarray:
    """The finite entries of `values` (None, NaN and inf dropped) as a float array."""
    kept = [finite_or_none(value) for value in values]
    return np.array([value for value in kept if value is not None], dtype=float)


def mean_ci95(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean of the finite `values`; None with fewer than two."""
    sample = finite_values(values)
    if sample.size < 2:
        return None
    mean = float(sample.mean())
    standard_error = float(scipy_stats.sem(sample))
    if standard_error == 0.0:
        return (mean, mean)
    low, high = scipy_stats.t.interval(confidence, sample.size - 1, loc=mean, scale=standard_error)
    return (float(low), float(high))


@contextlib.contextmanager
def quiet_numerics():
    """scipy warns of precision loss on nearly identical samples (seeds that agree to the last
    digit) and of undefined interval bounds where a survival curve is 0 or 1; the results are
    still right (handled below), and the warnings would only clutter the CLI output."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- censored speed -----------------------------------------------------------------------------

def censored_median(times: Sequence[int | None], horizon: float, confidence: float = CONFIDENCE
                    ) -> tuple[float | None, tuple[float, float | None] | None]:
    """Kaplan-Meier median of the time to an event, and its confidence interval.

    `times[i]` is when seed i reached the target, or None when it never did (or failed): that
    seed is right-censored at `horizon`, the end of training. The estimate is
    `scipy.stats.ecdf` on `scipy.stats.CensoredData`; with every censoring at the end it equals
    the sample median with "never" counted as +infinity: None when half or more never reached
    it. Where the curve sits exactly at 1/2 between two reaching times, the median is their
    midpoint (as for an ordinary median).

    The interval inverts the ecdf's pointwise confidence band (`confidence_interval`, log-log):
    from where its upper bound first reaches 1/2 (the end of training, `horizon`, if it never
    does: the median lies beyond training) to where its lower bound does, or None for the upper
    end when that never happens within training (unbounded). None when no seed reached the target.
    """
    reached = [float(time) for time in times if time is not None]
    if not reached:
        return None, None
    censored = [float(horizon)] * (len(times) - len(reached))
    with quiet_numerics():
        result = scipy_stats.ecdf(scipy_stats.CensoredData(uncensored=reached, right=censored))
        band = result.cdf.confidence_interval(confidence, method="log-log")
    quantiles, probabilities = result.cdf.quantiles, result.cdf.probabilities
    # The log-log band is undefined where the curve reaches 1 (every seed reached the target, so
    # none was censored): there the curve is a plain proportion n/n, whose exact (Clopper-Pearson)
    # interval is [(alpha/2)^(1/n), 1]: one seed proves little, eight a lot.
    everyone = scipy_stats.binomtest(len(times), len(times)).proportion_ci(confidence, method="exact")
    low_band = np.where(np.isfinite(band.low.probabilities), band.low.probabilities, everyone.low)
    high_band = np.where(np.isfinite(band.high.probabilities), band.high.probabilities, 1.0)
    low = _first_at_half(quantiles, high_band)
    return _median(quantiles, probabilities), (float(horizon) if low is None else low,
                                               _first_at_half(quantiles, low_band))


_HALF_TOLERANCE = 1e-9  # Kaplan-Meier products of k/n land on 1/2 only up to rounding


def _first_at_half(quantiles: np.ndarray, probabilities: np.ndarray) -> float | None:
    index = _index_at_half(probabilities)
    return None if index is None else float(quantiles[index])


def _index_at_half(probabilities: np.ndarray) -> int | None:
    at_half = np.flatnonzero(probabilities >= 0.5 - _HALF_TOLERANCE)
    return int(at_half[0]) if at_half.size else None


def _median(quantiles: np.ndarray, probabilities: np.ndarray) -> float | None:
    index = _index_at_half(probabilities)
    if index is None:
        return None
    if probabilities[index] > 0.5 + _HALF_TOLERANCE:
        return float(quantiles[index])
    # exactly 1/2 from here: the midpoint with the next time the curve rises; none -> censored
    rises = np.flatnonzero(probabilities[index + 1:] > probabilities[index] + _HALF_TOLERANCE)
    return None if not rises.size else float((quantiles[index] + quantiles[index + 1 + rises[0]]) / 2)
