"""`report`: the DuckDB atlas, cross-model tables and figures, and the findings page."""

from __future__ import annotations

from resid_atlas.cli import add_stage, add_step


def register(sub) -> None:
    steps = add_stage(sub, "report", "the cross-model report over every analysis")
    p = add_step(steps, "build", "resid_atlas.report.build:build",
                 "atlas.duckdb, tables, figures, findings.html")  # fmt: skip
    p.add_argument("--views", nargs="+", required=True, help="workflow/sql/views/*.sql")
    p.add_argument("--tables", nargs="+", required=True, help="workflow/sql/report/*.sql")
    p.add_argument("--inputs", nargs="*", default=[], help="the analysis outputs the views read")
    p.add_argument("--out-dir", required=True, help="results/report")
