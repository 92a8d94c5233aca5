"""`facts`: basic facts about LM internals (study 002) of one model, and the cross-model summary."""

from __future__ import annotations

from resid_atlas.cli import add_model_arguments, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "facts", "weights, activations, gradients and spectra")
    p = add_step(steps, "measure", "resid_atlas.facts.run:measure",
                 "weights, activations, gradients, spectra of one model")  # fmt: skip
    p.add_argument("--corpus", required=True, help="corpus.parquet")
    add_model_arguments(p, "facts")
    p.add_argument("--out-dir", required=True)

    p = add_step(steps, "summary", "resid_atlas.facts.verdicts:summary",
                 "stack findings; trained vs random-init twins")  # fmt: skip
    p.add_argument("--findings", nargs="+", required=True, help="findings.parquet per model")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--out-findings", required=True)
    p.add_argument("--out-comparison", required=True)
