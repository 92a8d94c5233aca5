"""extract: one (dataset, model) -> per-layer activation shards."""

from __future__ import annotations

import polars as pl

from resid_atlas.cli import json_arg


def register(sub) -> None:
    p = sub.add_parser("extract", help="write layer_<L>.npy, index.parquet and meta.json")
    p.add_argument("--corpus", required=True, help="corpus.parquet")
    p.add_argument("--model", required=True, help="model key in the config")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the extraction section (JSON)")
    p.add_argument("--protocol", help="override the settings' protocol (for controls)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(run=run_extract)


def run_extract(args) -> None:
    # torch-importing modules load here, not at registration: every command of the CLI
    # registers its parser, and the jobs that run no model should not pay for torch.
    from resid_atlas.activations.extract import extract
    from resid_atlas.core.devices import set_threads
    from resid_atlas.models.loading import load_model

    set_threads(args.threads)
    lm = load_model(args.model, args.models, args.settings["device"], args.settings["dtype"])
    extract(pl.read_parquet(args.corpus), lm, args.settings, args.out_dir, protocol=args.protocol)
