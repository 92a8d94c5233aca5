"""geometry-layer, geometry-summary, geometry-heatmaps, geometry-modes: representation geometry
(seed 000, similarity part). Outputs and columns: docs/geometry.md."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
from threadpoolctl import threadpool_limits

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.stats.findings import write_findings

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("geometry-layer", help="attraction scores and grouping view of one layer")
    p.add_argument("--shard", required=True, help="activations/layer_<L>.npy")
    p.add_argument("--index", required=True, help="activations/index.parquet")
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--layer", required=True, type=int)
    p.add_argument("--settings", required=True, type=json_arg, help="the geometry section (JSON)")
    p.add_argument("--scores", required=True, help="scores/layer_<L>.parquet to write")
    p.add_argument("--grouping", required=True, help="grouping/layer_<L>.parquet to write")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=run_layer)

    p = sub.add_parser("geometry-summary", help="per-layer summaries, pulls, trend, findings")
    p.add_argument("--scores", required=True, nargs="+", help="scores/layer_<L>.parquet, all L")
    p.add_argument("--grouping", required=True, nargs="+", help="grouping/layer_<L>.parquet")
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--summary", required=True)
    p.add_argument("--pulls", required=True)
    p.add_argument("--trend", required=True)
    p.add_argument("--findings", required=True)
    p.add_argument("--depth-figure", required=True)
    p.add_argument("--grouping-figure", required=True)
    p.set_defaults(run=run_summary)

    p = sub.add_parser("geometry-heatmaps", help="heatmap grid and GIF of one variant")
    p.add_argument("--scores", required=True, nargs="+")
    p.add_argument("--variant", required=True)
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--grid", required=True, help="PNG with every layer's heatmap")
    p.add_argument("--gif", required=True, help="animated GIF across layers")
    p.set_defaults(run=run_heatmaps)

    p = sub.add_parser("geometry-modes", help="correlate mode characteristics with the scores")
    p.add_argument("--scores", required=True, nargs="+")
    p.add_argument("--modes", required=True, nargs="+", help="modes/layer_<L>.parquet, all L")
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--out", required=True, help="modes_correlation.parquet")
    p.add_argument("--findings", required=True)
    p.add_argument("--figure", required=True)
    p.set_defaults(run=run_modes)


def _read_all(paths: list[str]) -> list[pl.DataFrame]:
    return [pl.read_parquet(p) for p in paths]


def run_layer(args) -> None:
    from resid_atlas.geometry.layer import layer_tables, load_layer

    threadpool_limits(args.threads)  # BLAS threads = the cores Snakemake gave the job

    x, grid = load_layer(args.shard, args.index, args.settings)
    log.info(
        "%s: %d rows, %d subjects x %d attributes",
        args.shard,
        len(grid.rows),
        *grid.shape,
    )
    scores, grouping = layer_tables(
        x, grid, args.settings, args.dataset, args.model, args.layer, args.shard
    )
    write_parquet(scores, args.scores)
    write_parquet(grouping, args.grouping)


def run_summary(args) -> None:
    from resid_atlas.geometry.figures import depth_figure, grouping_figure
    from resid_atlas.geometry.summary import findings, headline_variant, summarise, trend

    scores = _read_all(args.scores)
    grouping = _read_all(args.grouping)
    summary, pulls = summarise(scores, grouping, n_layers=len(args.scores))
    trend_df = trend(summary)
    model = summary["model"][0]
    variant = headline_variant(args.settings["variants"])
    figures = {
        "depth": args.depth_figure,
        "heatmaps": str(Path(args.depth_figure).with_name(f"heatmaps_{variant}.png")),
    }
    rows = findings(summary, pulls, trend_df, model, args.settings["alpha"], figures)
    write_parquet(summary, args.summary)
    write_parquet(pulls, args.pulls)
    write_parquet(trend_df, args.trend)
    write_findings(rows, args.findings)
    depth_figure(summary, model, args.depth_figure)
    grouping_figure(pl.concat(grouping), model, args.grouping_figure)
    for r in rows:
        log.info("%s: %s (%s)", r["claim_id"], r["verdict"], r["detail"])


def run_heatmaps(args) -> None:
    from resid_atlas.geometry.figures import heatmap_gif, heatmap_grid

    scores = pl.concat(_read_all(args.scores))
    model = scores["model"][0]
    heatmap_grid(scores, args.variant, model, args.grid)
    heatmap_gif(scores, args.variant, model, args.gif, args.settings["gif_frame_ms"])


def run_modes(args) -> None:
    from resid_atlas.geometry.figures import modes_figure
    from resid_atlas.geometry.modes_link import correlate, modes_findings, read_modes

    scores = pl.concat(_read_all(args.scores))
    modes = read_modes(args.modes)
    table = correlate(scores, modes, args.settings)
    write_parquet(table, args.out)
    model = scores["model"][0]
    write_findings(modes_findings(table, model, args.settings, args.figure), args.findings)
    modes_figure(table, model, args.figure, args.settings["alpha"])
