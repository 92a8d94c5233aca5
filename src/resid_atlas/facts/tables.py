"""The facts tables: explicit schemas and the functions that fill them from finished layer
streams, weight pieces and gradient pieces. docs/facts.md describes every column."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import polars as pl
import torch

from resid_atlas.facts.passes import layer_hook
from resid_atlas.facts.spectra import (
    covariance_eigenvalues,
    effective_rank,
    power_law,
    singular_values,
)
from resid_atlas.facts.stats import describe, fit_families, histogram_z, robust_ks, tail_fit
from resid_atlas.facts.streaming import bucket_label
from resid_atlas.models.matrices import Piece

ACTIVATION_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "hook": pl.String,
    "n_tokens": pl.Int64,
    "n_values": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "skew": pl.Float64,
    "excess_kurtosis": pl.Float64,
    "max_abs": pl.Float64,
    "max_abs_z": pl.Float64,
    "ks_normal_robust": pl.Float64,
    "tail_slope": pl.Float64,
    "tail_exponent": pl.Float64,
    "tail_points": pl.Int32,
    "best_fit": pl.String,
    "t_df": pl.Float64,
    "resid_norm_mean": pl.Float64,
    "resid_norm_sd": pl.Float64,
    "n_outlier_dims": pl.Int32,
    "calib_centre": pl.Float64,
    "calib_sd": pl.Float64,
    "hist_underflow": pl.Int64,
    "hist_overflow": pl.Int64,
    "n_sample": pl.Int64,
    "status": pl.String,
}
MATRIX_SCHEMA = {
    "model": pl.String,
    "source": pl.String,  # weight | gradient
    "name": pl.String,
    "param": pl.String,
    "layer": pl.Int32,
    "role": pl.String,
    "group": pl.String,  # reading | writing | other
    "kind": pl.String,  # weight | bias | norm
    "rows": pl.Int64,
    "cols": pl.Int64,
    "n_values": pl.Int64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "skew": pl.Float64,
    "excess_kurtosis": pl.Float64,
    "max_abs": pl.Float64,
    "max_abs_z": pl.Float64,
    "frobenius": pl.Float64,
    "ks_normal_robust": pl.Float64,
    "tail_slope": pl.Float64,
    "tail_exponent": pl.Float64,
    "best_fit": pl.String,
    "t_df": pl.Float64,
    "status": pl.String,  # ok | constant
}
FIT_SCHEMA = {
    "model": pl.String,
    "source": pl.String,  # activation | weight | gradient
    "name": pl.String,
    "layer": pl.Int32,
    "role": pl.String,
    "family": pl.String,
    "loc": pl.Float64,
    "scale": pl.Float64,
    "shape": pl.Float64,
    "n": pl.Int64,
    "loglik": pl.Float64,
    "aic": pl.Float64,
    "delta_aic": pl.Float64,
    "is_best": pl.Boolean,
}
HISTOGRAM_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "z": pl.Float64,
    "count": pl.Float64,
    "density": pl.Float64,
}
OUTLIER_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "dim": pl.Int32,
    "share": pl.Float64,
    "share_first": pl.Float64,
    "dim_mean": pl.Float64,
    "dim_sd": pl.Float64,
    "is_outlier": pl.Boolean,
}
JACCARD_SCHEMA = {
    "model": pl.String,
    "axis": pl.String,  # layer | position
    "layer": pl.Int32,
    "a": pl.String,
    "b": pl.String,
    "size_a": pl.Int32,
    "size_b": pl.Int32,
    "jaccard": pl.Float64,
}
MASSIVE_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "rank": pl.Int32,
    "value": pl.Float64,
    "abs_value": pl.Float64,
    "ratio_to_typical": pl.Float64,
    "dim": pl.Int32,
    "position": pl.Int32,
    "id": pl.String,
    "token": pl.String,
}
SPECTRUM_SCHEMA = {
    "model": pl.String,
    "source": pl.String,  # weight-sv | activation-cov | embedding-cov
    "name": pl.String,
    "layer": pl.Int32,
    "role": pl.String,
    "rank": pl.Int32,
    "value": pl.Float64,
}
POWERLAW_SCHEMA = {
    "model": pl.String,
    "source": pl.String,
    "name": pl.String,
    "layer": pl.Int32,
    "role": pl.String,
    "n": pl.Int32,
    "rank_lo": pl.Int32,
    "rank_hi": pl.Int32,
    "alpha": pl.Float64,
    "intercept": pl.Float64,
    "r2": pl.Float64,
    "effective_rank": pl.Float64,
}
GROWTH_SCHEMA = {
    "model": pl.String,
    "quantity": pl.String,
    "rate": pl.Float64,  # fitted factor per layer: exp(slope of log value on layer)
    "r2": pl.Float64,
    "first_layer": pl.Int32,
    "last_layer": pl.Int32,
    "value_first": pl.Float64,
    "value_last": pl.Float64,
}
NORM_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "role": pl.String,
    "group": pl.String,
    "frobenius": pl.Float64,
}


def frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _fit_summary(fits: list[dict]) -> tuple[str, float]:
    best = next((f["family"] for f in fits if f["is_best"]), "")
    t_df = next((f["shape"] for f in fits if f["family"] == "t"), math.nan)
    return best, t_df


def activation_tables(model: str, finished: dict[int, dict], settings: dict) -> dict:
    """Per-layer statistics, fits, histograms, outlier dimensions and covariance spectra."""
    stats_rows, fit_rows, hist_rows, outlier_rows, spec_rows, law_rows = [], [], [], [], [], []
    outlier_sets: dict[int, set] = {}
    bucket_sets: dict[int, dict[int, set]] = {}
    lo, hi = settings["tail_range"]
    n_buckets = settings["position_buckets"]
    for layer, f in sorted(finished.items()):
        if f["n_tokens"] == 0:
            stats_rows.append(
                {"model": model, "layer": layer, "hook": layer_hook(layer), "n_tokens": 0}
                | {"n_values": 0, "status": "no tokens"}
            )
            continue
        sample = f["sample"][: settings["fit_sample"]]
        fits = fit_families(sample)
        best, t_df = _fit_summary(fits)
        for row in fits:
            fit_rows.append(
                {"model": model, "source": "activation", "name": layer_hook(layer)}
                | {"layer": layer, "role": "residual", **row}
            )
        total = f["n_values"]
        tail = tail_fit(
            f["hist_counts"], f["hist_z_edges"], lo, hi, settings["tail_min_count"], total
        )
        edges = f["hist_z_edges"]
        centres = 0.5 * (edges[:-1] + edges[1:])
        widths = np.diff(edges)
        for z, c, w in zip(centres, f["hist_counts"], widths, strict=True):
            if c > 0:
                hist_rows.append(
                    {"model": model, "layer": layer, "z": z, "count": c, "density": c / (total * w)}
                )
        # outlier dimensions: the share of counted tokens (buckets >= first) above k s0
        exceed, tokens = f["exceed"], f["bucket_tokens"]
        first = 1 if settings["skip_first"] else 0
        share = exceed[first:].sum(0) / max(tokens[first:].sum(), 1)
        share_first = exceed[0] / tokens[0] if tokens[0] > 0 else np.full(exceed.shape[1], np.nan)
        is_out = share >= settings["outlier_share"]
        outlier_sets[layer] = set(np.flatnonzero(is_out).tolist())
        bucket_sets[layer] = {
            b: set(np.flatnonzero(exceed[b] / tokens[b] >= settings["outlier_share"]).tolist())
            for b in range(n_buckets)
            if tokens[b] >= settings["min_bucket_tokens"]
        }
        dim_sd = np.sqrt(np.clip(np.diag(f["covariance"]), 0, None))
        for dim in range(exceed.shape[1]):
            outlier_rows.append(
                {
                    "model": model,
                    "layer": layer,
                    "dim": dim,
                    "share": float(share[dim]),
                    "share_first": float(share_first[dim]),
                    "dim_mean": float(f["dim_mean"][dim]),
                    "dim_sd": float(dim_sd[dim]),
                    "is_outlier": bool(is_out[dim]),
                }
            )
        eig = covariance_eigenvalues(f["covariance"])
        source = "embedding-cov" if layer < 0 else "activation-cov"
        spec_rows += _spectrum_rows(model, source, layer_hook(layer), layer, "residual", eig)
        law = power_law(eig, settings["powerlaw_ranks"])
        law_rows.append(
            {"model": model, "source": source, "name": layer_hook(layer), "layer": layer}
            | {"role": "residual", **law, "effective_rank": effective_rank(eig)}
        )
        stats_rows.append(
            {
                "model": model,
                "layer": layer,
                "hook": layer_hook(layer),
                "n_tokens": f["n_tokens"],
                "n_values": f["n_values"],
                **{k: f[k] for k in ("mean", "sd", "skew", "excess_kurtosis")},
                "max_abs": f["max_abs"],
                "max_abs_z": f["max_abs_z"],
                "ks_normal_robust": robust_ks(sample) if sample.size > 10 else math.nan,
                **tail,
                "best_fit": best,
                "t_df": t_df,
                "resid_norm_mean": f["norm_mean"],
                "resid_norm_sd": f["norm_sd"],
                "n_outlier_dims": int(is_out.sum()),
                "calib_centre": f["calib_centre"],
                "calib_sd": f["calib_sd"],
                "hist_underflow": f["hist_underflow"],
                "hist_overflow": f["hist_overflow"],
                "n_sample": int(sample.size),
                "status": "ok",
            }
        )
    jaccard_rows = _jaccard_rows(model, outlier_sets, bucket_sets, n_buckets)
    return {
        "activations": frame(stats_rows, ACTIVATION_SCHEMA),
        "fits": fit_rows,
        "histograms": frame(hist_rows, HISTOGRAM_SCHEMA),
        "outlier_dims": frame(outlier_rows, OUTLIER_SCHEMA),
        "outlier_jaccard": frame(jaccard_rows, JACCARD_SCHEMA),
        "spectra": spec_rows,
        "powerlaw": law_rows,
    }


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|; NaN when both are empty (nothing to compare)."""
    union = a | b
    return len(a & b) / len(union) if union else math.nan


