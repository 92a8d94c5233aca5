"""Corpus stage commands: download the reference dataset, validate a dataset, ingest it (apply
the violations, split), and summarise it."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.download import SHA256, SOURCE, dataset_files, fetch, sha256_of
from resid_atlas.corpus.ingest import build_corpus, read_dataset
from resid_atlas.corpus.validate import VIOLATIONS_SCHEMA, find_violations, summarise

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("download-reference", help="fetch the levinson-2024 files, sha256-checked")
    p.add_argument("--file", action="append", required=True, choices=sorted(SHA256))
    p.add_argument("--out-dir", required=True)
    p.add_argument("--datasets", nargs="*", default=[], help="entries that use it (for messages)")
    p.add_argument("--base-url", default=None, help="override the pinned upstream URL (tests)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per connection attempt")
    p.set_defaults(run=run_download)

    p = sub.add_parser("validate", help="check one dataset's sentences -> violations table")
    p.add_argument("--name", required=True, help="dataset key in the config")
    p.add_argument("--spec", required=True, type=json_arg, help="the dataset's config entry (JSON)")
    p.add_argument("--validation", required=True, type=json_arg, help="validation section (JSON)")
    p.add_argument("--out", required=True, help="violations.parquet to write")
    p.set_defaults(run=run_validate)

    p = sub.add_parser("ingest", help="apply the violations table, split, write corpus.parquet")
    p.add_argument("--name", required=True, help="dataset key in the config")
    p.add_argument("--spec", required=True, type=json_arg, help="the dataset's config entry (JSON)")
    p.add_argument("--validation", type=json_arg, default=None, help="validation section (JSON)")
    p.add_argument("--violations", required=True, help="the validator's violations.parquet")
    p.add_argument("--out", required=True, help="corpus.parquet to write")
    p.set_defaults(run=run_ingest)

    p = sub.add_parser("corpus-summary", help="per-pair counts, lengths, tokens; figure")
    p.add_argument("--corpus", required=True)
    p.add_argument("--violations", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--summary-models", nargs="+", required=True, help="tokenizers to count with")
    p.add_argument("--min-per-pair", type=int, required=True)
    p.add_argument("--out", required=True, help="corpus_summary.parquet")
    p.add_argument("--figure", required=True, help="corpus_summary.png")
    p.add_argument("--findings", required=True, help="findings.parquet")
    p.set_defaults(run=run_summary)


def run_download(args) -> None:
    for file in args.file:
        out = Path(args.out_dir) / file
        kwargs = {"base_url": args.base_url} if args.base_url else {}
        fetch(file, out, timeout=args.timeout, datasets=args.datasets, **kwargs)


def run_validate(args) -> None:
    spec = args.spec
    df = read_dataset(spec, args.name)
    path, _ = dataset_files(spec)
    if spec["source"] == SOURCE and spec.get("path"):
        digest = sha256_of(path)
        same = digest == SHA256[Path(path).name] if Path(path).name in SHA256 else False
        log.info(
            "%s: local copy %s, sha256 %s (%s)",
            args.name,
            path,
            digest,
            "matches the pinned upstream file" if same else "NOT the pinned upstream file",
        )
    violations = find_violations(
        df,
        args.validation,
        min_per_pair=spec["min_per_pair"],
        on_violation=spec["on_violation"],
        allow=spec.get("allow_checks", []),
        dataset=args.name,
        file=str(path),
    )
    write_parquet(violations, args.out)
    log.info(
        "%s: %d sentences checked; %s",
        args.name,
        df.height,
        summarise(violations),
    )


def run_ingest(args) -> None:
    violations = pl.read_parquet(args.violations)
    if violations.schema != pl.Schema(VIOLATIONS_SCHEMA):
        raise AtlasError(
            f"{args.violations}: not a violations table of this version; delete it and rerun."
        )
    corpus = build_corpus(args.spec, args.name, violations=violations, validation=args.validation)
    write_parquet(corpus, args.out)
    counts = corpus.group_by("split").len().sort("split").iter_rows()
    log.info(
        "%s: %d sentences, %d pairs, split %s; validator: %s",
        args.name,
        corpus.height,
        corpus["pair"].n_unique(),
        dict(counts),
        summarise(violations),
    )


def run_summary(args) -> None:
    from resid_atlas.corpus.summary import summarise_corpus

    summarise_corpus(
        corpus=pl.read_parquet(args.corpus),
        violations=pl.read_parquet(args.violations),
        dataset=args.dataset,
        models=args.models,
        summary_models=args.summary_models,
        min_per_pair=args.min_per_pair,
        out=args.out,
        figure=args.figure,
        findings=args.findings,
    )
