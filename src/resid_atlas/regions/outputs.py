"""Files of the regions stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/regions/{model}"
CURVES = {
    "curves": f"{DIR}/curves.parquet",
    "sharpness": f"{DIR}/sharpness.parquet",
    "slices": f"{DIR}/slices.parquet",
    "anchors": f"{DIR}/slice_anchors.parquet",
    "meta": f"{DIR}/meta.json",
}
CURVES_FIGURES = ("curves", "slices")
SUMMARY = {
    "summary": "results/regions/summary.parquet",
    "semantic": "results/regions/semantic.parquet",
}
STAGE_FINDINGS = "results/regions/findings.parquet"
SUMMARY_FIGURE = "results/regions/sharpness.png"


def figure(name: str) -> str:
    return f"{DIR}/{name}.png"


def targets(config: dict) -> list[str]:
    models = config["regions"]["models"]
    if not models:
        return []
    per_model = [
        path.format(model=model)
        for model in models
        for path in [*CURVES.values(), *map(figure, CURVES_FIGURES)]
    ]
    return [*per_model, *SUMMARY.values(), STAGE_FINDINGS, SUMMARY_FIGURE]
