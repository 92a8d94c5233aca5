"""Files of the report stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/report"
ATLAS = f"{DIR}/atlas.duckdb"
PAGE = f"{DIR}/findings.html"
FIGURES = ("depth", "family_shares", "classifier_f1", "plateau_thresholds", "sharpness")


def table(name: str, ext: str) -> str:
    return f"{DIR}/{name}.{ext}"


def figure(name: str) -> str:
    return f"{DIR}/{name}.png"


def targets() -> list[str]:
    return [ATLAS, PAGE]
