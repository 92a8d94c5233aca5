"""facts: one model's basic facts (tables, figures, findings); facts-summary: all models'
findings stacked and each trained model compared with its random-init twin."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError


def register(sub) -> None:
    p = sub.add_parser("facts", help="weights, activations, gradients, spectra of one model")
    p.add_argument("--corpus", required=True, help="corpus.parquet")
    p.add_argument("--model", required=True, help="model key in the config")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the facts section (JSON)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(run=run_facts_command)

    s = sub.add_parser("facts-summary", help="stack findings; trained vs random-init twins")
    s.add_argument("--findings", nargs="+", required=True, help="findings.parquet per model")
    s.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    s.add_argument("--out-findings", required=True)
    s.add_argument("--out-comparison", required=True)
    s.set_defaults(run=run_summary)


def run_facts_command(args) -> None:
    from resid_atlas.core.devices import set_threads
    from resid_atlas.facts.run import run_facts
    from resid_atlas.models.loading import load_model

    set_threads(args.threads)
    corpus = _read(args.corpus)
    lm = load_model(args.model, args.models, args.settings["device"], args.settings["dtype"])
    run_facts(lm, corpus, args.settings, args.out_dir)


def run_summary(args) -> None:
    from resid_atlas.facts.verdicts import compare, stack

    stacked = stack([_read(path) for path in args.findings])
    write_parquet(stacked, args.out_findings)
    write_parquet(compare(stacked, args.models), args.out_comparison)


def _read(path: str) -> pl.DataFrame:
    if not Path(path).is_file():
        raise AtlasError(f"{path}: not found; run the step that writes it first.")
    try:
        return pl.read_parquet(path)
    except Exception as exc:
        raise AtlasError(
            f"{path}: not a readable Parquet file ({exc}); delete it and rerun."
        ) from None
