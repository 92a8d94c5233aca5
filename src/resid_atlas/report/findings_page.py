"""results/report/findings.html: every claim of the five studies, its verdict per model, the
evidence that decided it (effect, 95% interval or p-value, n, rule), the numbers and a link to the
figure behind it. One self-contained page, readable on its own."""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import polars as pl

from resid_atlas.core.atomic import atomic_path

COLOURS = {
    "holds": "#d7f0d2",
    "does not hold": "#f7d4d0",
    "inconclusive": "#fbefc9",
    "not run": "#e6e6e6",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.4em 0.6em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.verdict { font-weight: 600; }
.detail { color: #555; font-size: 0.85em; }
.evidence { font-family: ui-monospace, monospace; font-size: 0.8em; margin: 0.2em 0; }
.rule { font-size: 0.8em; font-style: italic; margin-bottom: 0.2em; }
.legend span { padding: 0.2em 0.6em; margin-right: 0.5em; border-radius: 3px; }
"""


def _number(x) -> str | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def evidence_text(row: dict) -> str:
    """effect, [ci_low, ci_high], p and n in one line ("" when the row has none)."""
    parts = []
    if (effect := _number(row.get("effect"))) is not None:
        parts.append(f"effect {effect}")
    low, high = _number(row.get("ci_low")), _number(row.get("ci_high"))
    if low is not None and high is not None:
        parts.append(f"95% CI [{low}, {high}]")
    if (p := row.get("p_value")) is not None and not math.isnan(p):
        parts.append(f"p = {p:.3g}")
    if row.get("n") is not None:
        parts.append(f"n = {row['n']}")
    return "; ".join(parts)


def _cell(row: dict | None, page_dir: Path) -> str:
    if row is None:
        return (
            f'<td style="background:{COLOURS["not run"]}"><span class="verdict">not run</span></td>'
        )
    value = "" if row["value"] is None or math.isnan(row["value"]) else f" ({row['value']:.4g})"
    link = ""
    if row["figure"]:
        href = os.path.relpath(row["figure"], start=page_dir)
        link = f' <a href="{html.escape(href)}">figure</a>'
    return (
        f'<td style="background:{COLOURS.get(row["verdict"], "#fff")}">'
        f'<span class="verdict">{html.escape(row["verdict"])}</span>{value}{link}'
        f'<div class="evidence">{html.escape(evidence_text(row))}</div>'
        f'<div class="rule">rule: {html.escape(row.get("rule") or "")}</div>'
        f'<div class="detail">{html.escape(row["detail"])}</div></td>'
    )


def render(findings: pl.DataFrame, page_path: str | Path) -> str:
    page_dir = Path(page_path).parent
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>resid-atlas findings</title>",
        f"<style>{STYLE}</style></head><body><h1>resid-atlas: findings</h1>",
        "<p>Every claim of the five studies reproduced by this run, with its verdict for each "
        "model and the evidence that decided it: the effect, its 95% interval (bootstrap over "
        "sentences, pairs or curves, or exact binomial) or one-sided p-value, n, and the rule "
        "in words; then the numbers behind it and a link to the figure. Verdicts: ",
        '<span class="legend">'
        + "".join(f'<span style="background:{c}">{v}</span>' for v, c in COLOURS.items())
        + "</span></p>",
    ]
    counts = findings.group_by("model", "verdict").len().sort("model", "verdict")
    parts.append("<h2>Summary</h2><table><tr><th>model</th>")
    parts.append("".join(f"<th>{v}</th>" for v in COLOURS) + "</tr>")
    for model in sorted(findings["model"].unique()):
        row = {v: n for _, v, n in counts.filter(pl.col("model") == model).iter_rows()}
        parts.append(
            f"<tr><td>{html.escape(model)}</td>"
            + "".join(f"<td>{row.get(v, 0)}</td>" for v in COLOURS)
            + "</tr>"
        )
    parts.append("</table>")
    for study in sorted(findings["study"].unique()):
        part = findings.filter(pl.col("study") == study)
        models = sorted(part["model"].unique())
        parts.append(f"<h2>{html.escape(study)}</h2><table><tr><th>claim</th>")
        parts.append("".join(f"<th>{html.escape(m)}</th>" for m in models) + "</tr>")
        for claim_id in part["claim_id"].unique(maintain_order=True):
            rows = part.filter(pl.col("claim_id") == claim_id)
            by_model = {r["model"]: r for r in rows.iter_rows(named=True)}
            claim = rows["claim"][0]
            head = f"<b>{html.escape(claim)}</b><div class='detail'>{html.escape(claim_id)}</div>"
            parts.append(f"<tr><td>{head}</td>")
            parts.append("".join(_cell(by_model.get(m), page_dir) for m in models) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(findings: pl.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render(findings, path), encoding="utf-8")
