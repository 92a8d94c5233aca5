"""results/report/atlas.duckdb: one view per table family, each a glob over every model's and
dataset's Parquet files (workflow/sql/views/<family>.sql), so a new model appears with no code
change. Views hold relative paths: open the database from the repository root."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import polars as pl

from resid_atlas.core.atomic import atomic_path

log = logging.getLogger(__name__)

CATALOG_SCHEMA = {"view": pl.String, "status": pl.String, "n_rows": pl.Int64, "query": pl.String}


def sql_files(paths: list[str | Path]) -> dict[str, str]:
    """{name: SQL} of the given .sql files, in name order."""
    return {p.stem: p.read_text() for p in sorted(map(Path, paths), key=lambda p: p.stem)}


def create_views(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> pl.DataFrame:
    """Create each view whose files exist; a family no stage produced is listed as `absent`."""
    rows = []
    for name, query in views.items():
        try:
            con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {query}').fetchall()
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
            rows.append({"view": name, "status": "ok", "n_rows": n, "query": query})
        except duckdb.IOException as exc:
            if "No files found" not in str(exc):
                raise
            log.info("view %s: no files yet (%s)", name, str(exc).splitlines()[0])
            rows.append({"view": name, "status": "absent", "n_rows": 0, "query": query})
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA)


def build_atlas(path: str | Path, views: dict[str, str]) -> pl.DataFrame:
    """Write the database under a temporary name; rename it when every view is in place."""
    with atomic_path(path) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            catalog = create_views(con, views)
            con.register("catalog_frame", catalog.to_arrow())
            con.execute("CREATE TABLE atlas_catalog AS SELECT * FROM catalog_frame").fetchall()
            con.unregister("catalog_frame")
        finally:
            con.close()
    return catalog
