"""Minor-mode catalog of one sample, the study's way: Gaussian KDE (scipy Scott bandwidth x 4.5)
on 1,000 evenly spaced points from the sample's min to max, `scipy.signal.find_peaks` with
prominence >= 1e-4 x max density and distance >= 31 grid points, `peak_widths` at half height.

The highest peak is the main mode; the others are left or right of it. One row per mode."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.signal import find_peaks, peak_widths

from resid_atlas.core.config import schema_defaults
from resid_atlas.distributions.fits import POOLED, describe_sample, layer_samples
from resid_atlas.stats.kde import kde_on_grid, scott_bandwidth

MODES_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "pair": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "status": pl.String,
    "n_values": pl.Int64,
    "sample_mean": pl.Float64,
    "sample_sd": pl.Float64,
    "bandwidth": pl.Float64,
    "mode": pl.Int32,  # 0 = main, then left modes -1, -2, ... outward, right modes 1, 2, ...
    "side": pl.String,  # main, left, right
    "location": pl.Float64,
    "density": pl.Float64,
    "rel_height": pl.Float64,
    "prominence": pl.Float64,
    "spread": pl.Float64,
    "volume": pl.Float64,
    "dist_main_sd": pl.Float64,
    "dist_mean_sd": pl.Float64,
    "n_left": pl.Int32,
    "n_right": pl.Int32,
}
# The mode finder's settings and the distributions keys they come from.
CONFIG_KEYS = {
    "bw_factor": "kde_bw_factor",
    "grid_points": "kde_grid_points",
    "prominence": "peak_prominence",
    "distance": "peak_distance",
    "min_values": "min_values",
}
DEFAULTS = {k: schema_defaults("distributions")[v] for k, v in CONFIG_KEYS.items()}


def find_modes(values: np.ndarray, settings: dict | None = None) -> list[dict]:
    """Rows (without model/layer/pair keys) for every mode of the sample's KDE."""
    s = {**DEFAULTS, **(settings or {})}
    x, base, status = describe_sample(values, s["min_values"])
    mean, sd = base["sample_mean"], base["sample_sd"]
    if status:
        return [{**base, **_blank(), "status": status}]
    grid, dens = kde_on_grid(x, (float(x.min()), float(x.max()), s["grid_points"]), s["bw_factor"])
    step = grid[1] - grid[0]
    peaks, props = find_peaks(dens, prominence=s["prominence"] * dens.max(), distance=s["distance"])
    if peaks.size == 0:  # a monotone density (the maximum at the grid's edge)
        peaks = np.array([int(np.argmax(dens))])
        prominences = np.array([dens.max()])
        widths = np.array([math.nan])
    else:
        prominences = props["prominences"]
        widths = peak_widths(dens, peaks, rel_height=0.5)[0]
    main = int(np.argmax(dens[peaks]))
    n_left, n_right = main, peaks.size - main - 1
    bw = scott_bandwidth(x, s["bw_factor"])
    rows = []
    for i, p in enumerate(peaks):
        loc = float(grid[p])
        spread = float(widths[i] * step)
        rows.append(
            {
                **base,
                "status": "ok",
                "bandwidth": bw,
                "mode": i - main,
                "side": "main" if i == main else ("left" if i < main else "right"),
                "location": loc,
                "density": float(dens[p]),
                "rel_height": float(dens[p] / dens[peaks[main]]),
                "prominence": float(prominences[i]),
                "spread": spread,
                "volume": float(dens[p]) * spread,
                "dist_main_sd": (loc - float(grid[peaks[main]])) / sd,
                "dist_mean_sd": (loc - mean) / sd,
                "n_left": n_left,
                "n_right": n_right,
            }
        )
    return rows


def _blank() -> dict:
    return {
        "bandwidth": math.nan,
        "mode": None,
        "side": None,
        "location": math.nan,
        "density": math.nan,
        "rel_height": math.nan,
        "prominence": math.nan,
        "spread": math.nan,
        "volume": math.nan,
        "dist_main_sd": math.nan,
        "dist_mean_sd": math.nan,
        "n_left": None,
        "n_right": None,
    }


def modes_layer(
    shard: np.ndarray, index: pl.DataFrame, model: str, layer: int, settings: dict
) -> pl.DataFrame:
    out = []
    for pair, subject, attribute, values in layer_samples(shard, index):
        for r in find_modes(values, settings):
            out.append(
                {
                    **r,
                    "model": model,
                    "layer": layer,
                    "pair": pair,
                    "subject": subject,
                    "attribute": attribute,
                }
            )
    return pl.DataFrame(out, schema=MODES_SCHEMA)


__all__ = ["MODES_SCHEMA", "POOLED", "find_modes", "modes_layer"]


def modes(
    shard: str, index: str, meta: str, model: str, layer: int, settings: dict, out: str
) -> None:
    """Step `distributions modes`: the KDE minor-mode catalog of every pair of one layer.
    `settings` holds the distributions keys of distributions/outputs.py MODES_SETTINGS."""
    import logging
    import time

    from resid_atlas.activations.shards import load_layer
    from resid_atlas.core.atomic import write_parquet

    values, rows = load_layer(shard, index, meta)
    kde = {k: settings[v] for k, v in CONFIG_KEYS.items()}
    start = time.perf_counter()
    table = modes_layer(values, rows, model, layer, kde)
    logging.getLogger(__name__).info(
        "layer %d: %d modes in %.1f s", layer, table.height, time.perf_counter() - start
    )
    write_parquet(table, out)
