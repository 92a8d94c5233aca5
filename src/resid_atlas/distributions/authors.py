"""The authors' fitting procedure ("Beyond Gaussian", METHODS.md section 1): scipy's `dist.fit`
on the raw values, started from the study's guesses where the study has one.

The study guesses for five of the 19 families, from the sample's `scipy.stats.describe` moments
(variance with ddof 1, biased skewness, Fisher kurtosis), its median and inter-quartile range:
  norm         loc = mean, scale = sd (scipy's closed form ignores them)
  logistic     loc = median, scale = IQR / (2 ln 3)
  genlogistic  c = 1 + |skew|, loc = median, scale = IQR / (2 ln 3)
  t            df = clip(6 / (kurtosis / 4 + 1), 2.1, 30), loc = median,
               scale = sd * sqrt((df - 2) / df)
  crystalball  beta = 1, m = clip(|skew|, 0.1, 3), loc = median, scale = max(0.1, sd)
Every other family starts from scipy's own `_fitstart` (`dist.fit(values)`). The study's guess
table also names hypsecant, misspelt, so hypsecant starts from scipy's default too; and its
crystalball guess m <= 1 lies outside crystalball's domain (m > 1), so that fit fails whenever
|skew| <= 1, as it did in the study. No iteration limit or tolerance is changed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.stats as st

from resid_atlas.distributions.families import FitResult, dist, exact_loglik

PROCEDURES = ("binned", "authors")


def study_start(name: str, values: np.ndarray) -> tuple[float, ...] | None:
    """The study's starting (shapes..., loc, scale) for family `name`, or None (scipy's own)."""
    if name not in ("norm", "logistic", "genlogistic", "t", "crystalball"):
        return None
    d = st.describe(values)
    sd = math.sqrt(float(d.variance))
    skew, kurt = float(d.skewness), float(d.kurtosis)
    q75, median, q25 = (float(q) for q in np.percentile(values, [75, 50, 25]))
    logistic_scale = (q75 - q25) / (2 * math.log(3))
    if name == "norm":
        return float(d.mean), sd
    if name == "logistic":
        return median, logistic_scale
    if name == "genlogistic":
        return 1.0 + abs(skew), median, logistic_scale
    if name == "t":
        df = max(2.1, min(30.0, 6 / (kurt / 4 + 1)))
        return df, median, sd * math.sqrt((df - 2) / df)
    return 1.0, max(0.1, min(abs(skew), 3.0)), median, max(0.1, sd)  # crystalball


def authors_fit(name: str, values: np.ndarray) -> FitResult:
    """scipy's `dist.fit` from the study's start; the log-likelihood is exact (raw values).
    scipy reports no convergence, so a fit that returns counts as converged; one that raises
    returns NaN parameters and the exception as the message."""
    x = np.asarray(values, dtype=np.float64).ravel()
    start = study_start(name, x)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            if start is None:
                params = dist(name).fit(x)
            else:
                params = dist(name).fit(x, *start[:-2], loc=start[-2], scale=start[-1])
        except Exception as exc:  # scipy raises many types (FitError, ValueError, ...)
            return FitResult(name, (), math.nan, math.nan, math.nan, False, f"{exc}"[:200])
        params = tuple(float(p) for p in params)
        ll = exact_loglik(name, x, params)
    return FitResult(name, params[:-2], params[-2], params[-1], ll, True, "")
