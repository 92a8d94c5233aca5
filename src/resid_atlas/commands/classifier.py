"""classify: one (dataset, model, protocol) activation folder -> the likelihood classifier's
variants and the logistic-regression reference; classify-findings: one model's summary, Japanese
pooling control and findings."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.stats.findings import write_findings


def register(sub) -> None:
    p = sub.add_parser("classify", help="density classifier variants + logistic regression")
    p.add_argument("--activations", required=True, help="an activations folder (index + shards)")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="the classifier section")
    p.add_argument("--variants", required=True, type=json_arg, help="variant names (JSON list)")
    p.add_argument("--no-logreg", action="store_true", help="skip the logistic regression")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=run_classify)

    s = sub.add_parser("classify-findings", help="summary, Japanese control and findings")
    s.add_argument("--run-dir", required=True, help="the classifier folder of the seed protocol")
    s.add_argument("--control", help="the classifier folder of the `last` protocol control")
    s.add_argument("--model", required=True)
    s.add_argument("--settings", required=True, type=json_arg, help="the classifier section")
    s.add_argument("--summary", required=True)
    s.add_argument("--japanese", required=True, help="Japanese control table (empty if no control)")
    s.add_argument("--findings", required=True)
    s.set_defaults(run=run_findings)


def check_settings(settings: dict) -> None:
    if settings["tail_rising"] > settings["tail_window"]:
        raise AtlasError(
            f"classifier.tail_rising ({settings['tail_rising']}) cannot exceed "
            f"classifier.tail_window ({settings['tail_window']}); lower it."
        )
    main = settings["findings"]["main_variant"]
    if main not in settings["variants"]:
        raise AtlasError(
            f"classifier.findings.main_variant '{main}' is not in classifier.variants "
            f"{settings['variants']}; add it there or pick one of them."
        )


def run_classify(args) -> None:
    from resid_atlas.classifier.study import run_classifier
    from resid_atlas.core.devices import set_threads  # torch: only in the jobs that use it

    check_settings(args.settings)
    set_threads(args.threads)
    run_classifier(
        args.activations,
        args.model,
        args.settings,
        args.out_dir,
        args.variants,
        threads=args.threads,
        with_logreg=not args.no_logreg,
    )


def run_findings(args) -> None:
    from resid_atlas.classifier.summary import (
        CONTROL_SCHEMA,
        control_frame,
        findings_rows,
        load_runs,
        summary_frame,
    )

    settings = args.settings
    check_settings(settings)
    run = Path(args.run_dir)
    variants = settings["variants"]
    frames = [summary_frame(run, [*variants, "logreg"], args.model, "seed")]
    control = pl.DataFrame(schema=CONTROL_SCHEMA)
    if args.control:
        cvars = settings["control_variants"]
        frames.append(summary_frame(Path(args.control), cvars, args.model, "last"))
        shared = [v for v in cvars if v in variants]
        control = control_frame(run, Path(args.control), shared, args.model)
    summary = pl.concat(frames)
    main = settings["findings"]["main_variant"]
    figures = {
        "main": str(run / main / "f1.png"),
        "tails": str(run / "tails" / "confusion.png") if "tails" in variants else "",
        "control": str(Path(args.control) / settings["control_variants"][0] / "f1.png")
        if args.control
        else "",
    }
    rules = {**settings["findings"], "sink_factor": settings["sink_factor"]}
    rows = findings_rows(
        summary,
        load_runs(run, variants),
        control if args.control else None,
        args.model,
        rules,
        figures,
    )
    write_parquet(summary, args.summary)
    write_parquet(control, args.japanese)
    write_findings(rows, args.findings)
