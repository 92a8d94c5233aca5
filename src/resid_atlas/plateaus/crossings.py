"""Where each curve leaves its plateau and crosses the KL threshold, and the per-condition medians
with bootstrap confidence intervals (resid_atlas.stats.bootstrap.median_ci).

A curve that never crosses is censored: in medians and intervals it counts as one step beyond the
sweep's end (a lower bound on its crossing), and `n_crossed` says how many did cross.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from resid_atlas.stats.bootstrap import median_ci

CROSSING_SCHEMA = {
    "crossed": pl.Boolean,  # KL exceeded the threshold somewhere on the curve
    "crossing_step": pl.Int32,  # first step with KL > threshold (null if never)
    "crossing_size": pl.Float64,  # its size: a (straight) or angle in radians (sphere)
    "plateau_crossed": pl.Boolean,  # KL exceeded plateau_kl somewhere on the curve
    "plateau_step": pl.Int32,  # first step with KL > plateau_kl: where the plateau ends
    "plateau_size": pl.Float64,  # its size (the plateau length)
    "beyond_size": pl.Float64,  # one step beyond the sweep: the censored value of a non-crossing
    "max_kl": pl.Float64,
    "final_l2": pl.Float64,  # read-out L2 at the sweep's end
    "final_cosine": pl.Float64,
}
CURVE_IDS = {
    "model": pl.String,
    "condition": pl.String,
    "base": pl.String,
    "direction": pl.String,
    "mode": pl.String,
    "curve": pl.Int32,
    "prompt": pl.Int32,
}
TRIANGLE_IDS = {
    "model": pl.String,
    "triangle": pl.String,  # random (three cov-random corners) or real-other (top corner real)
    "mode": pl.String,
    "curve": pl.Int32,
    "prompt": pl.Int32,
    "point": pl.Int32,
    "w_top": pl.Float64,
    "w_left": pl.Float64,
    "w_right": pl.Float64,
}
THRESHOLDS_SCHEMA = {**CURVE_IDS, **CROSSING_SCHEMA}
TRIANGLE_CROSSINGS_SCHEMA = {**TRIANGLE_IDS, **CROSSING_SCHEMA}
SUMMARY_SCHEMA = {
    "model": pl.String,
    "condition": pl.String,
    "base": pl.String,
    "direction": pl.String,
    "mode": pl.String,
    "size_unit": pl.String,
    "n_curves": pl.Int32,
    "n_crossed": pl.Int32,
    "crossing_median": pl.Float64,  # censored curves count as one step beyond the sweep
    "crossing_ci_low": pl.Float64,
    "crossing_ci_high": pl.Float64,
    "plateau_median": pl.Float64,
    "plateau_ci_low": pl.Float64,
    "plateau_ci_high": pl.Float64,
    "max_kl_median": pl.Float64,
    "final_l2_median": pl.Float64,
}
UNITS = {"straight": "fraction of ||base||", "sphere": "radians"}


def first_crossing(values: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the first entry > threshold along the last axis of [n, steps]; -1 if none."""
    above = values > threshold
    idx = above.argmax(axis=-1)
    return np.where(above.any(axis=-1), idx, -1)


def beyond(sizes: np.ndarray) -> float:
    """One step beyond the sweep's last size: the censored value of a curve that never crosses."""
    return float(sizes[-1] + (sizes[-1] - sizes[-2] if len(sizes) > 1 else 1.0))


def _matrix(group: pl.DataFrame, column: str) -> np.ndarray:
    n_steps = group["step"].n_unique()
    return group[column].to_numpy().reshape(-1, n_steps)


def _at(sizes: np.ndarray, steps: np.ndarray) -> pl.Series:
    return pl.Series([float(sizes[s]) if s >= 0 else None for s in steps], dtype=pl.Float64)


def _steps(steps: np.ndarray) -> pl.Series:
    return pl.Series([int(s) if s >= 0 else None for s in steps], dtype=pl.Int32)


def thresholds(
    curves: pl.DataFrame,
    threshold: float,
    plateau_kl: float,
    group: str = "condition",
    ids: dict = CURVE_IDS,
) -> pl.DataFrame:
    """One row per curve (the `ids` columns of its step 0): threshold crossing and plateau end.
    Curves of one `group` value share their sizes (steps)."""
    schema = {**ids, **CROSSING_SCHEMA}
    order = [group, *(c for c in ("curve", "point") if c in ids), "step"]
    parts = []
    for _, rows in curves.sort(order).group_by(group, maintain_order=True):
        kl = _matrix(rows, "kl")
        sizes = _matrix(rows, "size")[0]
        cross = first_crossing(kl, threshold)
        plateau = first_crossing(kl, plateau_kl)
        parts.append(
            rows.filter(pl.col("step") == 0)
            .select(list(ids))
            .with_columns(
                crossed=pl.Series(cross >= 0),
                crossing_step=_steps(cross),
                crossing_size=_at(sizes, cross),
                plateau_crossed=pl.Series(plateau >= 0),
                plateau_step=_steps(plateau),
                plateau_size=_at(sizes, plateau),
                beyond_size=pl.lit(beyond(sizes)),
                max_kl=pl.Series(kl.max(axis=1)),
                final_l2=pl.Series(_matrix(rows, "l2")[:, -1]),
                final_cosine=pl.Series(_matrix(rows, "cosine")[:, -1]),
            )
        )
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).select(list(schema)).cast(schema)


def censored_sizes(rows: pl.DataFrame, which: str = "crossing") -> np.ndarray:
    """Per-curve crossing (or plateau) sizes, non-crossings counted one step beyond the sweep."""
    return rows[f"{which}_size"].fill_null(rows["beyond_size"]).to_numpy()


def summary_table(
    thresholds_frame: pl.DataFrame, seed: int, n_resamples: int = 2000
) -> pl.DataFrame:
    """One row per condition: medians and intervals of crossing and plateau sizes."""
    rows = []
    for (name,), group in thresholds_frame.group_by("condition", maintain_order=True):
        first = group.row(0, named=True)
        cross = median_ci(censored_sizes(group, "crossing"), n_resamples, seed)
        plateau = median_ci(censored_sizes(group, "plateau"), n_resamples, seed)
        rows.append(
            {
                "model": first["model"],
                "condition": name,
                "base": first["base"],
                "direction": first["direction"],
                "mode": first["mode"],
                "size_unit": UNITS[first["mode"]],
                "n_curves": group.height,
                "n_crossed": int(group["crossed"].sum()),
                "crossing_median": cross[0],
                "crossing_ci_low": cross[1],
                "crossing_ci_high": cross[2],
                "plateau_median": plateau[0],
                "plateau_ci_low": plateau[1],
                "plateau_ci_high": plateau[2],
                "max_kl_median": float(group["max_kl"].median()),
                "final_l2_median": float(group["final_l2"].median()),
            }
        )
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
