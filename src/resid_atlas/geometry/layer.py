"""One layer: attraction scores and the subject/attribute grouping view, per variant.

Variants: `raw` (the stored vectors), `centred` (minus the mean over the selected rows), `pca`
(scikit-learn PCA fitted on this layer's selected rows, keeping the fewest components that explain
`pca_variance` of the variance; PCA centres the rows first, as sklearn does; solver: `pca_solver`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.decomposition import PCA

from resid_atlas.core.errors import AtlasError
from resid_atlas.geometry.attraction import attraction_scores
from resid_atlas.geometry.cells import CellGrid, cell_grid
from resid_atlas.geometry.grouping import silhouette, within_between
from resid_atlas.geometry.similarity import set_similarity, unit_rows

log = logging.getLogger(__name__)

VARIANTS = ("raw", "centred", "pca")
SCORES_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "layer": pl.Int32,
    "variant": pl.String,  # raw | centred | pca
    "similarity": pl.String,  # pairwise | centroid
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,  # "<subject>:<attribute>", as in index.parquet
    "score": pl.Float64,  # subject_side - attribute_side; > 0: the subject attracts more
    "subject_side": pl.Float64,  # mean similarity to the cells sharing the subject
    "attribute_side": pl.Float64,  # mean similarity to the cells sharing the attribute
    "n_terms": pl.Int32,  # (other subject, other attribute) quadruples averaged
    "n_sentences": pl.Int32,  # sentences of this pair used
    "n_components": pl.Int32,  # dimensions of the variant's vectors
    "explained_variance": pl.Float64,  # share of variance kept (1 for raw and centred)
}
GROUPING_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "layer": pl.Int32,
    "variant": pl.String,
    "grouping": pl.String,  # subject | attribute
    "n_classes": pl.Int32,
    "within_cosine": pl.Float64,  # mean cosine of distinct sentences sharing the class
    "between_cosine": pl.Float64,  # mean cosine of sentences in different classes
    "gap": pl.Float64,  # within - between
    "silhouette": pl.Float64,  # sklearn silhouette_score of the class labels
    "n_rows": pl.Int32,  # sentences used
    "n_components": pl.Int32,
    "explained_variance": pl.Float64,
}


def pca_solver(n_rows: int, n_features: int) -> str:
    """sklearn's `covariance_eigh` (eigh of the d x d covariance: ~50x faster than a full SVD of
    12,960 x 576 on one core) when rows outnumber features, else the exact `full` SVD. Both give
    the same components up to sign, which cosines ignore (tests/test_geometry.py)."""
    return "covariance_eigh" if n_rows > n_features else "full"


def project(x: np.ndarray, variant: str, pca_variance: float) -> tuple[np.ndarray, int, float]:
    """(vectors of the variant, their dimension, share of variance kept)."""
    x = np.asarray(x, dtype=np.float64)
    if variant == "raw":
        return x, x.shape[1], 1.0
    if variant == "centred":
        return x - x.mean(axis=0), x.shape[1], 1.0
    if variant == "pca":
        pca = PCA(n_components=pca_variance, svd_solver=pca_solver(*x.shape))
        z = pca.fit_transform(x)
        return z, int(pca.n_components_), float(pca.explained_variance_ratio_.sum())
    raise AtlasError(f"geometry.variants has {variant!r}; use any of {VARIANTS}.")


def layer_tables(
    x: np.ndarray,
    grid: CellGrid,
    settings: dict,
    dataset: str,
    model: str,
    layer: int,
    where: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score rows (one per variant x pair) and grouping rows (one per variant x grouping).

    `x` holds the selected rows only (x[i] belongs to grid.labels[i]).
    """
    n_s, n_a = grid.shape
    keys = {"dataset": dataset, "model": model, "layer": layer}
    present = grid.present
    s_idx, a_idx = np.nonzero(present)
    scores, groups = [], []
    for variant in settings["variants"]:
        z, dim, kept = project(x, variant, settings["pca_variance"])
        here = f"{where}, variant {variant}"
        sim = set_similarity(z, grid.labels, grid.n_cells, settings["similarity"], here)
        att = attraction_scores(sim, present, here, (grid.subjects, grid.attributes))
        scores.append(
            pl.DataFrame(
                {
                    **{k: [v] * len(s_idx) for k, v in keys.items()},
                    "variant": variant,
                    "similarity": settings["similarity"],
                    "subject": [grid.subjects[s] for s in s_idx],
                    "attribute": [grid.attributes[a] for a in a_idx],
                    "pair": [
                        f"{grid.subjects[s]}:{grid.attributes[a]}"
                        for s, a in zip(s_idx, a_idx, strict=True)
                    ],
                    "score": att.score[s_idx, a_idx],
                    "subject_side": att.subject_side[s_idx, a_idx],
                    "attribute_side": att.attribute_side[s_idx, a_idx],
                    "n_terms": att.n_terms[s_idx, a_idx],
                    "n_sentences": grid.counts[s_idx, a_idx],
                    "n_components": dim,
                    "explained_variance": kept,
                }
            )
        )
        unit = unit_rows(z, here)
        for grouping, labels, n_classes in (
            ("subject", grid.subject_labels, n_s),
            ("attribute", grid.attribute_labels, n_a),
        ):
            within, between = within_between(unit, labels)
            sil = silhouette(
                z,
                labels,
                settings["silhouette_metric"],
                settings["silhouette_sample"],
                settings["seed"],
            )
            groups.append(
                {
                    **keys,
                    "variant": variant,
                    "grouping": grouping,
                    "n_classes": n_classes,
                    "within_cosine": within,
                    "between_cosine": between,
                    "gap": within - between,
                    "silhouette": sil,
                    "n_rows": len(labels),
                    "n_components": dim,
                    "explained_variance": kept,
                }
            )
        log.info(
            "layer %d %s: %d dims, mean |score| %.4f",
            layer,
            variant,
            dim,
            float(np.nanmean(np.abs(att.score))),
        )
    score_df = pl.concat(scores).select(list(SCORES_SCHEMA)).cast(SCORES_SCHEMA)
    group_df = pl.DataFrame(groups, schema=GROUPING_SCHEMA)
    _check_finite(score_df, group_df, where)
    return score_df, group_df


