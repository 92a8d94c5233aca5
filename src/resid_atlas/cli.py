"""`python -m resid_atlas <command>`: the entry points Snakemake rules call.

Each module in `resid_atlas.commands` adds its own subcommands through `register(subparsers)`,
so an analysis brings its command line with it. Input problems (AtlasError) print one message and
exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys

from resid_atlas import commands
from resid_atlas.core.errors import AtlasError


def json_arg(text: str):
    """Argument type for JSON-encoded config fragments passed by the rules."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resid_atlas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except AtlasError as exc:
        print(f"resid-atlas: error: {exc}", file=sys.stderr)
        return 2
    return 0
