"""Files of the corpus stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/corpus/{dataset}"
VIOLATIONS = f"{DIR}/violations.parquet"
CORPUS = f"{DIR}/corpus.parquet"
SUMMARY = f"{DIR}/summary.parquet"
SUMMARY_FIGURE = f"{DIR}/summary.png"
FINDINGS = f"{DIR}/findings.parquet"
STAGE_FINDINGS = "results/corpus/findings.parquet"
DOWNLOAD_DIR = "resources/downloads/levinson-2024"


def targets(config: dict) -> list[str]:
    per_dataset = [
        path.format(dataset=dataset)
        for dataset in config["atlas"]["datasets"]
        for path in (SUMMARY, SUMMARY_FIGURE, FINDINGS)
    ]
    return [*per_dataset, STAGE_FINDINGS]
