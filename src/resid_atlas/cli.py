"""`python -m resid_atlas <stage> <step>`: the entry points Snakemake rules call.

Each module in `resid_atlas.commands` registers one stage and its steps. A step names the one
package function it runs (`target`, "module:function"), imported only when that step runs, so a
job that runs no model never imports torch. The parsed arguments are the function's keyword
arguments. Input problems (AtlasError) print one message and exit 2; anything else is a bug and
keeps its traceback.
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

INTERNAL = ("stage", "step", "target")


def json_arg(text: str):
    """Argument type for JSON-encoded config fragments passed by the rules."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def add_stage(sub, name: str, help: str):
    """The sub-parsers of one stage: `add_step` adds its steps to what this returns."""
    parser = sub.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest="step", required=True, metavar="STEP")


def add_step(steps, name: str, target: str, help: str) -> argparse.ArgumentParser:
    """One step: `target` is "resid_atlas.<stage>.<module>:<function>"."""
    parser = steps.add_parser(name, help=help, description=f"{help} ({target})")
    parser.set_defaults(target=target)
    return parser


def add_model_arguments(p: argparse.ArgumentParser, section: str) -> None:
    """The arguments every step that loads a model takes: which entry, all entries (a `like:`
    entry needs its original), its config section, and the threads it may use."""
    p.add_argument("--model", required=True, help="model key in the config")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help=f"the {section} section (JSON)")
    p.add_argument("--threads", type=int, default=None)


def add_findings_step(steps, stage: str) -> None:
    """The stage's `findings` step: its per-dataset or per-model findings tables stacked."""
    p = add_step(steps, "findings", "resid_atlas.stats.findings:stack_findings",
                 f"stack the {stage} findings into results/{stage}/findings.parquet")  # fmt: skip
    p.add_argument("--findings", nargs="*", required=True, help="findings.parquet files")
    p.add_argument("--out", required=True, help=f"results/{stage}/findings.parquet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resid_atlas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    kwargs = {k: v for k, v in vars(args).items() if k not in INTERNAL}
    try:
        resolve(args.target)(**kwargs)
    except AtlasError as exc:
        print(f"resid-atlas: error: {exc}", file=sys.stderr)
        return 2
    return 0
