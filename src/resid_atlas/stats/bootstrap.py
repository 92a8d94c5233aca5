"""Percentile-bootstrap intervals shared by every stage: the median of one sample, a signed sum
of medians of independent samples (a difference, or a difference of differences), and a paired
statistic recomputed on the same resample of units (sentences, pairs) for every quantity."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def median_ci(
    x, n_resamples: int, seed: int, level: float = CONFIDENCE
) -> tuple[float, float, float]:
    """(median, low, high): percentile-bootstrap interval of the median. A sample with one value,
    or only equal values, has the degenerate interval [median, median]; an empty one NaNs."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    med = float(np.median(x))
    if x.size < 2 or np.ptp(x) == 0:
        return med, med, med
    res = stats.bootstrap(
        (x,),
        np.median,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return med, float(res.confidence_interval.low), float(res.confidence_interval.high)


def median_sum_ci(
    samples: Sequence, signs: Sequence[float], n_resamples: int, seed: int, level=CONFIDENCE
) -> tuple[float, float, float]:
    """(value, low, high) of sum_k signs[k] * median(samples[k]), each sample resampled on its
    own (signs [1, -1]: a difference of medians; [1, -1, -1, 1]: a difference of differences).
    Any sample with fewer than 2 values gives NaN bounds; all-constant samples a point interval."""
    samples = [np.asarray(s, dtype=np.float64) for s in samples]

    def stat(*xs, axis=-1):
        return sum(s * np.median(x, axis=axis) for s, x in zip(signs, xs, strict=True))

    value = float(stat(*samples))
    if any(len(s) < 2 for s in samples):
        return value, math.nan, math.nan
    if all(np.ptp(s) == 0 for s in samples):
        return value, value, value
    res = stats.bootstrap(
        tuple(samples),
        stat,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return value, float(res.confidence_interval.low), float(res.confidence_interval.high)


CHUNK = 256  # resamples per block: bounds the [B, n] weight matrices' memory


def resample_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """[n_resamples, n] counts: how often each of n units is drawn in each resample (n draws with
    replacement, rng.integers(0, n, (n_resamples, n)), row by row)."""
    draws = rng.integers(0, n, size=(n_resamples, n))
    counts = np.zeros((n_resamples, n), dtype=np.float64)
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def paired_ci(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_resamples: int,
    seed: int,
    level: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(value, low, high) of a statistic of n paired units. `statistic(weights)` takes a
    [B, n] matrix of unit weights and returns B values; every quantity inside it sees the same
    resample, which is what makes the interval of a difference paired. The value is the
    statistic at unit weights; the bounds are percentiles of the resampled values."""
    if n < 2:
        value = float(statistic(np.ones((1, max(n, 0))))[0]) if n else math.nan
        return value, math.nan, math.nan
    value = float(statistic(np.ones((1, n)))[0])
    rng = np.random.default_rng(seed)
    reps = np.concatenate(
        [
            np.asarray(statistic(resample_counts(n, min(CHUNK, n_resamples - b), rng)), float)
            for b in range(0, n_resamples, CHUNK)
        ]
    )
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return value, math.nan, math.nan
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(reps, [tail, 100 - tail])
    return value, float(low), float(high)
