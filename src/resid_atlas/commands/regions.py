"""regions: one model's interpolation curves, sharpness and 2-D slices; regions-summary: the
cross-model summary, semantic check, findings and figure."""

from __future__ import annotations

import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.stats.findings import write_findings


def register(sub) -> None:
    p = sub.add_parser("regions", help="curves, sharpness and slices for one model")
    p.add_argument("--corpus", required=True, help="corpus.parquet supplying the prompts")
    p.add_argument("--model", required=True, help="model key in the config")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the regions section (JSON)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(run=run_regions_command)

    s = sub.add_parser("regions-summary", help="summary, semantic check and findings")
    s.add_argument("runs", nargs="+", help="results/regions/<model> folders")
    s.add_argument("--settings", required=True, type=json_arg, help="the regions section (JSON)")
    s.add_argument("--summary", required=True)
    s.add_argument("--semantic", required=True)
    s.add_argument("--findings", required=True)
    s.add_argument("--figure", required=True)
    s.set_defaults(run=run_summary_command)


def check_settings(settings: dict) -> None:
    """Cross-key checks the schema cannot express."""
    steps, sharp = settings["steps"], settings["sharp_above"]
    if sharp >= steps - 1:
        raise AtlasError(
            f"regions.sharp_above = {sharp} cannot be exceeded by a monotone curve with "
            f"regions.steps = {steps} (sharpness is at most steps - 1 = {steps - 1}); lower "
            f"sharp_above or raise steps to at least {int(sharp) + 2}."
        )
    if settings["smooth_below"] >= sharp:
        raise AtlasError(
            f"regions.smooth_below ({settings['smooth_below']}) must be below regions.sharp_above "
            f"({sharp}); fix one of them."
        )


def run_regions_command(args) -> None:
    from resid_atlas.core.devices import set_threads  # torch: only in the jobs that use it
    from resid_atlas.models.loading import load_model
    from resid_atlas.regions.study import run_regions

    check_settings(args.settings)
    set_threads(args.threads)
    corpus = pl.read_parquet(args.corpus)
    lm = load_model(args.model, args.models, args.settings["device"], args.settings["dtype"])
    run_regions(corpus, lm, args.settings, args.out_dir)


def run_summary_command(args) -> None:
    from resid_atlas.regions.plots import plot_summary
    from resid_atlas.regions.summary import findings_rows, load_runs, semantic_table, summarise

    check_settings(args.settings)
    pairs, metas = load_runs(args.runs)
    summary = summarise(pairs, metas, args.settings)
    plot_summary(summary, args.figure)
    write_parquet(summary, args.summary)
    write_parquet(semantic_table(pairs, args.settings), args.semantic)
    write_findings(findings_rows(pairs, summary, args.settings, args.figure), args.findings)
