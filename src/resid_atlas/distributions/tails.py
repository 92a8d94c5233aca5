"""Tail weight and tail shares of one sample ("Beyond Gaussian", METHODS.md section 1).

The tail exponent, the study's definition (`study_tail_weight`, the default `tail_*` columns):
g * exp(-b * x^a) fitted by `scipy.optimize.curve_fit` in linear density space to the SSE-best
family's pdf at 1,000 points from the FITTED distribution's mean + 2 sd to its mean + 10 sd, with
x the raw activation value (not the distance from the mean), a, b, g >= 0 from the start
(b, a, g) = (1, 1, 1), at most 2,000 evaluations. Where the fitted distribution has no finite mean
or sd (t with df <= 2, ...), the study fits on the fixed raw range 1.5 to 6 instead.

The log-density fit (`log_tail_weight`, the optional `tail_log_*` columns): log g - b x^a by least
squares on log-density, x measured from the SAMPLE mean, a searched in [0.05, 10].

Every fit carries a status; the numbers of a fit that failed are NaN, and a fit that ends on a
parameter bound says so ("on bound: ..."), so no summary reads a bound as a measured exponent.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import curve_fit, minimize_scalar

from resid_atlas.distributions.families import dist, logpdf

K_SHARES = tuple(range(2, 11))
SHARE_COLUMNS = tuple(f"share_{side}_k{k}" for side in ("right", "left") for k in K_SHARES)
STUDY_START = (1.0, 1.0, 1.0)  # (b, a, g), the study's curve_fit start
STUDY_MAXFEV = 2000
FIXED_RANGE = (1.5, 6.0)  # the study's raw x range where the fitted mean or sd is not finite
LOG_A_BOUNDS = (0.05, 10.0)
# A parameter within this of 0 has reached its bound in effect: curve_fit's trust-region method
# keeps iterates strictly inside the bounds, so a fit heading for 0 stops just short of it.
BOUND_TOL = 1e-6


def tail_shares(values: np.ndarray, mean: float, sd: float) -> dict[str, float]:
    """Shares of values above mean + k sd (right) and below mean - k sd (left), k = 2..10, kept
    apart as the study keeps them."""
    x = np.asarray(values)
    out = {}
    for k in K_SHARES:
        out[f"share_right_k{k}"] = float(np.mean(x > mean + k * sd))
        out[f"share_left_k{k}"] = float(np.mean(x < mean - k * sd))
    return out


def nan_shares() -> dict[str, float]:
    return dict.fromkeys(SHARE_COLUMNS, math.nan)


def tail_law(x: np.ndarray, b: float, a: float, g: float) -> np.ndarray:
    """g * exp(-b * x^a), the study's argument order (b, a, g)."""
    return g * np.exp(-b * x**a)


