"""Across the layers of one (dataset, model): per-layer summaries, subject and attribute pulls, the
depth trend of distinctiveness, and the findings of the similarity part of study 000.

Pulls (docs/geometry.md): subject pull(s) = mean over attributes of score(s, a), attribute
pull(a) = -mean over subjects of score(s, a). Positive: that subject (attribute) attracts its
sentences more than the other side of the pair does; the highest pull is the most attracting,
the lowest the most repelling. Distinctiveness of a subject or attribute is |pull|.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import stats

from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.geometry.published import (
    GPT2_SMALL_PCA_MEAN_ABS,
    STUDY,
    STUDY_NAMED_ATTRIBUTES,
    STUDY_PERSISTENT_ATTRIBUTE,
)
from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import finding

SUMMARY_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "layer": pl.Int32,
    "rel_depth": pl.Float64,  # layer / (n_layers - 1)
    "variant": pl.String,
    "similarity": pl.String,
    "mean_abs_score": pl.Float64,  # distinctiveness: mean |score| over pairs
    "mean_score": pl.Float64,  # > 0: subjects attract more on average
    "share_positive": pl.Float64,  # share of pairs with score > 0
    "max_abs_score": pl.Float64,
    "top_subject": pl.String,  # most attracting subject (highest pull)
    "top_subject_pull": pl.Float64,
    "bottom_subject": pl.String,  # most repelling subject (lowest pull)
    "bottom_subject_pull": pl.Float64,
    "top_attribute": pl.String,
    "top_attribute_pull": pl.Float64,
    "bottom_attribute": pl.String,
    "bottom_attribute_pull": pl.Float64,
    "subject_silhouette": pl.Float64,
    "attribute_silhouette": pl.Float64,
    "subject_gap": pl.Float64,  # within - between cosine, subjects as classes
    "attribute_gap": pl.Float64,
    "groups_more_by": pl.String,  # subject | attribute: the higher silhouette
    "n_components": pl.Int32,
    "explained_variance": pl.Float64,
}
PULLS_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "layer": pl.Int32,
    "rel_depth": pl.Float64,
    "variant": pl.String,
    "kind": pl.String,  # subject | attribute
    "name": pl.String,
    "pull": pl.Float64,  # > 0: attracts more than the other side
    "rank": pl.Int32,  # 1 = most attracting in this layer
}
TREND_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "variant": pl.String,
    "n_layers": pl.Int32,
    "spearman_rho": pl.Float64,  # mean |score| against layer
    "p_value": pl.Float64,
    "first_mean_abs": pl.Float64,
    "last_mean_abs": pl.Float64,
    "ratio_last_first": pl.Float64,
    "max_layer": pl.Int32,  # layer of the largest mean |score|
    "min_layer": pl.Int32,
}


def _stack(frames: list[pl.DataFrame], what: str) -> pl.DataFrame:
    if not frames:
        raise AtlasError(f"no {what} tables given; run the geometry layer jobs first.")
    df = pl.concat(frames)
    keys = df.select("dataset", "model").unique()
    if keys.height != 1:
        raise AtlasError(
            f"{what} tables mix (dataset, model) pairs: {keys.rows()}; pass one model."
        )
    return df


def pulls(scores: pl.DataFrame, n_layers: int) -> pl.DataFrame:
    """Subject and attribute pulls per (layer, variant), ranked within the layer."""
    by = ["dataset", "model", "layer", "variant"]
    subj = scores.group_by([*by, "subject"]).agg(pull=pl.col("score").mean())
    attr = scores.group_by([*by, "attribute"]).agg(pull=-pl.col("score").mean())
    out = pl.concat(
        [
            subj.rename({"subject": "name"}).with_columns(kind=pl.lit("subject")),
            attr.rename({"attribute": "name"}).with_columns(kind=pl.lit("attribute")),
        ]
    )
    # Sorted first, so tied pulls (two subjects mirror each other) rank by name, not by the
    # group_by's order, which varies from run to run.
    out = out.sort([*by, "kind", "name"]).with_columns(
        rank=pl.col("pull").rank("ordinal", descending=True).over([*by, "kind"]),
        rel_depth=pl.col("layer") / max(n_layers - 1, 1),
    )
    return out.select(list(PULLS_SCHEMA)).cast(PULLS_SCHEMA).sort([*by[2:], "kind", "rank"])


def summarise(
    scores: list[pl.DataFrame], grouping: list[pl.DataFrame], n_layers: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(summary, pulls) from the per-layer score and grouping tables of one model."""
    sc = _stack(scores, "score")
    gr = _stack(grouping, "grouping")
    found = sorted(sc["layer"].unique().to_list())
    if found != list(range(n_layers)):
        raise AtlasError(f"score tables cover layers {found}, expected 0..{n_layers - 1}.")
    pl_df = pulls(sc, n_layers)
    by = ["dataset", "model", "layer", "variant"]
    base = sc.group_by(by).agg(
        similarity=pl.col("similarity").first(),
        mean_abs_score=pl.col("score").abs().mean(),
        mean_score=pl.col("score").mean(),
        share_positive=(pl.col("score") > 0).mean(),
        max_abs_score=pl.col("score").abs().max(),
        n_components=pl.col("n_components").first(),
        explained_variance=pl.col("explained_variance").first(),
    )
    for kind in ("subject", "attribute"):
        ranked = pl_df.filter(pl.col("kind") == kind)
        top = ranked.filter(pl.col("rank") == 1).select(
            *by, pl.col("name").alias(f"top_{kind}"), pl.col("pull").alias(f"top_{kind}_pull")
        )
        bottom = (
            ranked.sort("rank")
            .group_by(by)
            .agg(pl.col("name").last(), pl.col("pull").last())
            .rename({"name": f"bottom_{kind}", "pull": f"bottom_{kind}_pull"})
        )
        side = gr.filter(pl.col("grouping") == kind).select(
            *by,
            pl.col("silhouette").alias(f"{kind}_silhouette"),
            pl.col("gap").alias(f"{kind}_gap"),
        )
        base = base.join(top, on=by).join(bottom, on=by).join(side, on=by)
    summary = base.with_columns(
        rel_depth=pl.col("layer") / max(n_layers - 1, 1),
        groups_more_by=pl.when(pl.col("subject_silhouette") >= pl.col("attribute_silhouette"))
        .then(pl.lit("subject"))
        .otherwise(pl.lit("attribute")),
    )
    summary = summary.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA).sort("variant", "layer")
    return summary, pl_df


