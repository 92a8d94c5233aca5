"""One schema for every analysis's findings table: each claim of a study, this run's verdict for
one model, and the number and figure behind it. The cross-model report stacks these tables."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from resid_atlas.core.atomic import write_parquet

VERDICTS = ("holds", "does not hold", "inconclusive", "not run")
FINDINGS_SCHEMA = {
    "study": pl.String,  # seed id and short name, e.g. "000 beyond-gaussian"
    "claim_id": pl.String,  # stable key, e.g. "logistic-family-wins"
    "claim": pl.String,  # the claim in one sentence, as the study states it
    "model": pl.String,
    "verdict": pl.String,  # one of VERDICTS
    "value": pl.Float64,  # the headline number behind the verdict (NaN if none)
    "detail": pl.String,  # the numbers in words: what was measured and compared
    "figure": pl.String,  # path of the figure that shows it ("" if none)
}


def finding(
    study: str,
    claim_id: str,
    claim: str,
    model: str,
    verdict: str,
    value: float | None,
    detail: str,
    figure: str | Path = "",
) -> dict:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    return {
        "study": study,
        "claim_id": claim_id,
        "claim": claim,
        "model": model,
        "verdict": verdict,
        "value": math.nan if value is None else float(value),
        "detail": detail,
        "figure": str(figure),
    }


def findings_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def write_findings(rows: list[dict], path: str | Path) -> None:
    write_parquet(findings_frame(rows), path)


def stack_findings(findings: list[str], out: str) -> None:
    """Step `<stage> findings`: one stage's per-dataset/per-model findings tables stacked into
    results/<stage>/findings.parquet, the file the report's findings view reads."""
    frames = [pl.read_parquet(path) for path in findings]
    stacked = pl.concat(frames) if frames else pl.DataFrame(schema=FINDINGS_SCHEMA)
    write_parquet(stacked.cast(FINDINGS_SCHEMA), out)
