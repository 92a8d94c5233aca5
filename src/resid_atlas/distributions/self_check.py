"""The self-check of every run: on a seeded handful of pair samples, both fitting procedures
(`binned` and the authors' scipy `dist.fit`, fits.py) side by side, so a reader sees how much of
a family verdict is the method. One row per sample: each procedure's SSE-best family, whether
they agree, and the log-likelihood gaps (exact, on the raw values; > 0: the binned fit is the
better maximum-likelihood fit of that family)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl

from resid_atlas.core.tables import read_table
from resid_atlas.distributions.families import FitResult, exact_loglik
from resid_atlas.distributions.fits import fit_sample, layer_samples

SELF_CHECK_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "pair": pl.String,
    "n_values": pl.Int64,
    "best_binned": pl.String,
    "best_authors": pl.String,
    "agree": pl.Boolean,
    "sse_binned": pl.Float64,
    "sse_authors": pl.Float64,
    "loglik_gap_binned_best": pl.Float64,
    "loglik_gap_authors_best": pl.Float64,
    "authors_failed": pl.String,
}


def pick_samples(layers: list[int], pairs: list[str], n: int, seed: int) -> list[tuple[int, str]]:
    """`n` distinct (layer, pair) draws, seeded, in layer then pair order."""
    cells = [(layer, pair) for layer in sorted(layers) for pair in pairs]
    if n >= len(cells):
        return cells
    pick = np.random.default_rng(seed).choice(len(cells), size=n, replace=False)
    return [cells[i] for i in sorted(pick)]


def _gap(name: str | None, values: np.ndarray, binned: dict, authors: dict) -> float:
    """Exact log-likelihood of the binned fit minus the authors' fit of family `name`."""
    if name is None or name not in binned or name not in authors:
        return math.nan
    fits: tuple[FitResult, FitResult] = (binned[name], authors[name])
    ll = [exact_loglik(name, values, f.params) for f in fits]
    return ll[0] - ll[1] if all(math.isfinite(v) for v in ll) else math.nan


def check_sample(values: np.ndarray, settings: dict) -> dict:
    """Both procedures on one sample (the binned one cold: no pooled warm start)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    quiet = {**settings, "tail_log_fit": False}
    rows_b, fits_b = fit_sample(x, {**quiet, "procedure": "binned"})
    rows_a, fits_a = fit_sample(x, {**quiet, "procedure": "authors"})
    best_b = next((r for r in rows_b if r["best_sse"]), None)
    best_a = next((r for r in rows_a if r["best_sse"]), None)
    fb = best_b["family"] if best_b else None
    fa = best_a["family"] if best_a else None
    return {
        "n_values": x.size,
        "best_binned": fb,
        "best_authors": fa,
        "agree": fb is not None and fb == fa,
        "sse_binned": best_b["sse"] if best_b else math.nan,
        "sse_authors": best_a["sse"] if best_a else math.nan,
        "loglik_gap_binned_best": _gap(fb, x, fits_b, fits_a),
        "loglik_gap_authors_best": _gap(fa, x, fits_b, fits_a),
        "authors_failed": ",".join(r["family"] for r in rows_a if r["status"] == "failed"),
    }


def check_samples(
    load: Callable[[int], np.ndarray],
    layers: list[int],
    index: pl.DataFrame,
    model: str,
    settings: dict,
) -> pl.DataFrame:
    """The seeded pair samples checked; the draw is over every (layer, pair) cell of `layers`,
    `settings["self_check"]` = {samples, seed}; `load(layer)` gives a layer's shard."""
    check = settings["self_check"]
    pairs = index["pair"].unique(maintain_order=True).to_list()
    rows = []
    for layer, pair in pick_samples(layers, pairs, check["samples"], check["seed"]):
        values = next(v for p, _, _, v in layer_samples(load(layer), index) if p == pair)
        rows.append(
            {"model": model, "layer": layer, "pair": pair, **check_sample(values, settings)}
        )
    return pl.DataFrame(rows, schema=SELF_CHECK_SCHEMA)


def agreement_text(table: pl.DataFrame) -> str:
    """One sentence for the findings: the agreement rate of the two procedures."""
    if table.is_empty():
        return (
            "self-check of the fitting procedures: no samples (distributions.self_check.samples: 0)"
        )
    n, same = table.height, int(table["agree"].sum())
    gaps = table["loglik_gap_authors_best"].drop_nans().drop_nulls()
    gap = (
        f"; median log-likelihood gap on scipy's winner {gaps.median():+.1f} nats"
        if gaps.len()
        else ""
    )
    return (
        f"self-check: the binned and the authors' (scipy dist.fit) procedures pick the same "
        f"SSE-best family in {same} of {n} samples ({same / n:.0%}){gap}"
    )


def self_check(
    shards: list[str], index: str, meta: str, model: str, settings: dict, out: str
) -> None:
    """Step `distributions self_check`: the seeded samples of the shards named (layer_<L>.npy,
    one per fitted layer) checked into `out` (self_check.parquet)."""
    import logging
    import re
    import time
    from pathlib import Path

    from resid_atlas.activations.shards import load_layer
    from resid_atlas.core.atomic import write_parquet
    from resid_atlas.core.errors import AtlasError

    paths = {}
    for path in shards:
        m = re.fullmatch(r"layer_(\d+)\.npy", Path(path).name)
        if m is None:
            raise AtlasError(f"--shards: {path} is not a layer_<L>.npy shard.")
        paths[int(m[1])] = path
    rows = read_table(index)
    start = time.perf_counter()
    table = check_samples(
        lambda layer: load_layer(paths[layer], index, meta)[0], sorted(paths), rows, model, settings
    )
    logging.getLogger(__name__).info(
        "self-check: %d samples in %.1f s, %d agree",
        table.height,
        time.perf_counter() - start,
        int(table["agree"].sum()),
    )
    write_parquet(table, out)