def _jaccard_rows(model, outlier_sets, bucket_sets, n_buckets) -> list[dict]:
    rows = []
    for a, b in combinations(sorted(outlier_sets), 2):
        sa, sb = outlier_sets[a], outlier_sets[b]
        rows.append(
            {"model": model, "axis": "layer", "layer": None, "a": str(a), "b": str(b)}
            | {"size_a": len(sa), "size_b": len(sb), "jaccard": jaccard(sa, sb)}
        )
    for layer, sets in sorted(bucket_sets.items()):
        whole = outlier_sets[layer]
        for bucket, s in sorted(sets.items()):
            rows.append(
                {"model": model, "axis": "position", "layer": layer}
                | {"a": f"positions {bucket_label(bucket, n_buckets)}", "b": "all counted"}
                | {"size_a": len(s), "size_b": len(whole), "jaccard": jaccard(s, whole)}
            )
    return rows


def massive_table(
    model: str, finished: dict[int, dict], ids: list[list[int]], sentence_ids: list[str], tokenizer
) -> pl.DataFrame:
    rows = []
    for layer, f in sorted(finished.items()):
        if f["n_tokens"] == 0:
            continue
        typical = float(np.median(np.abs(f["sample"]))) if f["sample"].size else math.nan
        for rank, (abs_v, value, row, pos, dim) in enumerate(f["top"]):
            rows.append(
                {
                    "model": model,
                    "layer": layer,
                    "rank": rank,
                    "value": value,
                    "abs_value": abs_v,
                    "ratio_to_typical": abs_v / typical if typical > 0 else math.nan,
                    "dim": dim,
                    "position": pos,
                    "id": sentence_ids[row],
                    "token": tokenizer.decode([ids[row][pos]]),
                }
            )
    return frame(rows, MASSIVE_SCHEMA)


