"""report: the DuckDB atlas, cross-model tables and figures, and the findings page."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from resid_atlas.report.atlas import build_atlas, sql_files
from resid_atlas.report.findings_page import write_page
from resid_atlas.report.tables import run_table, write_table

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="build results/report/: atlas.duckdb, tables, figures, findings.html"
    )
    p.add_argument("--sql-dir", required=True, help="workflow/sql (views/ and report/ inside)")
    p.add_argument("--out-dir", required=True, help="results/report")
    p.set_defaults(run=run_report)


def run_report(args) -> None:
    from resid_atlas.report.figures import (  # matplotlib: only in the job that draws
        classifier_figure,
        depth_figure,
        family_shares_figure,
        plateau_figure,
        sharpness_figure,
    )

    sql_dir, out = Path(args.sql_dir), Path(args.out_dir)
    catalog = build_atlas(out / "atlas.duckdb", sql_files(sql_dir / "views"))
    absent = set(catalog.filter(catalog["status"] == "absent")["view"])
    for row in catalog.iter_rows(named=True):
        log.info("view %-22s %-6s %d rows", row["view"], row["status"], row["n_rows"])
    tables = {}
    with duckdb.connect(str(out / "atlas.duckdb"), read_only=True) as con:
        for name, query in sql_files(sql_dir / "report").items():
            tables[name] = run_table(con, query, absent)
            write_table(tables[name], out, name)
            log.info("table %-22s %d rows", name, tables[name].height)
    depth_figure(tables["tails_modes_by_depth"], tables["attraction_by_depth"], out / "depth.png")
    family_shares_figure(tables["best_family_shares"], out / "family_shares.png")
    classifier_figure(tables["classifier_f1"], out / "classifier_f1.png")
    plateau_figure(tables["plateau_thresholds"], out / "plateau_thresholds.png")
    sharpness_figure(tables["sharpness"], out / "sharpness.png")
    write_page(tables["findings"], out / "findings.html")
