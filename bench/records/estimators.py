"""The estimators a summary row needs, from scipy: bootstrap intervals of a mean accuracy over
seeds, with and without the test set's own sampling error, and the Kaplan-Meier median of the
steps to target on the evaluation grid.

- `bootstrap_interval(values)`: the 95% percentile bootstrap interval of the mean over seeds
  (`scipy.stats.bootstrap`). It covers "another training run on this test set". Percentile, not
  BCa: the interval over seeds and test examples below has no BCa form, and the two must be
  read side by side (the wider one contains the narrower's resamples). It is never clipped: a bootstrap mean of accuracies lies
  between the smallest and the largest seed, so it stays in [0, 1] by construction, and it is
  as asymmetric as the seeds are (one seed at 0.26 among seven at 0.97 pulls only its lower
  end down). None with fewer than two values; [v, v] when every value is v.
- `task_interval(values, n_test)`: "this method on the task": seeds resampled as above, and
  the test set drawn anew as one binomial draw of `n_test` examples at each resampled mean (the
  test examples are shared by every seed, so their sampling error is common to the seeds, not
  averaged away by them). The percentile interval of that two-level bootstrap.
- Below about eight seeds a bootstrap interval covers less than its nominal 95% (two seeds: it is
  their range); the report says how many seeds each interval has.
- `censored_median(times, horizon)`: the Kaplan-Meier median of the first evaluated step that
  reached the target; `grid_bounds(step, grid)` the evaluation interval (previous step, step]
  the crossing lies in: speed is known only to the evaluation grid.
- `quiet_numerics()` silences scipy's warnings on nearly identical samples.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Sequence

import numpy as np

from bench.imports import LazyModule
from bench.records.values import finite_or_none

scipy_stats = LazyModule("scipy.stats")  # imported at first use (bench.imports)

CONFIDENCE = 0.95
# Resamples of every bootstrap, and its generator's seed: an interval is the same on every
# machine and every rerun (the Monte-Carlo error of a 95% bound at 9999 resamples is well under a
# test example).
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


def finite_values(values) -> np.ndarray:
    """The finite entries of `values` (None, NaN and inf dropped) as a float array."""
    kept = [finite_or_none(value) for value in values]
    return np.array([value for value in kept if value is not None], dtype=float)


def bootstrap_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of the finite `values` (module docstring)."""
    result = _bootstrap(finite_values(values), confidence)
    return None if result is None else result[0]


def task_interval(values, n_test: int | None, confidence: float = CONFIDENCE
                      ) -> tuple[float, float] | None:
    """The two-level bootstrap interval of the mean accuracy over seeds and test examples: seeds
    resampled, then `n_test` test examples drawn as one binomial draw at the resampled mean.
    None with fewer than two values or no `n_test`."""
    sample = finite_values(values)
    if not n_test:
        return None
    result = _bootstrap(sample, confidence)
    if result is None:
        return None
    _, means = result
    rng = np.random.default_rng(BOOTSTRAP_SEED + 1)
    drawn = rng.binomial(int(n_test), np.clip(means, 0.0, 1.0)) / int(n_test)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(drawn, [tail, 1.0 - tail])
    return (float(low), float(high))


def _bootstrap(sample: np.ndarray, confidence: float):
    """(interval, bootstrap distribution of the mean) of `sample`, or None with < 2 values."""
    if sample.size < 2:
        return None
    mean = float(sample.mean())
    if np.all(sample == sample[0]):
        return (mean, mean), np.full(BOOTSTRAP_RESAMPLES, mean)
    with quiet_numerics():
        result = scipy_stats.bootstrap((sample,), np.mean, method="percentile", confidence_level=confidence,
                                       n_resamples=BOOTSTRAP_RESAMPLES, vectorized=True,
                                       rng=np.random.default_rng(BOOTSTRAP_SEED))
    interval = result.confidence_interval
    return ((float(interval.low), float(interval.high)),
            np.asarray(result.bootstrap_distribution, dtype=float))


def mean_ci95(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean of the finite `values`; None with fewer than two. Kept for
    callers of the schema-2 era: summary rows use `bootstrap_interval` (a t interval of bounded,
    bimodal accuracies runs past 1)."""
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
    digit), of degenerate bootstrap distributions, and of undefined interval bounds where a
    survival curve is 0 or 1; the results are still right (handled where they are used), and
    the warnings would only clutter the CLI output."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", getattr(scipy_stats, "DegenerateDataWarning", RuntimeWarning))
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


def grid_bounds(median: float | None, grid: Sequence[int]) -> tuple[float, float] | None:
    """The evaluation interval (low, high] that a median on the evaluation `grid` stands for.

    A crossing first seen at evaluated step t happened after the evaluation before it: in
    (previous step, t] ((0, t] at the first evaluation). A median that is the midpoint of two
    evaluated steps t1 < t2 stands for (step before t1, t2]. None for no median.
    """
    if median is None:
        return None
    steps = sorted({int(step) for step in grid})
    if not steps:
        return None
    below = [step for step in steps if step <= median]
    above = [step for step in steps if step >= median]
    low_step = below[-1] if below else steps[0]
    high_step = above[0] if above else steps[-1]
    return (float(previous_step(low_step, steps)), float(high_step))


def previous_step(step: float, grid: Sequence[int]) -> float:
    """The evaluated step before `step` on `grid` (0 before the first)."""
    earlier = [point for point in grid if point < step]
    return float(max(earlier)) if earlier else 0.0
