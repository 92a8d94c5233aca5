"""`geometry`: representation geometry (study 000, similarity part). Outputs: docs/geometry.md."""

from __future__ import annotations

from resid_atlas.cli import add_findings_step, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "geometry", "attraction scores of subjects and attributes")
    p = add_step(steps, "layer", "resid_atlas.geometry.layer:layer",
                 "attraction scores and grouping view of one layer")  # fmt: skip
    p.add_argument("--shard", required=True, help="layer_<L>.npy")
    p.add_argument("--index", required=True, help="index.parquet of the shard's folder")
    p.add_argument("--meta", required=True, help="meta.json of the shard's folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--layer", required=True, type=int)
    p.add_argument("--settings", required=True, type=json_arg, help="the geometry section (JSON)")
    p.add_argument("--scores", required=True, help="scores/layer_<L>.parquet to write")
    p.add_argument("--grouping", required=True, help="grouping/layer_<L>.parquet to write")
    p.add_argument("--threads", type=int, default=1)

    p = add_step(steps, "summary", "resid_atlas.geometry.summary:summary",
                 "per-layer summaries, pulls, trend, findings")  # fmt: skip
    p.add_argument("--scores", required=True, nargs="+", help="scores/layer_<L>.parquet, all L")
    p.add_argument("--grouping", required=True, nargs="+", help="grouping/layer_<L>.parquet")
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--summary", dest="out_summary", required=True)
    p.add_argument("--pulls", dest="out_pulls", required=True)
    p.add_argument("--trend", dest="out_trend", required=True)
    p.add_argument("--findings", dest="out_findings", required=True)
    p.add_argument("--depth-figure", required=True)
    p.add_argument("--grouping-figure", required=True)

    p = add_step(steps, "heatmaps", "resid_atlas.geometry.figures:heatmaps",
                 "heatmap grid and GIF of one variant")  # fmt: skip
    p.add_argument("--scores", required=True, nargs="+")
    p.add_argument("--variant", required=True)
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--grid", required=True, help="PNG with every layer's heatmap")
    p.add_argument("--gif", required=True, help="animated GIF across layers")

    p = add_step(steps, "modes", "resid_atlas.geometry.modes_link:modes",
                 "correlate mode characteristics with the scores")  # fmt: skip
    p.add_argument("--scores", required=True, nargs="+")
    p.add_argument("--modes", required=True, nargs="+", help="modes/layer_<L>.parquet, all L")
    p.add_argument("--settings", required=True, type=json_arg)
    p.add_argument("--out", required=True, help="modes_correlation.parquet")
    p.add_argument("--findings", required=True)
    p.add_argument("--figure", required=True)

    add_findings_step(steps, "geometry")