def _check_finite(scores: pl.DataFrame, groups: pl.DataFrame, where: str) -> None:
    for name, df, cols in (
        ("score", scores, ["score", "subject_side", "attribute_side"]),
        ("grouping", groups, ["within_cosine", "between_cosine", "silhouette"]),
    ):
        bad = df.filter(pl.any_horizontal(~pl.col(cols).is_finite()))
        if bad.height:
            raise AtlasError(
                f"{where}: non-finite {name} value in row {bad.row(0, named=True)}; the vectors "
                "are degenerate (all equal?): check the activation shard."
            )


def load_layer(
    shard: str | Path, index_path: str | Path, settings: dict, meta: str | Path
) -> tuple[np.ndarray, CellGrid]:
    """The selected rows of one shard and their cell grid (the shard checked by
    activations/shards.py)."""
    from resid_atlas.activations.shards import load_layer as load_shard

    x, index = load_shard(shard, index_path, meta)
    grid = cell_grid(index, settings["rows"], settings["min_per_pair"], str(index_path))
    return np.asarray(x[grid.rows], dtype=np.float64), grid


def layer(
    shard: str,
    index: str,
    meta: str,
    dataset: str,
    model: str,
    layer: int,
    settings: dict,
    scores: str,
    grouping: str,
    threads: int,
) -> None:
    """Step `geometry layer`: attraction scores and the grouping view of one layer."""
    from threadpoolctl import threadpool_limits

    from resid_atlas.core.atomic import write_parquet

    threadpool_limits(threads)  # BLAS threads = the cores Snakemake gave the job
    x, grid = load_layer(shard, index, settings, meta)
    log.info("%s: %d rows, %d subjects x %d attributes", shard, len(grid.rows), *grid.shape)
    score_table, grouping_table = layer_tables(x, grid, settings, dataset, model, layer, shard)
    write_parquet(score_table, scores)
    write_parquet(grouping_table, grouping)
