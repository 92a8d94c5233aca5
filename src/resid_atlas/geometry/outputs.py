"""Files of the geometry stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/geometry/{dataset}/{model}"
SCORES = f"{DIR}/scores/layer_{{layer}}.parquet"
GROUPING = f"{DIR}/grouping/layer_{{layer}}.parquet"
SUMMARY_TABLES = ("summary", "pulls", "trend", "findings")
MODES_TABLES = ("modes_correlation", "modes_findings")
HEATMAP = f"{DIR}/figures/heatmaps_{{variant}}.{{ext}}"
STAGE_FINDINGS = "results/geometry/findings.parquet"
LAYER_SETTINGS = (
    "variants",
    "pca_variance",
    "similarity",
    "rows",
    "min_per_pair",
    "silhouette_metric",
    "silhouette_sample",
    "seed",
)
SUMMARY_SETTINGS = ("variants", "alpha")
HEATMAP_SETTINGS = ("gif_frame_ms",)
MODES_SETTINGS = ("correlation", "alpha")


def table(name: str) -> str:
    return f"{DIR}/{name}.parquet"


def figure(name: str) -> str:
    return f"{DIR}/figures/{name}.png"


def findings_files(config: dict) -> list[str]:
    """The per-model findings tables the stage's findings step stacks."""
    names = ("findings", "modes_findings") if config["geometry"]["modes"] else ("findings",)
    return [table(name) for name in names]


def targets(config: dict) -> list[str]:
    g = config["geometry"]
    tables = SUMMARY_TABLES + (MODES_TABLES if g["modes"] else ())
    figures = [figure(n) for n in ("depth", "grouping")]
    figures += [figure("modes_correlation")] if g["modes"] else []
    figures += [
        HEATMAP.replace("{variant}", v).replace("{ext}", ext)
        for v in g["variants"]
        for ext in ("png", "gif")
    ]
    return [
        path.format(dataset=dataset, model=model)
        for dataset in config["atlas"]["datasets"]
        for model in config["atlas"]["models"]
        for path in [*(table(n) for n in tables), *figures]
    ] + [STAGE_FINDINGS]