def _spectrum_rows(model, source, name, layer, role, values) -> list[dict]:
    return [
        {"model": model, "source": source, "name": name, "layer": layer, "role": role}
        | {"rank": i + 1, "value": float(v)}
        for i, v in enumerate(values)
    ]


def matrix_tables(
    model: str,
    source: str,
    items: list[tuple[Piece, torch.Tensor]],
    settings: dict,
    rng: np.random.Generator,
    spectra: bool,
) -> dict:
    """Statistics and fits of every piece (weights or gradients); singular-value spectra of the
    2-D pieces when `spectra`."""
    rows, fit_rows, spec_rows, law_rows = [], [], [], []
    lo, hi = settings["tail_range"]
    for piece, tensor in items:
        values = tensor.detach().float().cpu().numpy().ravel()
        d = describe(values)
        shape = tuple(tensor.shape)
        status = "ok" if d["sd"] > 0 else "constant"
        best, t_df, ks = "", math.nan, math.nan
        tail = {"tail_slope": math.nan, "tail_exponent": math.nan}
        if status == "ok":
            n = min(settings["matrix_fit_sample"], values.size)
            sample = values[rng.choice(values.size, size=n, replace=False)]
            fits = fit_families(sample)
            best, t_df = _fit_summary(fits)
            ks = robust_ks(sample)
            for row in fits:
                fit_rows.append(
                    {"model": model, "source": source, "name": piece.name, "layer": piece.layer}
                    | {"role": piece.role, **row}
                )
            counts, edges = histogram_z(values, settings["hist_bins"], settings["hist_range"])
            tail = tail_fit(counts, edges, lo, hi, settings["tail_min_count"], values.size)
        rows.append(
            {
                "model": model,
                "source": source,
                "name": piece.name,
                "param": piece.param,
                "layer": piece.layer,
                "role": piece.role,
                "group": piece.group,
                "kind": piece.kind,
                "rows": shape[0],
                "cols": shape[1] if len(shape) > 1 else 1,
                "n_values": values.size,
                **{k: d[k] for k in ("mean", "sd", "skew", "excess_kurtosis")},
                "max_abs": d["max_abs"],
                "max_abs_z": d["max_abs_z"],
                "frobenius": float(np.linalg.norm(values.astype(np.float64))),
                "ks_normal_robust": ks,
                "tail_slope": tail["tail_slope"],
                "tail_exponent": tail["tail_exponent"],
                "best_fit": best,
                "t_df": t_df,
                "status": status,
            }
        )
        if spectra and tensor.ndim == 2 and min(shape) > 1:
            sv = singular_values(tensor)
            spec_rows += _spectrum_rows(model, "weight-sv", piece.name, piece.layer, piece.role, sv)
            law = power_law(sv, settings["powerlaw_ranks"])
            law_rows.append(
                {"model": model, "source": "weight-sv", "name": piece.name, "layer": piece.layer}
                | {"role": piece.role, **law, "effective_rank": effective_rank(sv**2)}
            )
    return {
        "matrices": frame(rows, MATRIX_SCHEMA),
        "fits": fit_rows,
        "spectra": spec_rows,
        "powerlaw": law_rows,
    }


