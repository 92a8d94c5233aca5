"""`distributions`: the distribution atlas of "Beyond Gaussian" (fits and modes per layer, the
summary per model, the stage's findings)."""

from __future__ import annotations

from resid_atlas.cli import add_findings_step, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "distributions", "families, tails and minor modes of activations")
    for name, helptext in (
        ("fits", "fit the candidate families to every pair of one layer"),
        ("modes", "catalog the KDE modes of every pair of one layer"),
    ):
        p = add_step(steps, name, f"resid_atlas.distributions.{name}:{name}", helptext)
        p.add_argument("--shard", required=True, help="layer_<L>.npy")
        p.add_argument("--index", required=True, help="index.parquet of the shard's folder")
        p.add_argument("--meta", required=True, help="meta.json of the shard's folder")
        p.add_argument("--model", required=True)
        p.add_argument("--layer", required=True, type=int)
        p.add_argument("--settings", required=True, type=json_arg, help="settings (JSON)")
        p.add_argument("--out", required=True)

    p = add_step(steps, "summary", "resid_atlas.distributions.summary:summary",
                 "summaries, figures and findings per model")  # fmt: skip
    p.add_argument("--fits", nargs="+", required=True, help="fits/layer_<L>.parquet files")
    p.add_argument("--modes", nargs="+", required=True, help="modes/layer_<L>.parquet files")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="distributions (JSON)")
    p.add_argument("--example-shard", required=True, help="shard of the example-fit figure")
    p.add_argument("--example-layer", required=True, type=int, help="its layer")
    p.add_argument("--index", required=True, help="index.parquet of the shards")
    p.add_argument("--meta", required=True, help="meta.json of the shards")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--self-check", help="self_check.parquet, quoted in the findings")

    p = add_step(steps, "self_check", "resid_atlas.distributions.self_check:self_check",
                 "both fitting procedures on a seeded handful of pair samples")  # fmt: skip
    p.add_argument("--shards", nargs="+", required=True, help="layer_<L>.npy of the fitted layers")
    p.add_argument("--index", required=True, help="index.parquet of the shards")
    p.add_argument("--meta", required=True, help="meta.json of the shards")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="distributions (JSON)")
    p.add_argument("--out", required=True)

    add_findings_step(steps, "distributions")
