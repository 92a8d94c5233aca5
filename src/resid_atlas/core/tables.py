"""Reading the pipeline's own Parquet tables: a missing, empty or damaged file is one message
naming it and the way to remake it, never a reader's traceback."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from resid_atlas.core.errors import AtlasError, remake


def read_table(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise AtlasError(f"{path}: not found; run snakemake to make it.")
    try:
        return pl.read_parquet(path, columns=columns)
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise AtlasError(
            f"{path}: not a readable Parquet table ({type(exc).__name__}: {reason}); it was cut "
            f"short or overwritten: {remake(path)}."
        ) from None
