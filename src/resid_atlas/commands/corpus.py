"""ingest: a dataset entry of the config -> results/<dataset>/corpus.parquet."""

from __future__ import annotations

import logging

from resid_atlas.atomic import write_parquet
from resid_atlas.cli import json_arg
from resid_atlas.corpus import build_corpus

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("ingest", help="read, check and split one dataset")
    p.add_argument("--name", required=True, help="dataset key in the config")
    p.add_argument("--spec", required=True, type=json_arg, help="the dataset's config entry (JSON)")
    p.add_argument("--out", required=True, help="corpus.parquet to write")
    p.set_defaults(run=run_ingest)


def run_ingest(args) -> None:
    corpus = build_corpus(args.spec, args.name)
    write_parquet(corpus, args.out)
    counts = corpus.group_by("split").len().sort("split").iter_rows()
    log.info(
        "%s: %d sentences, %d pairs, split %s",
        args.name,
        corpus.height,
        corpus["pair"].n_unique(),
        dict(counts),
    )
