"""Cross-model report tables: each workflow/sql/report/<name>.sql run against the atlas views and
written as Parquet and CSV. A table whose views no stage produced is written empty with a
`missing_views` column naming them, so the report still builds when an analysis is switched off."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from resid_atlas.core.atomic import atomic_path, write_parquet


def run_table(con: duckdb.DuckDBPyConnection, query: str, absent: set[str]) -> pl.DataFrame:
    needed = {name for name in absent if re.search(rf"\b{re.escape(name)}\b", query)}
    if needed:
        return pl.DataFrame({"missing_views": [", ".join(sorted(needed))]}).clear()
    return con.sql(query).pl()


def write_table(df: pl.DataFrame, out_dir: str | Path, name: str) -> None:
    out_dir = Path(out_dir)
    write_parquet(df, out_dir / f"{name}.parquet")
    with atomic_path(out_dir / f"{name}.csv") as tmp:
        df.write_csv(tmp)
