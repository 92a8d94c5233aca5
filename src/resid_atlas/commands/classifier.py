"""`classifier`: the likelihood classifier of "Activation Magnitudes Matter On Their Own" (every
variant on one model's shards; one model's summary; the stage's findings)."""

from __future__ import annotations

import argparse

from resid_atlas.cli import add_findings_step, add_stage, add_step, json_arg


def register(sub) -> None:
    steps = add_stage(sub, "classifier", "subject and style predicted from activation values")
    p = add_step(steps, "classify", "resid_atlas.classifier.study:classify",
                 "density classifier variants (+ logistic regression) on one model")  # fmt: skip
    p.add_argument("--index", required=True, help="index.parquet of the shards")
    p.add_argument("--shards", nargs="+", required=True, help="layer_0.npy ... in layer order")
    p.add_argument("--meta", required=True, help="meta.json of the shards")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="the classifier section")
    p.add_argument("--variants", required=True, type=json_arg, help="variant names (JSON list)")
    p.add_argument("--logreg", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the logistic-regression reference")  # fmt: skip
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=1)

    p = add_step(steps, "summary", "resid_atlas.classifier.summary:summary",
                 "summary, Japanese control and findings of one model")  # fmt: skip
    p.add_argument("--tables", nargs="+", required=True, help="the run's <variant>/*.parquet")
    p.add_argument("--control-tables", nargs="*", default=[], help="the control run's tables")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="the classifier section")
    p.add_argument("--summary", dest="out_summary", required=True)
    p.add_argument("--japanese", dest="out_japanese", required=True, help="Japanese control")
    p.add_argument("--findings", dest="out_findings", required=True)

    add_findings_step(steps, "classifier")
