"""`plateaus`: activation plateaus and sensitive directions (study 003). The sweep loads one model
and writes every condition's curves; the summary turns them into threshold crossings and figures;
the findings compare conditions and models."""

from __future__ import annotations

from resid_atlas.cli import add_model_arguments, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "plateaus", "KL of the output as a residual vector moves")
    p = add_step(steps, "sweep", "resid_atlas.plateaus.sweep:sweep",
                 "curves of every condition for one model")  # fmt: skip
    add_model_arguments(p, "plateaus")
    p.add_argument("--source", required=True, help="corpus.parquet or a UTF-8 text file")
    p.add_argument("--source-kind", required=True, choices=("corpus", "text"),
                   help="corpus: its sentences supply the prompts; text: its lines")  # fmt: skip
    p.add_argument("--out-dir", required=True, help="results/plateaus/<model>")

    p = add_step(steps, "summary", "resid_atlas.plateaus.summary:summary",
                 "threshold crossings, summary and figures of one model")  # fmt: skip
    p.add_argument("--model", required=True)
    p.add_argument("--curves", required=True, nargs="+", help="curves/<condition>.parquet files")
    p.add_argument("--triangle", required=True, help="triangle.parquet")
    p.add_argument("--settings", required=True, type=json_arg, help="the plateaus section (JSON)")
    p.add_argument("--out-dir", required=True, help="results/plateaus/<model>")

    p = add_step(steps, "findings", "resid_atlas.plateaus.claims:findings",
                 "the findings table across models")  # fmt: skip
    p.add_argument("--thresholds", required=True, nargs="+", help="<model>/thresholds.parquet")
    p.add_argument("--triangles", required=True, nargs="+",
                   help="<model>/triangle_crossings.parquet, in the same model order")  # fmt: skip
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the plateaus section (JSON)")
    p.add_argument("--out", required=True, help="findings.parquet")
