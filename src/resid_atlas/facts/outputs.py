"""Files of the facts stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

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


DIR = "results/facts/{model}"
STAGE_FINDINGS = "results/facts/findings.parquet"
COMPARISON = "results/facts/trained_vs_init.parquet"


def table(name: str) -> str:
    return f"{DIR}/{name}.parquet"


def figure(name: str) -> str:
    return f"{DIR}/{name}.png"


def targets(config: dict) -> list[str]:
    per_model = [
        path.format(model=model)
        for model in config["facts"]["models"]
        for path in [*map(table, TABLES), *map(figure, FIGURES)]
    ]
    return [*per_model, STAGE_FINDINGS, COMPARISON]
