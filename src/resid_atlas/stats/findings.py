"""One schema for every analysis's findings table: each claim of a study, this run's verdict for
one model, the evidence that decided it (effect, interval or p-value, n, rule; see
resid_atlas.stats.verdicts) and the number and figure behind it. The cross-model report stacks
these tables."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.tables import read_table
from resid_atlas.stats.verdicts import VERDICTS, Evidence

__all__ = ["FINDINGS_SCHEMA", "VERDICTS", "finding", "findings_frame", "write_findings"]

FINDINGS_SCHEMA = {
    "study": pl.String,  # seed id and short name, e.g. "000 beyond-gaussian"
    "claim_id": pl.String,  # stable key, e.g. "logistic-family-wins"
    "claim": pl.String,  # the claim in one sentence, as the study states it
    "model": pl.String,
    "verdict": pl.String,  # one of VERDICTS
    "value": pl.Float64,  # the headline number behind the verdict (NaN if none)
    "detail": pl.String,  # the numbers in words: what was measured and compared
    "figure": pl.String,  # path of the figure that shows it ("" if none)
    # The evidence (resid_atlas.stats.verdicts.Evidence); null where the rule has none.
    "effect": pl.Float64,  # the quantity the rule tested (a difference, rho, a share...)
    "ci_low": pl.Float64,  # its 95% interval (bootstrap or exact binomial)
    "ci_high": pl.Float64,
    "p_value": pl.Float64,  # one-sided p of the claimed direction
    "n": pl.Int64,  # units behind the effect (sentences, pairs, layers, models...)
    "rule": pl.String,  # the rule that decided the verdict, in words
}


def finding(
    study: str,
    claim_id: str,
    claim: str,
    model: str,
    evidence: Evidence,
    value: float | None,
    detail: str,
    figure: str | Path = "",
) -> dict:
    if not isinstance(evidence, Evidence):
        raise TypeError(
            f"{claim_id}: a finding takes an Evidence from resid_atlas.stats.verdicts, not "
            f"{evidence!r}"
        )
    return {
        "study": study,
        "claim_id": claim_id,
        "claim": claim,
        "model": model,
        "verdict": evidence.verdict,
        "value": math.nan if value is None else float(value),
        "detail": detail,
        "figure": str(figure),
        "effect": evidence.effect,
        "ci_low": evidence.ci_low,
        "ci_high": evidence.ci_high,
        "p_value": evidence.p_value,
        "n": evidence.n,
        "rule": evidence.rule,
    }


def findings_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def write_findings(rows: list[dict], path: str | Path) -> None:
    write_parquet(findings_frame(rows), path)


def stack_findings(findings: list[str], out: str) -> None:
    """Step `<stage> findings`: one stage's per-dataset/per-model findings tables stacked into
    results/<stage>/findings.parquet, the file the report's findings view reads."""
    frames = [read_table(path) for path in findings]
    stacked = pl.concat(frames) if frames else pl.DataFrame(schema=FINDINGS_SCHEMA)
    write_parquet(stacked.cast(FINDINGS_SCHEMA), out)