def fitted_range(name: str, params: tuple[float, ...], settings: dict) -> tuple[float, float, str]:
    """(x from, x to, note): the fitted distribution's mean + tail_from_sd sd to mean + tail_to_sd
    sd, or the study's fixed range where its mean or sd is not finite."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        d = dist(name)
        mean, sd = float(d.mean(*params)), float(d.std(*params))
    if not (math.isfinite(mean) and math.isfinite(sd)):
        return *FIXED_RANGE, "fixed range: the fitted mean or sd is not finite"
    return mean + settings["tail_from_sd"] * sd, mean + settings["tail_to_sd"] * sd, ""


def study_tail_weight(name: str, params: tuple[float, ...], settings: dict) -> dict:
    """The study's tail fit on family `name` at `params` (shapes, loc, scale): the columns
    tail_a, tail_b, tail_g, tail_status, tail_x_from, tail_x_to."""
    lo, hi, note = fitted_range(name, params, settings)
    out = {"tail_x_from": lo, "tail_x_to": hi}
    nan = {"tail_a": math.nan, "tail_b": math.nan, "tail_g": math.nan}
    x = np.linspace(lo, hi, settings["tail_points"])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        y = dist(name).pdf(x, *params)
        ok = np.isfinite(y)
        if ok.sum() < 10:
            return {**out, **nan, "tail_status": "failed: pdf not finite in the tail"}
        if not np.any(y[ok] > 0):  # beyond a bounded support: any law fits zeros
            return {**out, **nan, "tail_status": "failed: pdf is 0 over the tail range"}
        try:
            (b, a, g), _ = curve_fit(
                tail_law,
                x[ok],
                y[ok],
                p0=STUDY_START,
                maxfev=STUDY_MAXFEV,
                bounds=([0.0, 0.0, 0.0], [np.inf, np.inf, np.inf]),
            )
        except (RuntimeError, ValueError) as exc:
            why = "no convergence in 2,000 evaluations" if "maxfev" in str(exc) else str(exc)
            return {**out, **nan, "tail_status": f"failed: {why}"[:200]}
    if not all(math.isfinite(v) for v in (a, b, g)):
        return {**out, **nan, "tail_status": "failed: non-finite parameters"}
    status = bound_status(x[ok], y[ok], a, b, g)
    if note:
        status = f"{status}; {note}"
    return {
        **out,
        "tail_a": float(a),
        "tail_b": float(b),
        "tail_g": float(g),
        "tail_status": status,
    }


def bound_status(x: np.ndarray, y: np.ndarray, a: float, b: float, g: float) -> str:
    """ok, or which parameter sits on its lower bound 0 in effect: a (x^a flat), b (the
    exponential flat over the range), g (the law is 0 against the pdf)."""
    on = []
    if a < BOUND_TOL:
        on.append("a = 0")
    with np.errstate(all="ignore"):
        if b * float(np.max(np.abs(x))) ** a < BOUND_TOL:
            on.append("b = 0")
        if g < BOUND_TOL * float(np.max(y)):
            on.append("g = 0")
    return "on bound: " + ", ".join(on) if on else "ok"


def log_tail_weight(
    name: str, params: tuple[float, ...], mean: float, sd: float, settings: dict
) -> dict:
    """The log-density fit: log g - b x^a on `tail_points` points from mean + tail_from_sd sd to
    mean + tail_to_sd sd of the SAMPLE, x measured from the sample mean (activation units). For
    fixed a the model is linear in (log g, b), so a bounded 1-D search over a in LOG_A_BOUNDS
    with closed-form least squares does it. Columns tail_log_a, tail_log_b, tail_log_g,
    tail_log_status."""
    nan = {"tail_log_a": math.nan, "tail_log_b": math.nan, "tail_log_g": math.nan}
    t = np.linspace(
        mean + settings["tail_from_sd"] * sd,
        mean + settings["tail_to_sd"] * sd,
        settings["tail_points"],
    )
    lp = logpdf(name, t, params[:-2], params[-2], params[-1])
    ok = np.isfinite(lp) & (lp > -700)
    if ok.sum() < 10:
        return {**nan, "tail_log_status": "failed: pdf vanishes in the tail"}
    x, y = (t - mean)[ok] / sd, lp[ok]  # fit in sd units, convert b and g after
    log_x, yc = np.log(x), y - y.mean()
    syy = float(yc @ yc)

    def line(a: float) -> tuple[float, float, float]:
        """Least squares of y on (1, -x^a), closed form: (SSE, log g, b)."""
        t = np.exp(a * log_x)
        tc = t - t.mean()
        stt, sty = float(tc @ tc), float(tc @ yc)
        slope = sty / stt if stt > 0 else 0.0
        return syy - slope * sty, float(y.mean() - slope * t.mean()), -slope

    xatol = 1e-4
    res = minimize_scalar(
        lambda a: line(a)[0], bounds=LOG_A_BOUNDS, method="bounded", options={"xatol": xatol}
    )
    a = float(res.x)
    _, log_g, b_sd = line(a)
    # back to activation units: x_sd = x / sd, so b*x_sd^a = (b / sd^a) * x^a; g per unit x
    b = float(b_sd) / sd**a
    g = math.exp(float(log_g)) / sd if log_g < 700 else math.inf
    status = "ok"
    # the bounded search never evaluates the bounds themselves: within a few xatol is on them
    if a <= LOG_A_BOUNDS[0] + 3 * xatol:
        status = f"on bound: a = {LOG_A_BOUNDS[0]}"
    elif a >= LOG_A_BOUNDS[1] - 3 * xatol:
        status = f"on bound: a = {LOG_A_BOUNDS[1]}"
    return {"tail_log_a": a, "tail_log_b": b, "tail_log_g": g, "tail_log_status": status}
