"""`activations`: one (dataset, model, protocol) -> per-layer pooled residual shards."""

from __future__ import annotations

from resid_atlas.activations.outputs import PROTOCOLS
from resid_atlas.cli import add_model_arguments, add_stage, add_step


def register(sub) -> None:
    steps = add_stage(sub, "activations", "per-layer activation shards of one model")
    p = add_step(steps, "extract", "resid_atlas.activations.extract:extract",
                 "write layer_<L>.npy, index.parquet and meta.json")  # fmt: skip
    p.add_argument("--corpus", required=True, help="corpus.parquet")
    add_model_arguments(p, "extraction")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS, help="pooling protocol")
    p.add_argument("--out-dir", required=True, help="the protocol folder to write")
