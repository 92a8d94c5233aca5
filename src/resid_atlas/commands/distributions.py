"""fits, modes, distributions-summary: the distribution atlas of "Beyond Gaussian" (issue 4)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError

log = logging.getLogger(__name__)


def register(sub) -> None:
    for name, helptext in (
        ("fits", "fit the candidate families to every pair of one layer"),
        ("modes", "catalog the KDE modes of every pair of one layer"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--shard", required=True, help="activations/layer_<L>.npy")
        p.add_argument("--index", required=True, help="activations/index.parquet")
        p.add_argument("--model", required=True)
        p.add_argument("--layer", required=True, type=int)
        p.add_argument("--settings", required=True, type=json_arg, help="settings (JSON)")
        p.add_argument("--out", required=True)
        p.set_defaults(run=run_fits if name == "fits" else run_modes)
    p = sub.add_parser("distributions-summary", help="summaries, figures and findings per model")
    p.add_argument("--fits", nargs="+", required=True, help="fits/layer_<L>.parquet files")
    p.add_argument("--modes", nargs="+", required=True, help="modes/layer_<L>.parquet files")
    p.add_argument("--model", required=True)
    p.add_argument("--settings", required=True, type=json_arg, help="distributions (JSON)")
    p.add_argument("--acts-dir", help="activations/ folder, for the example-fit figure")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(run=run_summary)


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


def run_fits(args) -> None:
    from resid_atlas.distributions.fits import fit_layer

    shard, index = load_layer(args.shard, args.index)
    start = time.perf_counter()
    table = fit_layer(shard, index, args.model, args.layer, args.settings)
    log.info(
        "layer %d: %d rows in %.1f s; statuses %s",
        args.layer,
        table.height,
        time.perf_counter() - start,
        dict(table["status"].value_counts().iter_rows()),
    )
    write_parquet(table, args.out)


def run_modes(args) -> None:
    from resid_atlas.distributions.modes import modes_layer

    shard, index = load_layer(args.shard, args.index)
    start = time.perf_counter()
    table = modes_layer(shard, index, args.model, args.layer, args.settings)
    log.info("layer %d: %d modes in %.1f s", args.layer, table.height, time.perf_counter() - start)
    write_parquet(table, args.out)


def run_summary(args) -> None:
    from resid_atlas.distributions.summary import summarise

    summarise(
        args.fits,
        args.modes,
        args.model,
        args.settings,
        Path(args.out_dir),
        Path(args.acts_dir) if args.acts_dir else None,
    )
