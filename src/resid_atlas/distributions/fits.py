"""One sample -> one row per candidate family: parameters, log-likelihood, SSE against the
150-bin density histogram (the study's criterion), AIC, BIC, KS, ranks, the tail-weight fit
g*exp(-b*x^a) of the SSE-best family (tails.py) and the shares of values above mean + k*sd and
below mean - k*sd.

`procedure` picks the fit: `binned` (families.py, the default: the binned likelihood, multi-start
L-BFGS-B) or `authors` (authors.py: scipy's `dist.fit` from the study's starting values).

Every row carries a `status`: ok, not converged, support penalty (some values outside the fitted
support at the optimum), failed (the optimiser found no finite likelihood), degenerate sample.
A family that fails never stops the sample; a degenerate sample still yields its 19 rows.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import polars as pl

from resid_atlas.core.config import schema_defaults
from resid_atlas.distributions.authors import authors_fit
from resid_atlas.distributions.families import (
    LOGPDF_FLOOR,
    BinnedSample,
    FitResult,
    dist,
    fit_family,
    logpdf,
    shape_names,
)
from resid_atlas.distributions.outputs import FITS_SETTINGS
from resid_atlas.distributions.tails import (
    SHARE_COLUMNS,
    log_tail_weight,
    nan_shares,
    study_tail_weight,
    tail_shares,
)

log = logging.getLogger(__name__)

POOLED = "(pooled)"  # pair/subject/attribute of the sample that pools every pair of a layer
PERIODIC = ("vonmises",)  # families whose density repeats every 2*pi (scale 1)
PERIODIC_NOTE = (
    "periodic density: the sample spans more than one period (2*pi), so its likelihood is not "
    "one on the real line: no AIC/BIC, ranked by SSE only"
)
FITS_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "procedure": pl.String,
    "pair": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "family": pl.String,
    "status": pl.String,
    "message": pl.String,
    "n_values": pl.Int64,
    "sample_mean": pl.Float64,
    "sample_sd": pl.Float64,
    "shape_names": pl.String,
    "shape1": pl.Float64,
    "shape2": pl.Float64,
    "loc": pl.Float64,
    "scale": pl.Float64,
    "n_params": pl.Int32,
    "loglik": pl.Float64,
    "sse": pl.Float64,
    "aic": pl.Float64,
    "bic": pl.Float64,
    "ks": pl.Float64,
    "rank_sse": pl.Int32,
    "rank_aic": pl.Int32,
    "best_sse": pl.Boolean,
    "best_aic": pl.Boolean,
    "tail_a": pl.Float64,
    "tail_b": pl.Float64,
    "tail_g": pl.Float64,
    "tail_status": pl.String,
    "tail_x_from": pl.Float64,
    "tail_x_to": pl.Float64,
    "tail_log_a": pl.Float64,
    "tail_log_b": pl.Float64,
    "tail_log_g": pl.Float64,
    "tail_log_status": pl.String,
    **dict.fromkeys(SHARE_COLUMNS, pl.Float64),
}
# The schema's defaults of the keys a fit reads (distributions/outputs.py FITS_SETTINGS).
DEFAULTS = {k: schema_defaults("distributions")[k] for k in FITS_SETTINGS}


def _ks(name: str, params, sample: BinnedSample, lp_centres: np.ndarray) -> float:
    """KS distance on the bins: model CDF at each bin mean = CDF(lo) + the pdf integrated by
    trapezoids from lo, against the empirical CDF half-way through that bin. The error is at
    most half the largest bin's mass (bins are 0.01 sd wide: < 0.002); it reuses the
    log-density at the bin means that the support check computed."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        start = float(dist(name).cdf(sample.lo, *params))
    if not math.isfinite(start):
        start = 0.0
    x = np.concatenate([[sample.lo], sample.centres])
    lp_lo = logpdf(name, x[:1], params[:-2], params[-2], params[-1])
    dens = np.exp(np.concatenate([lp_lo, lp_centres]))
    model = np.minimum(start + np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(x)), 1.0)
    # a bin's values straddle its mean, so the empirical CDF there is mid-way through its jump
    ecdf = (np.cumsum(sample.counts) - sample.counts / 2) / sample.n
    return float(np.max(np.abs(model - ecdf)))


