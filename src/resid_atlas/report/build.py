"""The cross-model report: the DuckDB atlas, cross-model tables and figures, the findings page."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from resid_atlas.core.errors import AtlasError
from resid_atlas.report.atlas import build_atlas, sql_files
from resid_atlas.report.figures import (
    classifier_figure,
    depth_figure,
    family_shares_figure,
    plateau_figure,
    sharpness_figure,
)
from resid_atlas.report.findings_page import write_page
from resid_atlas.report.tables import run_table, write_table

log = logging.getLogger(__name__)


def build(views: list[str], tables: list[str], inputs: list[str], out_dir: str) -> None:
    """Step `report build`: the DuckDB atlas (one view per file in `views`), the cross-model
    tables (one per file in `tables`, Parquet and CSV), figures and the findings page. The views
    read results/ by glob, so new models appear without code changes; `inputs` are the analysis
    outputs those globs cover (the rule declares them, so the report reruns when one changes)."""

    missing = [path for path in inputs if not Path(path).is_file()]
    if missing:
        raise AtlasError(
            f"{missing[0]}: not found ({len(missing)} inputs missing); run the analyses first."
        )
    out = Path(out_dir)
    table_sql = sql_files(tables)
    catalog = build_atlas(out / "atlas.duckdb", sql_files(views))
    absent = set(catalog.filter(catalog["status"] == "absent")["view"])
    for row in catalog.iter_rows(named=True):
        log.info("view %-22s %-6s %d rows", row["view"], row["status"], row["n_rows"])
    tables = {}
    with duckdb.connect(str(out / "atlas.duckdb"), read_only=True) as con:
        for name, query in table_sql.items():
            tables[name] = run_table(con, query, absent)
            write_table(tables[name], out, name)
            log.info("table %-22s %d rows", name, tables[name].height)
    depth_figure(tables["tails_modes_by_depth"], tables["attraction_by_depth"], out / "depth.png")
    family_shares_figure(tables["best_family_shares"], out / "family_shares.png")
    classifier_figure(tables["classifier_f1"], out / "classifier_f1.png")
    plateau_figure(tables["plateau_thresholds"], out / "plateau_thresholds.png")
    sharpness_figure(tables["sharpness"], out / "sharpness.png")
    write_page(tables["findings"], out / "findings.html")
