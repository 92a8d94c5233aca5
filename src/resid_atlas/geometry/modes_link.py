"""The link to distributions: per layer, correlation across subject:attribute pairs between the
characteristics of each pair's minor-mode catalog (the distribution atlas's
modes/layer_<L>.parquet, schema resid_atlas.distributions.modes.MODES_SCHEMA) and its attraction
score.

Per (layer, pair), from the rows with status "ok" (the pooled sample is left out):
    n_modes, n_left, n_right, n_minor (= n_left + n_right)
    minor_max_height    highest minor mode relative to the main peak (0: no minor mode)
    minor_total_volume  sum of the minor modes' volumes (height x spread; 0: none)
    main_volume, main_spread
    minor_mean_distance_sd  mean |distance from the main mode| of minor modes in sd (null: none)
Each is correlated (Spearman by default) with the signed score and with |score|; p-values get a
Benjamini-Hochberg q-value over all tests of a (model, variant).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
from scipy import stats

from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.geometry.published import STUDY
from resid_atlas.geometry.summary import headline_variant
from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import finding

POOLED = "(pooled)"  # the distribution atlas's pair key of the all-pairs sample
MODE_COLUMNS = (
    "layer",
    "pair",
    "status",
    "side",
    "rel_height",
    "volume",
    "spread",
    "n_left",
    "n_right",
    "dist_main_sd",
)
CHARACTERISTICS = (
    "n_modes",
    "n_left",
    "n_right",
    "n_minor",
    "minor_max_height",
    "minor_total_volume",
    "main_volume",
    "main_spread",
    "minor_mean_distance_sd",
)
TARGETS = ("score", "abs_score")
CORRELATION_SCHEMA = {
    "dataset": pl.String,
    "model": pl.String,
    "layer": pl.Int32,
    "variant": pl.String,
    "characteristic": pl.String,  # one of CHARACTERISTICS
    "target": pl.String,  # score | abs_score
    "method": pl.String,  # spearman | pearson
    "n_pairs": pl.Int32,  # pairs with both values
    "r": pl.Float64,
    "p_value": pl.Float64,
    "q_value": pl.Float64,  # Benjamini-Hochberg over the (model, variant)'s ok tests
    "status": pl.String,  # ok | too few pairs | constant values
}


def read_modes(paths: list[str]) -> pl.DataFrame:
    frames = []
    for path in paths:
        df = read_table(path)
        missing = [c for c in MODE_COLUMNS if c not in df.columns]
        if missing:
            raise AtlasError(
                f"{path}: mode catalog lacks column(s) {missing}; it does not follow "
                "resid_atlas.distributions.modes.MODES_SCHEMA: re-run the modes stage."
            )
        frames.append(df.select(MODE_COLUMNS))
    return pl.concat(frames)


def pair_characteristics(modes: pl.DataFrame) -> pl.DataFrame:
    """One row per (layer, pair) with the CHARACTERISTICS columns."""
    ok = modes.filter((pl.col("status") == "ok") & (pl.col("pair") != POOLED))
    minor = pl.col("side") != "main"
    main = pl.col("side") == "main"
    out = ok.group_by("layer", "pair").agg(
        n_modes=pl.len(),
        n_left=pl.col("n_left").first(),
        n_right=pl.col("n_right").first(),
        minor_max_height=pl.col("rel_height").filter(minor).max().fill_null(0.0),
        minor_total_volume=pl.col("volume").filter(minor).sum(),
        main_volume=pl.col("volume").filter(main).first(),
        main_spread=pl.col("spread").filter(main).first(),
        minor_mean_distance_sd=pl.col("dist_main_sd").filter(minor).abs().mean(),
    )
    out = out.with_columns(n_minor=pl.col("n_left") + pl.col("n_right"))
    return out.select("layer", "pair", *CHARACTERISTICS).cast({"layer": pl.Int32})


def _correlate(x: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float, str]:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return math.nan, math.nan, "too few pairs"
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, "constant values"
    res = stats.spearmanr(x, y) if method == "spearman" else stats.pearsonr(x, y)
    return float(res.statistic), float(res.pvalue), "ok"


def correlate(scores: pl.DataFrame, modes: pl.DataFrame, settings: dict) -> pl.DataFrame:
    """The correlation table (CORRELATION_SCHEMA) of every layer the mode catalogs cover."""
    chars = pair_characteristics(modes)
    if chars.height == 0:
        raise AtlasError(
            "the mode catalogs hold no pair with status 'ok'; check the modes stage's log "
            "(too few values per pair?)."
        )
    joined = scores.join(chars, on=["layer", "pair"], how="inner")
    if joined.height == 0:
        raise AtlasError(
            "no (layer, pair) is in both the geometry scores and the mode catalogs; they come "
            "from different datasets or models."
        )
    method = settings["correlation"]
    rows = []
    for (dataset, model, layer, variant), part in joined.group_by(
        ["dataset", "model", "layer", "variant"], maintain_order=True
    ):
        targets = {"score": part["score"].to_numpy(), "abs_score": part["score"].abs().to_numpy()}
        for name in CHARACTERISTICS:
            x = part[name].cast(pl.Float64).fill_null(math.nan).to_numpy()
            for target, y in targets.items():
                r, p, status = _correlate(x, y, method)
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "layer": layer,
                        "variant": variant,
                        "characteristic": name,
                        "target": target,
                        "method": method,
                        "n_pairs": int((np.isfinite(x) & np.isfinite(y)).sum()),
                        "r": r,
                        "p_value": p,
                        "q_value": math.nan,
                        "status": status,
                    }
                )
    table = pl.DataFrame(rows, schema=CORRELATION_SCHEMA)
    parts = []
    for _, part in table.group_by("variant", maintain_order=True):
        p = part["p_value"].to_numpy()
        q = np.full(len(p), math.nan)
        ok = np.isfinite(p)
        if ok.any():
            q[ok] = stats.false_discovery_control(p[ok], method="bh")
        parts.append(part.with_columns(q_value=pl.Series(q)))
    return pl.concat(parts).sort("variant", "layer", "characteristic", "target")


def modes_findings(table: pl.DataFrame, model: str, settings: dict, figure: str) -> list[dict]:
    """One claim: mode characteristics correlate with the attraction differentials."""
    variant = headline_variant(table["variant"].unique(maintain_order=True).to_list())
    part = table.filter((pl.col("variant") == variant) & (pl.col("status") == "ok"))
    alpha = settings["alpha"]
    sig = part.filter(pl.col("q_value") < alpha)
    n, k = part.height, sig.height
    if n == 0:
        verdict = verdicts.inconclusive("no test could be computed", n=0)
        value, detail = None, "no test could be computed"
    else:
        verdict = replace(
            verdicts.count(k, n, f"correlation tests significant at BH q < {alpha}", 1, 1),
            p_value=part["q_value"].drop_nans().min(),  # the smallest q
        )
        value = k / n
        strongest = part.sort(pl.col("r").abs(), descending=True).row(0, named=True)
        common = sig.group_by("characteristic", "target").len().sort("len", descending=True).head(3)
        listing = ", ".join(f"{c} vs {t} ({m} layers)" for c, t, m in common.iter_rows())
        detail = (
            f"{variant} scores, {settings['correlation']} correlation across pairs per layer: "
            f"{k} of {n} tests significant at BH q < {alpha}"
            + (f", most often {listing}" if k else "")
            + f"; strongest r={strongest['r']:+.3f} ({strongest['characteristic']} vs "
            f"{strongest['target']}, layer {strongest['layer']}, q={strongest['q_value']:.2g})."
        )
    return [
        finding(
            STUDY,
            "mode-characteristics-correlate",
            "Mode characteristics of a pair's activation distribution correlate with its "
            "attraction score (differential) in the heatmap.",
            model,
            verdict,
            value,
            detail,
            figure,
        )
    ]


def modes(
    scores: list[str], modes: list[str], settings: dict, out: str, findings: str, figure: str
) -> None:
    """Step `geometry modes`: correlate each layer's mode characteristics with its scores."""
    from resid_atlas.core.atomic import write_parquet
    from resid_atlas.geometry.figures import modes_figure
    from resid_atlas.stats.findings import write_findings

    score_table = pl.concat([read_table(p) for p in scores])
    table = correlate(score_table, read_modes(modes), settings)
    write_parquet(table, out)
    model = score_table["model"][0]
    write_findings(modes_findings(table, model, settings, figure), findings)
    modes_figure(table, model, figure, settings["alpha"])
