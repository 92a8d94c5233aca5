"""The one reader of activation shards: a layer's [n_sentences, d_model] array and its row index,
checked against each other before any analysis uses them."""

from __future__ import annotations

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError


def load_layer(shard_path: str, index_path: str) -> tuple[np.ndarray, pl.DataFrame]:
    """The shard and its index, checked: same row count, every value finite."""
    try:
        shard = np.load(shard_path, mmap_mode="r")
        index = pl.read_parquet(index_path)
    except (OSError, ValueError) as exc:
        raise AtlasError(
            f"cannot read {shard_path} / {index_path}: {exc}; re-run the extraction rule."
        ) from None
    if shard.ndim != 2 or shard.shape[0] != index.height:
        raise AtlasError(
            f"{shard_path} has shape {shard.shape} but {index_path} lists {index.height} rows; "
            "the two come from different extractions: re-run the extraction rule."
        )
    missing = {"pair", "subject", "attribute"} - set(index.columns)
    if missing:
        raise AtlasError(f"{index_path} lacks column(s) {sorted(missing)}; re-run extraction.")
    shard = np.asarray(shard, dtype=np.float32)
    bad = ~np.isfinite(shard)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        sentence = index["id"][row] if "id" in index.columns else "?"
        raise AtlasError(
            f"{shard_path}: row {row} (sentence {sentence}), dimension {col} is "
            f"{shard[row, col]} ({int(bad.any(axis=1).sum())} rows have NaN/inf); "
            "re-extract in float32 or drop those sentences from the corpus."
        )
    return shard, index
