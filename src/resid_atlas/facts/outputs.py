"""File names of the facts stage (no torch import: the Snakefile plans with this module)."""

from __future__ import annotations

from resid_atlas.core.errors import AtlasError

TABLES = (
    "activations",
    "fits",
    "histograms",
    "outlier_dims",
    "outlier_jaccard",
    "massive",
    "weights",
    "gradients",
    "norms",
    "growth",
    "spectra",
    "powerlaw",
    "findings",
)
FIGURES = ("activations", "outliers", "weights", "spectra", "norms")


def table_path(model: str, name: str) -> str:
    return f"results/facts/{model}/{name}.parquet"


def figure_path(model: str, name: str) -> str:
    return f"results/facts/{model}/{name}.png"


def check_facts_config(config: dict) -> None:
    """The cross-references of the facts section that the schema cannot express."""
    facts = config["facts"]
    if facts["dataset"] not in config["datasets"]:
        raise AtlasError(
            f"config: facts.dataset is '{facts['dataset']}', which is not a dataset entry; use "
            f"one of: {', '.join(sorted(config['datasets']))}."
        )
    lo, hi = facts["powerlaw_ranks"]
    if not 0 <= lo < hi <= 1:
        raise AtlasError(
            f"config: facts.powerlaw_ranks is {facts['powerlaw_ranks']}; give two fractions "
            "0 <= lo < hi <= 1 of the spectrum's length, e.g. [0.01, 0.5]."
        )
    lo, hi = facts["tail_range"]
    if not 0 <= lo < hi <= facts["hist_range"]:
        raise AtlasError(
            f"config: facts.tail_range is {facts['tail_range']}; give 0 <= lo < hi <= "
            f"facts.hist_range ({facts['hist_range']}), in sd units, e.g. [2, 10]."
        )