def trend(summary: pl.DataFrame) -> pl.DataFrame:
    """Per variant: Spearman correlation of mean |score| with depth, first vs last layer."""
    rows = []
    for (dataset, model, variant), part in summary.sort("layer").group_by(
        ["dataset", "model", "variant"], maintain_order=True
    ):
        y = part["mean_abs_score"].to_numpy()
        layer = part["layer"].to_numpy()
        if len(y) >= 3 and np.ptp(y) > 0:
            res = stats.spearmanr(layer, y)
            rho, p = float(res.statistic), float(res.pvalue)
        else:
            rho, p = math.nan, math.nan
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "variant": variant,
                "n_layers": len(y),
                "spearman_rho": rho,
                "p_value": p,
                "first_mean_abs": float(y[0]),
                "last_mean_abs": float(y[-1]),
                "ratio_last_first": float(y[-1] / y[0]) if y[0] > 0 else math.nan,
                "max_layer": int(layer[np.argmax(y)]),
                "min_layer": int(layer[np.argmin(y)]),
            }
        )
    return pl.DataFrame(rows, schema=TREND_SCHEMA).sort("variant")


def reference_trend() -> tuple[float, float]:
    """(Spearman rho, last/first ratio) of the published GPT2-small PCA series."""
    y = np.array(GPT2_SMALL_PCA_MEAN_ABS)
    rho = float(stats.spearmanr(np.arange(len(y)), y).statistic)
    return rho, float(y[-1] / y[0])


