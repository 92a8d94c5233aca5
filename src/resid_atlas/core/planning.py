"""Planning guards: what Snakemake cannot say by itself when a target cannot be made.

workflow/rules/guards.smk has a catch-all rule for paths under results/ that no other rule's
output pattern claims; its input function asks `no_rule_problem` why, and stops the run while
the job graph is built (so `snakemake -n` says it too) with one message naming the path and the
fix. Pure functions of the config and the rules' output patterns, tested in tests/test_planning.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

from resid_atlas.activations.outputs import PROTOCOLS

SHARD_PATH = r"results/activations/([^/]+)/([^/]+)/([^/]+)/layer_(\d+)\.npy"


def shard_problem(path: str, config: dict, n_layers: Callable[[str], int]) -> str | None:
    """Why an activation shard path that no extraction rule makes cannot exist, or None."""
    found = re.fullmatch(SHARD_PATH, path)
    if not found:
        return None
    dataset, model, protocol, layer = found.groups()
    if dataset not in config["datasets"]:
        return (
            f"'{dataset}' is not a dataset entry of the config; use one of: "
            f"{', '.join(sorted(config['datasets']))}, or add it under datasets:."
        )
    if model not in config["models"]:
        return (
            f"'{model}' is not a model entry of the config; use one of: "
            f"{', '.join(sorted(config['models']))}, or add it under models:."
        )
    if protocol not in PROTOCOLS:
        return (
            f"'{protocol}' is not an extraction protocol; the shard folders are "
            f"{', '.join(PROTOCOLS)}."
        )
    n = n_layers(model)
    if int(layer) >= n:
        return (
            f"model '{model}' has {n} layers, layer_0 .. layer_{n - 1}; ask for one of those "
            "(the per-layer files of every analysis are numbered the same way)."
        )
    return None


def no_rule_problem(
    path: str, config: dict, n_layers: Callable[[str], int], known: Iterable[str]
) -> str:
    """The message for a path under results/ that no rule makes: the reason where one is known
    (a shard's layer, model, dataset or protocol), else the close matches among the targets."""
    problem = shard_problem(path, config, n_layers)
    if problem:
        return f"{path}: {problem}"
    close = difflib.get_close_matches(path, list(known), n=3, cutoff=0.75)
    return (
        f"{path}: no rule makes this file"
        + (f"; did you mean {' or '.join(close)}?" if close else ".")
        + " `snakemake -n` lists what the config makes; docs/<stage>.md describe each output."
    )


def unclaimed_pattern(product_patterns: Iterable[str]) -> str:
    """A regex for the paths under results/ (without the prefix) that match none of the given
    output or log patterns (Snakemake's wildcard regexes of every other rule)."""
    claimed = []
    for pattern in product_patterns:
        pattern = pattern.removesuffix("$")
        if not pattern.startswith("results/"):
            continue
        pattern = re.sub(r"\(\?P<\w+>", "(?:", pattern.removeprefix("results/"))
        claimed.append(re.sub(r"\(\?P=\w+\)", "(?:.+)", pattern))
    return f"(?!(?:{'|'.join(claimed)})$).+"
