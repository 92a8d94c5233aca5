"""Reading activation shards (`layer_<L>.npy` of an extraction folder): every analysis goes
through `load_layer`, which checks a shard against its index (rows) and the extraction's
meta.json (width, depth) and turns a damaged file into one message with the way to remake it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError, remake
from resid_atlas.core.tables import read_table

INDEX_COLUMNS = ("row", "id", "pair", "subject", "attribute")
CHUNK_ROWS = 4096  # finiteness is checked in slices: a shard of a large model stays mapped


def read_meta(meta: str | Path) -> dict:
    meta = Path(meta)
    try:
        data = json.loads(meta.read_text())
        int(data["d_model"]), int(data["n_layers"])
    except FileNotFoundError:
        raise AtlasError(f"{meta}: not found; run snakemake to extract the activations.") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AtlasError(
            f"{meta}: not an extraction's meta.json ({type(exc).__name__}: {exc}); {remake(meta)}."
        ) from None
    return data


def load_index(index: str | Path) -> pl.DataFrame:
    table = read_table(index)
    missing = [c for c in INDEX_COLUMNS if c not in table.columns]
    if missing:
        raise AtlasError(f"{index}: missing column(s) {missing}; {remake(index)}.")
    return table


def load_layer(
    shard: str | Path, index: str | Path, meta: str | Path
) -> tuple[np.ndarray, pl.DataFrame]:
    """One shard (memory-mapped, float32 as stored) and its index table, checked: one row per
    index row, d_model columns, a layer the extraction has, every value finite. `meta` is the
    extraction's meta.json, named on the command line like the shard and the index."""
    shard = Path(shard)
    info = read_meta(meta)
    table = load_index(index)
    if not shard.is_file():
        raise AtlasError(f"{shard}: not found; run snakemake to extract the activations.")
    found = re.fullmatch(r"layer_(\d+)\.npy", shard.name)
    if found and int(found.group(1)) >= int(info["n_layers"]):
        raise AtlasError(
            f"{shard}: {meta} says the extraction has {info['n_layers']} layers, so this shard "
            f"is left from an earlier, deeper extraction; delete it."
        )
    try:
        x = np.load(shard, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise AtlasError(
            f"{shard}: not a readable .npy array ({type(exc).__name__}: {exc}); it was cut short "
            f"or overwritten: {remake(shard)}."
        ) from None
    width = int(info["d_model"])
    if x.ndim != 2 or x.shape[0] != table.height or x.shape[1] != width:
        raise AtlasError(
            f"{shard}: shape {x.shape}, but {index} lists {table.height} rows and {meta} says "
            f"d_model {width}: the files come from different extractions or the shard was "
            f"damaged; {remake(shard)}."
        )
    stored = info.get("stored_dtype", "float32")
    if x.dtype != np.dtype(stored):
        raise AtlasError(
            f"{shard}: dtype {x.dtype}, but {meta} says the extraction stored {stored}; the file "
            f"was rewritten: {remake(shard)}."
        )
    _check_finite(x, shard, table)
    return x, table


def _check_finite(x: np.ndarray, shard: Path, table: pl.DataFrame) -> None:
    for start in range(0, x.shape[0], CHUNK_ROWS):
        bad = ~np.isfinite(x[start : start + CHUNK_ROWS])
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            row += start
            rows = sum(
                int((~np.isfinite(x[s : s + CHUNK_ROWS])).any(axis=1).sum())
                for s in range(0, x.shape[0], CHUNK_ROWS)
            )
            raise AtlasError(
                f"{shard}: row {row} (sentence {table['id'][row]}), dimension {col} is "
                f"{x[row, col]} ({rows} rows have NaN/inf). The extraction refuses NaN/inf, so "
                f"the file was changed after it was written: {remake(shard)}; or drop those "
                "sentences from the corpus."
            )