def headline_variant(variants: list[str]) -> str:
    """The study trusts the PCA variant most; otherwise the first configured."""
    return "pca" if "pca" in variants else variants[0]


def findings(
    summary: pl.DataFrame,
    pulls_df: pl.DataFrame,
    trend_df: pl.DataFrame,
    model: str,
    alpha: float,
    figures: dict[str, str],
) -> list[dict]:
    """The claims of the similarity part of study 000, judged on this model."""
    rows = []
    ref_rho, ref_ratio = reference_trend()
    for t in trend_df.iter_rows(named=True):
        variant = t["variant"]
        suffix = "" if variant == "pca" else f"-{variant}"
        rho, p = t["spearman_rho"], t["p_value"]
        part = summary.filter(pl.col("variant") == variant).sort("layer")
        shrinks = t["last_mean_abs"] < t["first_mean_abs"]
        verdict = verdicts.trend(
            part["layer"].to_numpy(),
            part["mean_abs_score"].to_numpy(),
            "mean |score| on layer",
            claimed="decreasing",
            alpha=alpha,
        )
        if part.height >= verdicts.MIN_TREND_POINTS:  # too few layers: no verdict at all
            verdict = verdicts.all_of(
                verdict,
                verdicts.threshold(
                    shrinks,
                    t["ratio_last_first"],
                    t["n_layers"],
                    "last layer's mean |score| below the first's",
                ),
            )
        rows.append(
            finding(
                STUDY,
                f"distinctiveness-shrinks-with-depth{suffix}",
                "Subject/attribute distinctiveness (mean |attraction score|) decreases "
                f"systematically through the layers ({variant} vectors).",
                model,
                verdict,
                rho,
                f"Spearman rho of mean |score| with layer {rho:.3f} (two-sided p={p:.2g}, "
                f"one-sided {_p(verdict.p_value)}, {t['n_layers']} layers); layer 0 "
                f"{t['first_mean_abs']:.4f} -> last {t['last_mean_abs']:.4f} "
                f"(ratio {t['ratio_last_first']:.3f}); largest at "
                f"layer {t['max_layer']}, smallest at layer {t['min_layer']}. Published "
                f"GPT2-small PCA: 0.750 -> 0.054 (ratio {ref_ratio:.3f}, rho {ref_rho:.3f}).",
                figures.get("depth", ""),
            )
        )
    variant = headline_variant(trend_df["variant"].to_list())
    attr = pulls_df.filter((pl.col("variant") == variant) & (pl.col("kind") == "attribute"))
    per_attr = (
        attr.group_by("name")
        .agg(
            distinct=pl.col("pull").abs().mean(),
            pull=pl.col("pull").mean(),
            times_top=(pl.col("rank") == 1).sum(),
        )
        .sort("distinct", "name", descending=[True, False])
    )
    names = per_attr["name"].to_list()
    top3 = names[:3]
    listing = "; ".join(
        f"{r['name']} (mean |pull| {r['distinct']:.4f}, mean pull {r['pull']:+.4f}, most "
        f"attracting in {r['times_top']} layers)"
        for r in per_attr.head(3).iter_rows(named=True)
    )
    missing = [a for a in STUDY_NAMED_ATTRIBUTES if a not in names]
    hits = sum(a in top3 for a in STUDY_NAMED_ATTRIBUTES)
    if missing:
        verdict, value = verdicts.not_run(f"the dataset lacks {missing}"), None
        note = f"the dataset lacks {missing}"
    else:
        verdict = verdicts.count(
            hits, len(STUDY_NAMED_ATTRIBUTES), "named attributes in the top 3 by mean |pull|", 2, 1
        )
        value = hits
        note = f"{hits} of the 3 named attributes are in this model's top 3"
    rows.append(
        finding(
            STUDY,
            "named-attributes-attract-most",
            "The attributes 'in an angry tone', 'in all lower case' and 'in a childish style' "
            "most consistently attract or repulse.",
            model,
            verdict,
            value,
            f"{variant} vectors, attributes ranked by mean |pull| over layers: {listing}; "
            f"{note} (holds: 2 or 3, does not hold: 0).",
            figures.get("heatmaps", ""),
        )
    )
    n_layers = int(summary["layer"].max()) + 1
    late = attr.filter(pl.col("layer") >= n_layers - max(1, n_layers // 3))
    late_rank = (
        late.group_by("name")
        .agg(distinct=pl.col("pull").abs().mean())
        .sort("distinct", "name", descending=[True, False])
        .with_row_index("rank", offset=1)
    )
    target = late_rank.filter(pl.col("name") == STUDY_PERSISTENT_ATTRIBUTE)
    if target.height == 0:
        verdict, value, detail = (
            verdicts.not_run(f"the dataset lacks '{STUDY_PERSISTENT_ATTRIBUTE}'"),
            None,
            f"the dataset lacks '{STUDY_PERSISTENT_ATTRIBUTE}'",
        )
    else:
        rank = int(target["rank"][0])
        verdict = verdicts.rank(
            rank,
            late_rank.height,
            f"'{STUDY_PERSISTENT_ATTRIBUTE}' by mean |pull| over the last layers",
            3,
            late_rank.height / 2,
        )
        value = rank
        detail = (
            f"{variant} vectors, last {late['layer'].n_unique()} layers: "
            f"'{STUDY_PERSISTENT_ATTRIBUTE}' ranks {rank} of {late_rank.height} attributes by "
            f"mean |pull| ({float(target['distinct'][0]):.4f}); top there: "
            f"{', '.join(late_rank['name'].head(3).to_list())} (holds: rank <= 3, does not "
            "hold: lower half)."
        )
    rows.append(
        finding(
            STUDY,
            "lower-case-stays-distinctive",
            "Some attributes, like 'in all lower case', keep stronger distinctiveness in later "
            "layers.",
            model,
            verdict,
            value,
            detail,
            figures.get("heatmaps", ""),
        )
    )
    return rows


def summary(
    scores: list[str],
    grouping: list[str],
    settings: dict,
    out_summary: str,
    out_pulls: str,
    out_trend: str,
    out_findings: str,
    depth_figure: str,
    grouping_figure: str,
) -> None:
    """Step `geometry summary`: per-layer summaries, pulls, the depth trend, the findings and
    two figures of one (dataset, model) from every layer's tables."""
    import logging
    from pathlib import Path

    from resid_atlas.core.atomic import write_parquet
    from resid_atlas.geometry import figures as draw
    from resid_atlas.stats.findings import write_findings

    score_frames = [read_table(p) for p in scores]
    grouping_frames = [read_table(p) for p in grouping]
    table, pull_table = summarise(score_frames, grouping_frames, n_layers=len(scores))
    trend_table = trend(table)
    model = table["model"][0]
    variant = headline_variant(settings["variants"])
    figs = {
        "depth": depth_figure,
        "heatmaps": str(Path(depth_figure).with_name(f"heatmaps_{variant}.png")),
    }
    rows = findings(table, pull_table, trend_table, model, settings["alpha"], figs)
    write_parquet(table, out_summary)
    write_parquet(pull_table, out_pulls)
    write_parquet(trend_table, out_trend)
    write_findings(rows, out_findings)
    draw.depth_figure(table, model, depth_figure)
    draw.grouping_figure(pl.concat(grouping_frames), model, grouping_figure)
    for r in rows:
        logging.getLogger(__name__).info("%s: %s (%s)", r["claim_id"], r["verdict"], r["detail"])


def _p(p: float | None) -> str:
    return "p n/a" if p is None else f"p={p:.2g}"
