"""regenerate: write a sentence corpus with the Anthropic Messages API (opt-in rule)."""

from __future__ import annotations

from resid_atlas.cli import json_arg


def register(sub) -> None:
    p = sub.add_parser("regenerate", help="write a corpus CSV with the Anthropic Messages API")
    p.add_argument("--settings", required=True, type=json_arg, help="corpus.regeneration (JSON)")
    p.add_argument("--validation", required=True, type=json_arg, help="corpus.validation (JSON)")
    p.add_argument("--out", required=True, help="the CSV to write")
    p.set_defaults(run=run_regenerate)


def run_regenerate(args) -> None:
    from resid_atlas.corpus.regenerate import regenerate

    regenerate(args.settings, args.validation, args.out)
