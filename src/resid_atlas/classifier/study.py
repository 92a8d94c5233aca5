"""One (dataset, model, protocol) run: read the activation shards, fit the densities on the
training split, score the test split under every requested variant, write each variant's tables
and figures, the single-layer sweep and the logistic-regression reference."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.activations.shards import load_layer
from resid_atlas.classifier import logreg
from resid_atlas.classifier.density import DensityModels, fit_densities
from resid_atlas.classifier.metrics import (
    accuracy_frame,
    confusion_frame,
    metrics_frame,
    predictions_frame,
    sinks_frame,
)
from resid_atlas.classifier.plots import plot_confusion, plot_f1, plot_layer_sweep
from resid_atlas.classifier.score import layer_scores
from resid_atlas.classifier.variants import Variant, parse_variant
from resid_atlas.core.atomic import write_json, write_parquet
from resid_atlas.core.errors import AtlasError, remake
from resid_atlas.core.tables import read_table

log = logging.getLogger(__name__)

VARIANT_FILES = ("predictions", "confusion", "metrics", "accuracy", "sinks")
VARIANT_FIGURES = ("confusion", "f1")
DENSITY_SCHEMA = {
    "model": pl.String,
    "layer": pl.Int32,
    "pair": pl.String,
    "n_values": pl.Int64,
    "lo": pl.Float64,
    "hi": pl.Float64,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "cut_lo": pl.Float64,
    "cut_hi": pl.Float64,
    "tail_share": pl.Float64,
}
SWEEP_SCHEMA = {
    "model": pl.String,
    "rule": pl.String,
    "extrapolation": pl.String,
    "layer": pl.Int32,
    "macro_f1_pair": pl.Float64,
    "macro_f1_subject": pl.Float64,
    "macro_f1_attribute": pl.Float64,
    "top1_pair": pl.Float64,
}


def load_activations(
    index_path: str | Path, shard_paths: list[str], meta: str | Path
) -> tuple[pl.DataFrame, list[np.ndarray]]:
    """The index and the shards named on the command line, shard k being layer k: never a
    folder listing, so a shard left over from a deeper model is never read."""
    index_path = Path(index_path)
    if not index_path.is_file():
        raise AtlasError(f"{index_path}: not found; build the activation shards first.")
    index = read_table(index_path)
    missing = {"row", "id", "pair", "subject", "attribute", "split"} - set(index.columns)
    if missing:
        raise AtlasError(
            f"{index_path}: missing column(s) {sorted(missing)}; {remake(index_path)}."
        )
    bad = index.filter(~pl.col("split").is_in(["train", "test"]))
    if not bad.is_empty():
        raise AtlasError(
            f"{index_path}: row {bad['row'][0]} has split '{bad['split'][0]}'; split must be "
            f"train or test: {remake(index_path)}."
        )
    if not shard_paths:
        raise AtlasError("no layer_<L>.npy shards given; build the activation shards.")
    shards = []
    for layer, path in enumerate(map(Path, shard_paths)):
        if path.stem != f"layer_{layer}":
            raise AtlasError(
                f"{path}: expected layer_{layer}.npy in position {layer} (one shard per layer, "
                "in layer order)."
            )
        shards.append(load_layer(path, index_path, meta)[0])  # checked by activations/shards.py
    return index.sort("row"), shards


def run_classifier(
    index_path: str | Path,
    shard_paths: list[str],
    meta: str | Path,
    model: str,
    settings: dict,
    out_dir: str | Path,
    variant_names: list[str],
    threads: int = 1,
    with_logreg: bool = True,
) -> dict:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    index, shards = load_activations(index_path, shard_paths, meta)
    n_layers = len(shards)
    variants = [parse_variant(v, n_layers) for v in variant_names]
    pairs = sorted(index["pair"].unique().to_list())
    train_rows = index.filter(pl.col("split") == "train")
    test = index.filter(pl.col("split") == "test")
    no_train = sorted(set(pairs) - set(train_rows["pair"].to_list()))
    if no_train:
        raise AtlasError(
            f"{index_path}: pair '{no_train[0]}' has no training sentences "
            f"({len(no_train)} such pairs); every pair needs some: add sentences or lower "
            "test_fraction."
        )
    if test.is_empty():
        raise AtlasError(f"{index_path}: no test sentences; set test_fraction > 0.")
    rows_by_pair = [train_rows.filter(pl.col("pair") == p)["row"].to_numpy() for p in pairs]
    test_rows = test["row"].to_numpy()
    needed = list(range(n_layers))  # every layer: the single-layer sweep reads them all
    t0 = time.perf_counter()
    train_vectors, test_vectors = [], []
    for layer in needed:
        shard = np.asarray(shards[layer], dtype=np.float64)
        train_vectors.append([shard[r] for r in rows_by_pair])
        test_vectors.append(shard[test_rows])
    models = fit_densities(
        train_vectors,
        pairs,
        needed,
        n_grid=settings["n_grid"],
        tail_density=settings["tail_density"],
        tail_window=settings["tail_window"],
        tail_rising=settings["tail_rising"],
        tail_no_mode=settings["tail_no_mode"],
        tail_walk=settings["tail_walk"],
    )
    fit_s = time.perf_counter() - t0
    write_parquet(density_frame(models, train_vectors, model), out_dir / "densities.parquet")

    t0 = time.perf_counter()
    scores: dict[tuple[str, str], np.ndarray] = {}
    for extrapolation in sorted({v.extrapolation for v in variants}):
        rules = sorted({v.rule for v in variants if v.extrapolation == extrapolation})
        per_rule = layer_scores(
            test_vectors,
            models,
            rules,
            eps=settings["eps"],
            extrapolation=extrapolation,
            min_tail=settings["min_tail"],
            threads=threads,
        )
        for rule, array in per_rule.items():
            scores[(rule, extrapolation)] = array
    score_s = time.perf_counter() - t0
    position = {layer: i for i, layer in enumerate(needed)}
    summary = {}
    for v in variants:
        array = scores[(v.rule, v.extrapolation)]
        total = array[:, :, [position[layer] for layer in v.layers]].sum(axis=2)
        summary[v.name] = write_variant(
            out_dir / v.name, model, v.name, test, pairs, total, settings["sink_factor"], v
        )
    frame = sweep_frame(scores, test, pairs, needed, model)
    write_parquet(frame, out_dir / "layer_sweep.parquet")
    plot_layer_sweep(frame, f"{model}: each layer scored alone", out_dir / "layer_sweep.png")
    logreg_s = 0.0
    if with_logreg:
        t0 = time.perf_counter()
        layers = settings["logreg"]["layers"] or list(range(n_layers))
        for layer in layers:
            if not 0 <= layer < n_layers:
                raise AtlasError(
                    f"classifier.logreg.layers: layer {layer} is outside 0..{n_layers - 1}."
                )
        train_all = train_rows["row"].to_numpy()
        x_train = np.concatenate([np.asarray(shards[layer])[train_all] for layer in layers], 1)
        x_test = np.concatenate([np.asarray(shards[layer])[test_rows] for layer in layers], 1)
        total = logreg.fit_score(
            x_train, train_rows["pair"].to_list(), x_test, pairs, settings["logreg"]
        )
        summary["logreg"] = write_variant(
            out_dir / "logreg", model, "logreg", test, pairs, total, settings["sink_factor"]
        )
        logreg_s = time.perf_counter() - t0
    meta = {
        "model": model,
        "activations": str(Path(index_path).parent),
        "variants": variant_names,
        "pairs": len(pairs),
        "layers": n_layers,
        "n_train": train_rows.height,
        "n_test": test.height,
        "seconds": {
            "fit": round(fit_s, 2),
            "score": round(score_s, 2),
            "logreg": round(logreg_s, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        "macro_f1": summary,
        "settings": settings,
    }
    write_json(meta, out_dir / "meta.json")
    log.info("classifier %s: %s", model, json.dumps(meta["seconds"]))
    return meta


def write_variant(
    out: Path,
    model: str,
    name: str,
    test: pl.DataFrame,
    pairs: list[str],
    total: np.ndarray,
    sink_factor: float,
    variant: Variant | None = None,
) -> dict:
    pred = predictions_frame(model, name, test, pairs, total)
    metrics = metrics_frame(pred, pairs, model, name)
    write_parquet(pred, out / "predictions.parquet")
    write_parquet(confusion_frame(pred, pairs, model, name), out / "confusion.parquet")
    write_parquet(metrics, out / "metrics.parquet")
    write_parquet(accuracy_frame(pred, model, name), out / "accuracy.parquet")
    write_parquet(sinks_frame(pred, pairs, model, name, sink_factor), out / "sinks.parquet")
    what = name if variant is None else f"{name} (layers {variant.layers[0]}-{variant.layers[-1]})"
    plot_confusion(pred, pairs, f"{model}, {what}", out / "confusion.png")
    plot_f1(metrics, f"{model}, {what}: F1 per class", out / "f1.png")
    macro = metrics.filter(pl.col("class") == "macro")
    return {level: f for level, f in macro.select("level", "f1").iter_rows()}


def density_frame(models: DensityModels, train_vectors, model: str) -> pl.DataFrame:
    rows = []
    for li, layer in enumerate(models.layers):
        for p, pair in enumerate(models.pairs):
            values = train_vectors[li][p]
            tail = (values < models.cut_lo[p, li]) | (values > models.cut_hi[p, li])
            rows.append(
                (
                    model,
                    layer,
                    pair,
                    int(values.size),
                    *(float(a[p, li]) for a in (models.lo, models.hi, models.mean, models.sd)),
                    float(models.cut_lo[p, li]),
                    float(models.cut_hi[p, li]),
                    float(tail.mean()),
                )
            )
    return pl.DataFrame(rows, schema=DENSITY_SCHEMA, orient="row")


def sweep_frame(scores, test: pl.DataFrame, pairs: list[str], layers: list[int], model: str):
    """Macro F1 with each layer scored alone, for every computed (rule, extrapolation)."""
    rows = []
    for (rule, extrapolation), array in scores.items():
        for li, layer in enumerate(layers):
            pred = predictions_frame(model, rule, test, pairs, array[:, :, li])
            macro = dict(
                metrics_frame(pred, pairs, model, rule)
                .filter(pl.col("class") == "macro")
                .select("level", "f1")
                .iter_rows()
            )
            top1 = float((pred["pred_pair"] == pred["pair"]).mean())
            rows.append(
                (
                    model,
                    rule,
                    extrapolation,
                    layer,
                    macro["pair"],
                    macro["subject"],
                    macro["attribute"],
                    top1,
                )
            )
    return pl.DataFrame(rows, schema=SWEEP_SCHEMA, orient="row")


def classify(
    index: str,
    shards: list[str],
    meta: str,
    model: str,
    settings: dict,
    variants: list[str],
    logreg: bool,
    out_dir: str,
    threads: int,
) -> None:
    """Step `classifier classify`: every scoring variant (and the logistic-regression reference
    when `logreg`) on one model's shards into `out_dir` (names: classifier/outputs.py)."""
    from resid_atlas.core.devices import set_threads

    set_threads(threads)
    run_classifier(
        index,
        shards,
        meta,
        model,
        settings,
        out_dir,
        variants,
        threads=threads,
        with_logreg=logreg,
    )
