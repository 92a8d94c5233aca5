"""`regions`: stable regions (study 004): one model's curves, sharpness and slices; the
cross-model summary, semantic check and findings."""

from __future__ import annotations

from resid_atlas.cli import add_model_arguments, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "regions", "stable regions and the sharpness of their boundaries")
    p = add_step(steps, "curves", "resid_atlas.regions.study:curves",
                 "curves, sharpness and slices for one model")  # fmt: skip
    p.add_argument("--corpus", required=True, help="corpus.parquet supplying the prompts")
    add_model_arguments(p, "regions")
    p.add_argument("--out-dir", required=True)

    p = add_step(steps, "summary", "resid_atlas.regions.summary:summary",
                 "summary, semantic check and findings across models")  # fmt: skip
    p.add_argument("--sharpness", nargs="+", required=True, help="<model>/sharpness.parquet")
    p.add_argument("--meta", nargs="+", required=True, help="<model>/meta.json, same order")
    p.add_argument("--settings", required=True, type=json_arg, help="the regions section (JSON)")
    p.add_argument("--summary", dest="out_summary", required=True)
    p.add_argument("--semantic", dest="out_semantic", required=True)
    p.add_argument("--findings", dest="out_findings", required=True)
    p.add_argument("--figure", required=True)
