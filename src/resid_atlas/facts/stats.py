"""Distribution statistics shared by activations, weights and gradients.

- `moments_from_sums`: mean, sd, skew and excess kurtosis from running power sums (what the
  streaming accumulator keeps); equals scipy.stats.skew / kurtosis (biased, Fisher) on the values.
- `fit_families`: maximum-likelihood fits of normal, logistic, Laplace and Student-t
  (scipy.stats `fit`) to a sample, standardised by its own mean and sd first (the optimisers then
  see unit-scale data; AIC differences between families do not depend on that scale), with
  log-likelihood and AIC = 2k - 2 loglik.
- `robust_ks`: Kolmogorov-Smirnov distance of the sample, centred on its median and scaled by
  IQR/1.349, to N(0, 1): how Gaussian the bulk is, whatever the outliers do to the sd.
- `tail_fit`: the tail of a log-density histogram. Over bins with |z| in [lo, hi] and at least
  `min_count` values (both tails pooled), `tail_slope` is the least-squares slope of log density
  against |z| and `tail_exponent` the c of log p = a - b |z|^c (scipy.optimize.curve_fit):
  c = 2 for Gaussian tails, c = 1 for exponential (Laplace, logistic) tails.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

FAMILIES = {"normal": stats.norm, "logistic": stats.logistic, "laplace": stats.laplace}
FAMILIES["t"] = stats.t
N_PARAMS = {"normal": 2, "logistic": 2, "laplace": 2, "t": 3}


def moments_from_sums(n: float, s1: float, s2: float, s3: float, s4: float) -> dict:
    """Central moments of values y (already shifted by any constant) from sum y^k, k = 1..4."""
    if n < 2:
        return {"mean": math.nan, "sd": math.nan, "skew": math.nan, "excess_kurtosis": math.nan}
    m = s1 / n
    e2, e3, e4 = s2 / n, s3 / n, s4 / n
    c2 = e2 - m * m
    c3 = e3 - 3 * m * e2 + 2 * m**3
    c4 = e4 - 4 * m * e3 + 6 * m * m * e2 - 3 * m**4
    if c2 <= 0:
        return {"mean": m, "sd": 0.0, "skew": math.nan, "excess_kurtosis": math.nan}
    return {
        "mean": m,
        "sd": math.sqrt(c2),
        "skew": c3 / c2**1.5,
        "excess_kurtosis": c4 / c2**2 - 3.0,
    }


def describe(values: np.ndarray) -> dict:
    """Exact moments of a whole tensor (weights, gradients), in float64."""
    x = np.asarray(values, dtype=np.float64).ravel()
    mean = float(x.mean())
    y = x - mean
    out = moments_from_sums(
        x.size, float(y.sum()), float((y**2).sum()), float((y**3).sum()), float((y**4).sum())
    )
    out["mean"] = mean
    out["max_abs"] = float(np.abs(x).max())
    out["max_abs_z"] = float(np.abs(y).max() / out["sd"]) if out["sd"] > 0 else math.nan
    return out


def robust_ks(sample: np.ndarray) -> float:
    x = np.asarray(sample, dtype=np.float64)
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    scale = (q3 - q1) / 1.349
    if not scale > 0:
        return math.nan
    return float(stats.kstest((x - median) / scale, "norm").statistic)


def _t_start(z: np.ndarray) -> tuple:
    """Starting point of the t fit (the MLE is the same; Nelder-Mead converges 2-4x sooner):
    degrees of freedom by moments (excess kurtosis 6/(df - 4)), the median, the matching scale."""
    k = float(stats.kurtosis(z))
    df = 4.0 + 6.0 / k if k > 0.05 else 100.0
    return (df,), {"loc": float(np.median(z)), "scale": float(np.sqrt(max(df - 2, 0.5) / df))}


def _fit_t(z: np.ndarray) -> tuple:
    args, kwargs = _t_start(z)
    return stats.t.fit(z, *args, **kwargs)


def fit_families(sample: np.ndarray) -> list[dict]:
    """One row per family: loc, scale, shape (t's degrees of freedom), loglik, AIC, delta_aic,
    is_best, on the sample standardised by its mean and sd."""
    x = np.asarray(sample, dtype=np.float64)
    sd = x.std()
    if x.size < 10 or not sd > 0:
        return []
    z = (x - x.mean()) / sd
    rows = []
    for family, dist in FAMILIES.items():
        params = _fit_t(z) if family == "t" else dist.fit(z)
        loglik = float(np.sum(dist.logpdf(z, *params)))
        shape = float(params[0]) if family == "t" else math.nan
        rows.append(
            {
                "family": family,
                "loc": float(params[-2]),
                "scale": float(params[-1]),
                "shape": shape,
                "n": int(z.size),
                "loglik": loglik,
                "aic": 2 * N_PARAMS[family] - 2 * loglik,
            }
        )
    best = min(r["aic"] for r in rows)
    for r in rows:
        r["delta_aic"] = r["aic"] - best
        r["is_best"] = r["aic"] == best
    return rows


def tail_fit(
    counts: np.ndarray,
    z_edges: np.ndarray,
    lo: float,
    hi: float,
    min_count: int,
    total: float | None = None,
) -> dict:
    """Tail slope and exponent of a histogram whose edges are in sd units (z); `total` counts
    every value, including those outside the edges (default: the histogram's sum)."""
    counts = np.asarray(counts, dtype=np.float64)
    width = np.diff(z_edges)
    centres = 0.5 * (z_edges[:-1] + z_edges[1:])
    total = counts.sum() if total is None else float(total)
    keep = (np.abs(centres) >= lo) & (np.abs(centres) <= hi) & (counts >= min_count)
    out = {"tail_slope": math.nan, "tail_exponent": math.nan, "tail_points": int(keep.sum())}
    if keep.sum() < 4 or total <= 0:
        return out
    r = np.abs(centres[keep])
    logp = np.log(counts[keep] / (total * width[keep]))
    out["tail_slope"] = float(stats.linregress(r, logp).slope)

    def model(r, a, b, c):
        return a - b * r**c

    try:
        (_a, _b, c), _ = optimize.curve_fit(
            model,
            r,
            logp,
            p0=(logp.max(), 1.0, 1.5),
            bounds=([-np.inf, 1e-6, 0.2], [np.inf, np.inf, 4.0]),
            maxfev=5000,
        )
        out["tail_exponent"] = float(c)
    except (RuntimeError, ValueError):
        pass
    return out


def histogram_z(values: np.ndarray, n_bins: int, z_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts over [-z_range, z_range] in sd units of a whole tensor and the z edges."""
    x = np.asarray(values, dtype=np.float64).ravel()
    sd = x.std()
    edges = np.linspace(-z_range, z_range, n_bins + 1)
    if not sd > 0:
        return np.zeros(n_bins), edges
    counts, _ = np.histogram((x - x.mean()) / sd, bins=edges)
    return counts, edges