def _empty_row(name: str) -> dict:
    return {
        "family": name,
        "shape_names": ",".join(shape_names(name)),
        "shape1": math.nan,
        "shape2": math.nan,
        "loc": math.nan,
        "scale": math.nan,
        "n_params": 0,
        "loglik": math.nan,
        "sse": math.nan,
        "aic": math.nan,
        "bic": math.nan,
        "ks": math.nan,
        "tail_a": math.nan,
        "tail_b": math.nan,
        "tail_g": math.nan,
        "tail_status": "not fitted",
        "tail_x_from": math.nan,
        "tail_x_to": math.nan,
        "tail_log_a": math.nan,
        "tail_log_b": math.nan,
        "tail_log_g": math.nan,
        "tail_log_status": "not fitted",
    }


def describe_sample(values, min_values: int) -> tuple[np.ndarray, dict, str | None]:
    """A sample as float64, its size/mean/sd columns, and why it cannot be analysed (or None).
    A sample is a set: its values are sorted here, so every statistic (sums, the seeded
    subsample of scipy's start, the KDE) is the same whatever the order of the shard's rows."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    mean = float(x.mean()) if n else math.nan
    sd = float(x.std()) if n else math.nan
    base = {"n_values": n, "sample_mean": mean, "sample_sd": sd}
    why = None
    if n < min_values:
        why = f"degenerate sample: {n} values"
    elif not sd > 0:
        why = "degenerate sample: constant values"
    return x, base, why


def fit_sample(
    values: np.ndarray,
    settings: dict | None = None,
    warm: dict[str, tuple[float, ...]] | None = None,
) -> tuple[list[dict], dict[str, FitResult]]:
    """All families on one sample. Returns the rows (without the model/layer/pair keys) and the
    fits (to warm-start other samples of the same layer; `warm` is unused by `authors`)."""
    settings = {**DEFAULTS, **(settings or {})}
    procedure = settings["procedure"]
    values, base, why = describe_sample(values, settings["min_values"])
    base["procedure"] = procedure
    families = settings["families"]
    n, mean, sd = base["n_values"], base["sample_mean"], base["sample_sd"]
    if why:
        shares = tail_shares(values, mean, sd) if n and sd > 0 else nan_shares()
        rows = [
            {**base, **_empty_row(f), **shares, "status": "degenerate sample", "message": why}
            for f in families
        ]
        return _rank(rows, procedure), {}
    sample = BinnedSample.from_values(values, settings["bin_width_sd"])
    shares = tail_shares(values, mean, sd)
    hist, hedges = np.histogram(values, bins=settings["hist_bins"], density=True)
    hcentres = (hedges[:-1] + hedges[1:]) / 2
    rows, fits = [], {}
    for name in families:
        row = {**base, **_empty_row(name), **shares}
        try:
            if procedure == "authors":
                fit = authors_fit(name, values)
            else:
                start = (warm or {}).get(name)
                fit = fit_family(name, sample, warm=start.params if start is not None else None)
        except Exception as exc:  # one family's numerical failure must not stop the sample
            log.warning("fit of %s failed: %s", name, exc)
            rows.append({**row, "status": "failed", "message": f"{type(exc).__name__}: {exc}"})
            continue
        if not math.isfinite(fit.loc):
            rows.append({**row, "status": "failed", "message": fit.message or "no finite fit"})
            continue
        if not math.isfinite(fit.loglik) and procedure == "binned":
            rows.append({**row, "status": "failed", "message": fit.message or "no finite fit"})
            continue
        fits[name] = fit
        params = fit.params
        lp = logpdf(name, sample.centres, fit.shapes, fit.loc, fit.scale)
        outside = int(sample.counts[~(lp > LOGPDF_FLOOR)].sum())
        status = "ok" if fit.converged else "not converged"
        if outside:
            status = "support penalty"
        k = fit.n_params
        pdf_c = np.exp(logpdf(name, hcentres, fit.shapes, fit.loc, fit.scale))
        if settings["tail_log_fit"]:
            row.update(log_tail_weight(name, params, mean, sd, settings))
        # vonmises's density repeats every 2*pi: over a sample wider than one period it is no
        # density on the real line and its likelihood beats every proper family's
        periodic = name in PERIODIC and not (
            sample.lo > fit.loc - math.pi and sample.hi < fit.loc + math.pi
        )
        finite = math.isfinite(fit.loglik)
        row.update(
            status=status,
            message=(f"{outside} values outside the support; " if outside else "")
            + ("" if fit.converged else fit.message)
            + (PERIODIC_NOTE if periodic else ""),
            shape1=fit.shapes[0] if len(fit.shapes) > 0 else math.nan,
            shape2=fit.shapes[1] if len(fit.shapes) > 1 else math.nan,
            loc=fit.loc,
            scale=fit.scale,
            n_params=k,
            loglik=fit.loglik,
            sse=float(np.sum((hist - pdf_c) ** 2)),
            aic=math.nan if periodic or not finite else 2 * k - 2 * fit.loglik,
            bic=math.nan if periodic or not finite else k * math.log(n) - 2 * fit.loglik,
            ks=_ks(name, params, sample, lp),
        )
        rows.append(row)
    rows = _rank(rows, procedure)
    for row in rows:
        if row["best_sse"]:  # the study fits the tail of the SSE-best family only
            try:
                row.update(study_tail_weight(row["family"], fits[row["family"]].params, settings))
            except Exception as exc:  # scipy's moments or pdf raising must not stop the sample
                row["tail_status"] = f"failed: {type(exc).__name__}: {exc}"[:200]
        elif row["family"] in fits:
            row["tail_status"] = "not fitted: not the SSE-best family"
    return rows, fits


def _rank(rows: list[dict], procedure: str = "binned") -> list[dict]:
    """Ranks by SSE and by AIC among rows with a usable fit (status ok or not converged; under
    `authors` also support penalty, as the study ranked every fit scipy returned) and a finite
    value of that criterion."""
    usable_status = ("ok", "not converged")
    if procedure == "authors":
        usable_status += ("support penalty",)
    for key in ("sse", "aic"):
        usable = [
            i for i, r in enumerate(rows) if r["status"] in usable_status and math.isfinite(r[key])
        ]
        order = sorted(usable, key=lambda i, k=key: rows[i][k])
        for r in rows:
            r[f"rank_{key}"] = None
            r[f"best_{key}"] = False
        for rank, i in enumerate(order, start=1):
            rows[i][f"rank_{key}"] = rank
            rows[i][f"best_{key}"] = rank == 1
    return rows


def layer_samples(shard: np.ndarray, index: pl.DataFrame) -> list[tuple[str, str, str, np.ndarray]]:
    """(pair, subject, attribute, values) per pair in sorted order (not the rows' order), then
    the pooled sample of every row."""
    out = []
    pairs = index.select("pair", "subject", "attribute").unique().sort("pair")
    rows = index["row"].to_numpy() if "row" in index.columns else np.arange(index.height)
    for pair, subject, attribute in pairs.iter_rows():
        sel = rows[(index["pair"] == pair).to_numpy()]
        out.append((pair, subject, attribute, shard[sel].ravel()))
    out.append((POOLED, POOLED, POOLED, shard[rows].ravel()))
    return out


def fit_layer(
    shard: np.ndarray, index: pl.DataFrame, model: str, layer: int, settings: dict
) -> pl.DataFrame:
    """Every pair of one layer plus the pooled sample; the pooled fit (multi-start) warm-starts
    the pairs."""
    samples = layer_samples(shard, index)
    pooled = samples[-1]
    pooled_rows, warm = fit_sample(pooled[3], settings)
    out = []
    for pair, subject, attribute, values in samples[:-1]:
        rows, _ = fit_sample(values, settings, warm=warm)
        out += [{**r, "pair": pair, "subject": subject, "attribute": attribute} for r in rows]
    out += [{**r, "pair": POOLED, "subject": POOLED, "attribute": POOLED} for r in pooled_rows]
    for r in out:
        r["model"], r["layer"] = model, layer
    return pl.DataFrame(out, schema=FITS_SCHEMA)


def fits(
    shard: str, index: str, meta: str, model: str, layer: int, settings: dict, out: str
) -> None:
    """Step `distributions fits`: every family fitted to every pair of one layer."""
    import time

    from resid_atlas.activations.shards import load_layer
    from resid_atlas.core.atomic import write_parquet

    values, rows = load_layer(shard, index, meta)
    start = time.perf_counter()
    table = fit_layer(values, rows, model, layer, settings)
    log.info(
        "layer %d: %d rows in %.1f s; statuses %s",
        layer,
        table.height,
        time.perf_counter() - start,
        dict(table["status"].value_counts().iter_rows()),
    )
    write_parquet(table, out)
