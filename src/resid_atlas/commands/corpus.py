"""`corpus`: download the reference dataset, validate a dataset, ingest it, summarise it."""

from __future__ import annotations

from resid_atlas.cli import add_findings_step, add_stage, add_step, json_arg
from resid_atlas.corpus.download import SHA256


def register(sub) -> None:
    steps = add_stage(sub, "corpus", "sentence datasets -> validated, split corpus tables")
    p = add_step(steps, "download", "resid_atlas.corpus.download:download",
                 "fetch levinson-2024 files, sha256-checked")  # fmt: skip
    p.add_argument("--out", action="append", required=True,
                   help=f"a file to write, named as one of {sorted(SHA256)}")  # fmt: skip
    p.add_argument("--datasets", nargs="*", default=[], help="entries that use it (for messages)")
    p.add_argument("--base-url", default=None, help="override the pinned upstream URL (tests)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per connection attempt")

    p = add_step(steps, "validate", "resid_atlas.corpus.ingest:validate",
                 "check one dataset's sentences -> violations table")  # fmt: skip
    p.add_argument("--name", required=True, help="dataset key in the config")
    p.add_argument("--spec", required=True, type=json_arg, help="the dataset's config entry (JSON)")
    p.add_argument("--validation", required=True, type=json_arg, help="validation section (JSON)")
    p.add_argument("--out", required=True, help="violations.parquet to write")

    p = add_step(steps, "ingest", "resid_atlas.corpus.ingest:ingest",
                 "apply the violations table, split, write corpus.parquet")  # fmt: skip
    p.add_argument("--name", required=True, help="dataset key in the config")
    p.add_argument("--spec", required=True, type=json_arg, help="the dataset's config entry (JSON)")
    p.add_argument("--validation", type=json_arg, default=None, help="validation section (JSON)")
    p.add_argument("--violations", required=True, help="the validator's violations.parquet")
    p.add_argument("--out", required=True, help="corpus.parquet to write")

    p = add_step(steps, "summary", "resid_atlas.corpus.summary:summary",
                 "per-pair counts, lengths, tokens; figure; findings")  # fmt: skip
    p.add_argument("--corpus", required=True)
    p.add_argument("--violations", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--summary-models", nargs="+", required=True, help="tokenizers to count with")
    p.add_argument("--min-per-pair", type=int, required=True)
    p.add_argument("--out", required=True, help="summary.parquet")
    p.add_argument("--figure", required=True, help="summary.png")
    p.add_argument("--findings", required=True, help="findings.parquet")

    p = add_step(steps, "regenerate", "resid_atlas.corpus.regenerate:regenerate",
                 "write a corpus CSV with the Anthropic Messages API")  # fmt: skip
    p.add_argument("--settings", required=True, type=json_arg, help="corpus.regeneration (JSON)")
    p.add_argument("--validation", required=True, type=json_arg, help="corpus.validation (JSON)")
    p.add_argument("--out", required=True, help="the CSV to write")

    add_findings_step(steps, "corpus")