def growth(layers: np.ndarray, values: np.ndarray) -> dict:
    """Geometric growth per layer: exp of the least-squares slope of log value on layer."""
    layers = np.asarray(layers, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    ok = values > 0
    out = {"rate": math.nan, "r2": math.nan}
    if ok.sum() >= 3:
        from scipy.stats import linregress

        fit = linregress(layers[ok], np.log(values[ok]))
        out = {"rate": float(np.exp(fit.slope)), "r2": float(fit.rvalue**2)}
    return out


def norm_tables(model: str, weights: pl.DataFrame, activations: pl.DataFrame) -> dict:
    """Frobenius norms by layer of reading and writing matrices, and the growth per layer of
    each role, of each group (root of the summed squares) and of the residual norm."""
    mats = weights.filter(
        (pl.col("kind") == "weight") & pl.col("group").is_in(["reading", "writing"])
    )
    per_role = mats.group_by("layer", "role", "group").agg(
        frobenius=pl.col("frobenius").pow(2).sum().sqrt()
    )
    per_group = mats.group_by("layer", "group").agg(
        frobenius=pl.col("frobenius").pow(2).sum().sqrt()
    )
    norms = pl.concat(
        [per_role, per_group.with_columns(role=pl.col("group"))], how="diagonal"
    ).with_columns(model=pl.lit(model))
    norms = norms.select(list(NORM_SCHEMA)).cast(NORM_SCHEMA).sort("group", "role", "layer")
    rows = []
    for (role,), part in norms.sort("layer").group_by("role", maintain_order=True):
        rows.append(_growth_row(model, str(role), part["layer"], part["frobenius"]))
    blocks = activations.filter((pl.col("layer") >= 0) & (pl.col("status") == "ok")).sort("layer")
    rows.append(_growth_row(model, "residual_norm", blocks["layer"], blocks["resid_norm_mean"]))
    return {"norms": norms, "growth": frame(rows, GROWTH_SCHEMA)}


def _growth_row(model: str, quantity: str, layers: pl.Series, values: pl.Series) -> dict:
    g = growth(layers.to_numpy(), values.to_numpy())
    empty = len(layers) == 0
    return {
        "model": model,
        "quantity": quantity,
        **g,
        "first_layer": None if empty else int(layers[0]),
        "last_layer": None if empty else int(layers[-1]),
        "value_first": math.nan if empty else float(values[0]),
        "value_last": math.nan if empty else float(values[-1]),
    }
