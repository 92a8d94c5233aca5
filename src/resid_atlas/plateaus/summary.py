"""One model's plateaus summary: threshold crossings of every curve and of the triangle, the
summary table and the figures."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.tables import read_table
from resid_atlas.plateaus import figures
from resid_atlas.plateaus.crossings import TRIANGLE_IDS, summary_table, thresholds


def summary(model: str, curves: list[str], triangle: str, settings: dict, out_dir: str) -> None:
    """Step `plateaus summary`: threshold crossings, the summary table and the figures of one
    model into `out_dir` (names: plateaus/outputs.py)."""
    s = settings
    frames = pl.concat([read_table(p) for p in curves])
    crossings_of = read_table(triangle)
    out = Path(out_dir)
    table = thresholds(frames, s["threshold"], s["plateau_kl"])
    tri = thresholds(crossings_of, s["threshold"], s["plateau_kl"], "triangle", TRIANGLE_IDS)
    write_parquet(table, out / "thresholds.parquet")
    write_parquet(tri, out / "triangle_crossings.parquet")
    write_parquet(summary_table(table, s["seed"], s["bootstrap"]), out / "summary.parquet")
    fig = out / "figures"
    figures.curves_figure(frames, "kl", s["threshold"], model, fig / "kl_curves.png")
    figures.curves_figure(frames, "l2", None, model, fig / "l2_curves.png")
    figures.thresholds_figure(table, s["threshold"], model, fig / "thresholds.png")
    figures.triangle_figure(tri, s["threshold"], model, fig / "triangle.png")
