"""Per-model summaries, figures and findings of the distribution atlas (docs/studies.md, study 000).

Shares count pair samples only (the pooled sample of each layer is excluded)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from scipy.stats import mannwhitneyu

from resid_atlas.activations.shards import load_layer
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.plotting import save_figure
from resid_atlas.core.tables import read_table
from resid_atlas.distributions.families import pdf
from resid_atlas.distributions.fits import POOLED, layer_samples
from resid_atlas.distributions.self_check import agreement_text
from resid_atlas.distributions.tails import SHARE_COLUMNS
from resid_atlas.stats import verdicts
from resid_atlas.stats.bootstrap import paired_ci
from resid_atlas.stats.findings import finding, write_findings

STUDY = "000 beyond-gaussian"
LOGISTIC = ("logistic", "genlogistic", "hypsecant")
SHARES_SCHEMA = {
    "model": pl.String,
    "criterion": pl.String,
    "scope": pl.String,
    "key": pl.String,
    "family": pl.String,
    "n": pl.Int64,
    "share": pl.Float64,
}


def family_shares(fits: pl.DataFrame, model: str) -> pl.DataFrame:
    pairs = fits.filter(pl.col("pair") != POOLED)
    frames = []
    for crit in ("sse", "aic"):
        best = pairs.filter(pl.col(f"best_{crit}"))
        for scope, key in (("overall", None), ("layer", "layer"), ("attribute", "attribute")):
            keycol = pl.lit("all") if key is None else pl.col(key).cast(pl.String)
            counts = best.with_columns(key=keycol).group_by("key", "family").len("n")
            frames.append(
                counts.with_columns(
                    share=pl.col("n") / pl.col("n").sum().over("key"),
                    criterion=pl.lit(crit),
                    scope=pl.lit(scope),
                    model=pl.lit(model),
                )
            )
    out = pl.concat(frames, how="diagonal")
    return (
        out.select(list(SHARES_SCHEMA))
        .cast(SHARES_SCHEMA)
        # family breaks ties in share, so the order (and the findings text) is the same each run
        .sort(
            "criterion",
            "scope",
            "key",
            "share",
            "family",
            descending=[False, False, False, True, False],
        )
    )


def criteria_disagreement(fits: pl.DataFrame, model: str) -> pl.DataFrame:
    pairs = fits.filter(pl.col("pair") != POOLED)
    sse = pairs.filter(pl.col("best_sse")).select("layer", "pair", best_sse="family")
    aic = pairs.filter(pl.col("best_aic")).select("layer", "pair", best_aic="family")
    joined = sse.join(aic, on=["layer", "pair"], how="inner")
    return (
        joined.with_columns(agree=pl.col("best_sse") == pl.col("best_aic"), model=pl.lit(model))
        .group_by("model", "layer", "best_sse", "best_aic")
        .agg(n=pl.len(), agree=pl.col("agree").first())
        .sort("layer", "n", "best_sse", "best_aic", descending=[False, True, False, False])
    )


def tails_by_layer(fits: pl.DataFrame, model: str) -> pl.DataFrame:
    """Per layer over the SSE-best rows of the pair samples. The exponent's quantiles count only
    fits with status ok (a fit on a bound or failed is counted, never averaged in)."""
    best = fits.filter((pl.col("pair") != POOLED) & pl.col("best_sse"))
    ok = pl.col("tail_status").str.starts_with("ok")
    log_ok = pl.col("tail_log_status") == "ok"
    return (
        best.group_by("layer")
        .agg(
            n_samples=pl.len(),
            n_tail_ok=ok.sum(),
            n_tail_on_bound=pl.col("tail_status").str.starts_with("on bound").sum(),
            n_tail_failed=pl.col("tail_status").str.starts_with("failed").sum(),
            tail_a_median=pl.col("tail_a").filter(ok).median(),
            tail_a_q25=pl.col("tail_a").filter(ok).quantile(0.25),
            tail_a_q75=pl.col("tail_a").filter(ok).quantile(0.75),
            tail_log_a_median=pl.col("tail_log_a").filter(log_ok).median(),
            n_tail_log_on_bound=pl.col("tail_log_status").str.starts_with("on bound").sum(),
            t_share=(pl.col("family") == "t").mean(),
            t_df_median=pl.col("shape1").filter(pl.col("family") == "t").median(),
            logistic_share=pl.col("family").is_in(LOGISTIC).mean(),
            **{c: pl.col(c).mean() for c in SHARE_COLUMNS},
        )
        .with_columns(model=pl.lit(model))
        .sort("layer")
    )


def mode_stats(modes: pl.DataFrame) -> pl.DataFrame:
    """One row per sample: mode counts and the strongest secondary mode."""
    ok = modes.filter(pl.col("status") == "ok")
    return (
        ok.group_by("layer", "pair", "subject", "attribute")
        .agg(
            n_left=pl.col("n_left").first(),
            n_right=pl.col("n_right").first(),
            secondary_rel_height=pl.col("rel_height").filter(pl.col("side") != "main").max(),
            secondary_volume=pl.col("volume").filter(pl.col("side") != "main").max(),
            leftmost_dist_sd=pl.col("dist_main_sd").min(),
            rightmost_dist_sd=pl.col("dist_main_sd").max(),
        )
        .with_columns(
            pl.col("secondary_rel_height").fill_null(0.0), pl.col("secondary_volume").fill_null(0.0)
        )
    )


def modes_by(stats: pl.DataFrame, key: str, model: str) -> pl.DataFrame:
    return (
        stats.filter(pl.col("pair") != POOLED)
        .group_by(key)
        .agg(
            n_samples=pl.len(),
            n_left_mean=pl.col("n_left").mean(),
            n_right_mean=pl.col("n_right").mean(),
            secondary_rel_height_mean=pl.col("secondary_rel_height").mean(),
            secondary_volume_mean=pl.col("secondary_volume").mean(),
            leftmost_dist_sd_median=pl.col("leftmost_dist_sd").median(),
            rightmost_dist_sd_median=pl.col("rightmost_dist_sd").median(),
        )
        .with_columns(model=pl.lit(model))
        .sort(key)
    )


def _share(shares: pl.DataFrame, families) -> float:
    sel = shares.filter(
        (pl.col("criterion") == "sse")
        & (pl.col("scope") == "overall")
        & pl.col("family").is_in(list(families))
    )
    return float(sel["share"].sum())


def _best_count(fits: pl.DataFrame, families) -> tuple[int, int]:
    """(pair samples whose SSE-best family is one of `families`, pair samples)."""
    best = fits.filter((pl.col("pair") != POOLED) & pl.col("best_sse"))
    return int(best["family"].is_in(list(families)).sum()), best.height


def right_mode_change(pairs: pl.DataFrame, n_resamples: int, seed: int):
    """(value, low, high, n pairs): the change of the mean right-mode count from the first to
    the last layer (least-squares slope over relative depth 0..1), relative to its mean over the
    layers, with a bootstrap over pair samples (a resampled pair brings all its layers)."""
    wide = pairs.pivot(on="layer", index="pair", values="n_right", aggregate_function="first")
    layers = sorted(int(c) for c in wide.columns if c != "pair")
    mat = wide.select([str(layer) for layer in layers]).to_numpy().astype(np.float64)
    if len(layers) < 2:
        return math.nan, math.nan, math.nan, mat.shape[0]
    depth = (np.array(layers) - layers[0]) / (layers[-1] - layers[0])
    seen = np.isfinite(mat)
    values = np.where(seen, mat, 0.0)
    centred = depth - depth.mean()

    def relative_change(w):
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (w @ values) / (w @ seen)
            slope = (means - means.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
            return slope / means.mean(axis=1)

    value, low, high = paired_ci(relative_change, mat.shape[0], n_resamples, seed)
    return value, low, high, mat.shape[0]


def claims(
    shares: pl.DataFrame,
    fits: pl.DataFrame,
    stats: pl.DataFrame,
    by_layer: pl.DataFrame,
    model: str,
    figs: dict[str, str],
    rules: dict,
    check: pl.DataFrame | None = None,
) -> list[dict]:
    """The study's claims; `rules` is distributions.findings (alpha, constant_within,
    bootstrap, seed); `check` (self_check.parquet) adds the procedures' agreement rate to the
    family-share evidence."""
    alpha = rules["alpha"]
    rows = []
    agreement = f"; {agreement_text(check)}" if check is not None else ""
    top = shares.filter((pl.col("criterion") == "sse") & (pl.col("scope") == "overall"))
    top_txt = ", ".join(f"{f} {s:.1%}" for f, s in top.select("family", "share").head(5).rows())
    aic_log = _share(
        shares.with_columns(
            criterion=pl.when(pl.col("criterion") == "aic")
            .then(pl.lit("sse"))
            .otherwise(pl.lit("x"))
        ),
        LOGISTIC,
    )
    log_share = _share(shares, LOGISTIC)
    k, n = _best_count(fits, LOGISTIC)
    rows.append(
        finding(
            STUDY,
            "logistic-family-wins",
            "The logistic family (logistic, genlogistic, "
            "hypsecant) wins most fits (85% on Pythia).",
            model,
            verdicts.share(k, n, "the SSE-best share of the logistic family above 0.5", 0.5),
            log_share,
            f"SSE-best share of logistic+genlogistic+hypsecant over {top['n'].sum()} pair samples: "
            f"{log_share:.1%} (under AIC {aic_log:.1%}); top SSE families: {top_txt}{agreement}.",
            figs.get("family_shares", ""),
        )
    )
    t_share = _share(shares, ("t",))
    t_rows = fits.filter(
        (pl.col("pair") != POOLED) & pl.col("best_sse") & (pl.col("family") == "t")
    )
    df_txt = (
        f"t degrees of freedom {t_rows['shape1'].min():.2f}-{t_rows['shape1'].max():.2f} "
        f"(median {t_rows['shape1'].median():.2f})"
        if t_rows.height
        else "t never wins"
    )
    k, n = _best_count(fits, ("t",))
    rows.append(
        finding(
            STUDY,
            "heavier-t-tails",
            "Heavy-tailed t fits with low degrees of freedom are "
            "common (37% on GPT2, 7.4% on Pythia).",
            model,
            verdicts.share(
                k, n, "the SSE-best share of t at or above 20% (below 5%: does not hold)", 0.2, 0.05
            ),
            t_share,
            f"SSE-best share of t: {t_share:.1%}; {df_txt}; holds "
            f"at >= 20%, does not hold below 5%{agreement}.",
            figs.get("family_shares", ""),
        )
    )
    pairs = stats.filter(pl.col("pair") != POOLED)
    if pairs.height:
        n_left = int((pairs["n_left"] > 0).sum())
        n_right = int((pairs["n_right"] > 0).sum())
        left, right = n_left / pairs.height, n_right / pairs.height
        both = float(((pairs["n_left"] > 0) & (pairs["n_right"] > 0)).mean())
        evidence = verdicts.all_of(
            verdicts.share(n_left, pairs.height, "samples with a left minor mode >= 25%", 0.25),
            verdicts.share(n_right, pairs.height, "samples with a right minor mode >= 25%", 0.25),
        )
        rows.append(
            finding(
                STUDY,
                "minor-modes-both-sides",
                "Minor modes appear on both sides of the main mode.",
                model,
                evidence,
                both,
                f"pair samples with a left minor mode {left:.1%}, "
                f"with a right one {right:.1%}, with "
                f"both {both:.1%} (holds when each side has one in >= 25% of samples).",
                figs.get("modes", ""),
            )
        )
        rows.append(left_right_row(pairs, by_layer, model, figs, rules))
        rows.append(japanese_row(pairs, model, figs, alpha))
    return rows


JAPANESE = (
    "japanese-clearer-modes",
    "Japanese sentences show clearer, more distinct secondary modes.",
)


def japanese_row(pairs, model, figs, alpha) -> dict:
    """The Japanese attribute's strongest secondary mode is higher than the other attributes'
    (one-sided Mann-Whitney) and ranks among the top 3 attributes."""
    jap = [a for a in pairs["attribute"].unique().to_list() if "japanese" in a.lower()]
    if not jap:
        return finding(
            STUDY,
            *JAPANESE,
            model,
            verdicts.not_run("no attribute named like 'Japanese'"),
            None,
            "no attribute named like 'Japanese' in this dataset",
            "",
        )
    by_attr = pairs.group_by("attribute").agg(pl.col("secondary_rel_height").mean())
    by_attr = by_attr.sort("secondary_rel_height", descending=True)
    rank = by_attr["attribute"].to_list().index(jap[0]) + 1
    j = pairs.filter(pl.col("attribute") == jap[0])["secondary_rel_height"]
    o = pairs.filter(pl.col("attribute") != jap[0])["secondary_rel_height"]
    if o.len():
        p = float(mannwhitneyu(j, o, alternative="greater").pvalue)
        p_less = float(mannwhitneyu(j, o, alternative="less").pvalue)
    else:
        p = p_less = math.nan
    evidence = verdicts.all_of(
        verdicts.p_value(
            float(j.mean() - o.mean()) if o.len() else None,
            p,
            p_less,
            pairs.height,
            f"one-sided Mann-Whitney p < {alpha} that {jap[0]} samples' strongest "
            "secondary mode is higher than other attributes'",
            alpha,
        ),
        verdicts.rank(
            rank,
            by_attr.height,
            f"{jap[0]} by mean secondary-mode height among attributes",
            1,
            3,
        ),
    )
    return finding(
        STUDY,
        *JAPANESE,
        model,
        evidence,
        float(j.mean()),
        f"mean height of the strongest secondary mode (relative to the main one): "
        f"{jap[0]} {j.mean():.4f} vs other attributes {o.mean():.4f}; rank {rank} of "
        f"{by_attr.height} attributes; one-sided Mann-Whitney p = {p:.3g}.",
        figs.get("attributes", ""),
    )


def left_right_row(pairs, by_layer, model, figs, rules) -> dict:
    """Both halves of the claim: the mean left-mode count falls with depth (Spearman trend over
    layers) AND the right-mode count stays about constant (its relative change over the depth,
    with a pair bootstrap, within +-constant_within)."""
    per_layer = by_layer.drop_nulls("n_left_mean")
    tol = rules["constant_within"]
    left = verdicts.trend(
        per_layer["layer"].to_numpy(),
        per_layer["n_left_mean"].to_numpy(),
        "the mean left-mode count on layer",
        claimed="decreasing",
        alpha=rules["alpha"],
    )
    change, low, high, n_pairs = right_mode_change(pairs, rules["bootstrap"], rules["seed"])
    right = verdicts.within(
        change,
        low,
        high,
        n_pairs,
        "95% bootstrap CI (over pair samples) of the relative change of the mean right-mode "
        f"count from the first to the last layer within +-{tol}",
        tol,
    )
    if per_layer.height:
        first, last = per_layer["n_left_mean"][0], per_layer["n_left_mean"][-1]
        trend_txt = (
            f"left modes: Spearman rho(layer, mean count) = {_fmt(left.effect)} (one-sided p = "
            f"{_fmt(left.p_value, '.3g')}, {per_layer.height} layers), first layer {first:.2f}, "
            f"last {last:.2f}"
        )
    else:
        trend_txt = "left modes: no layer"
    detail = (
        f"{trend_txt}; right modes: mean count changes {_fmt(change, '+.1%')} over the depth "
        f"(95% CI [{_fmt(low, '+.1%')}, {_fmt(high, '+.1%')}], {n_pairs} pair samples; about "
        f"constant within +-{tol:.0%})."
    )
    return finding(
        STUDY,
        "left-modes-fall-with-depth",
        "The number of left modes falls with depth while right modes stay about constant.",
        model,
        verdicts.all_of(left, right),
        left.effect,
        detail,
        figs.get("modes", ""),
    )


def _fmt(x, spec: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def example_figure(values, fits: pl.DataFrame, modes: pl.DataFrame, title: str, path) -> None:
    """Histogram with the three SSE-best fits, linear and log density, modes marked."""
    x = np.asarray(values, dtype=np.float64).ravel()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    grid = np.linspace(x.min(), x.max(), 2000)
    best = fits.filter(pl.col("rank_sse").is_not_null()).sort("rank_sse").head(3)
    for ax, logy in zip(axes, (False, True), strict=True):
        ax.hist(x, bins=150, density=True, color="0.75", label="values (150 bins)")
        for r in best.iter_rows(named=True):
            shapes = [v for v in (r["shape1"], r["shape2"]) if not math.isnan(v)]
            ax.plot(
                grid,
                pdf(r["family"], grid, (*shapes, r["loc"], r["scale"])),
                label=f"{r['family']} (SSE {r['sse']:.2e})",
            )
        for r in modes.filter(pl.col("status") == "ok").iter_rows(named=True):
            ax.axvline(r["location"], color="k" if r["side"] == "main" else "r", lw=0.6, ls=":")
        if logy:
            ax.set_yscale("log")
            ax.set_ylim(1e-7, None)
        ax.set_xlabel("activation value")
        ax.set_ylabel("density")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    save_figure(fig, path)


def shares_figure(shares: pl.DataFrame, path) -> None:
    sel = shares.filter((pl.col("criterion") == "sse") & (pl.col("scope") == "layer"))
    fams = sel.group_by("family").agg(pl.col("n").sum()).sort("n", descending=True)["family"]
    layers = sorted({int(k) for k in sel["key"]})
    fig, ax = plt.subplots(figsize=(10, 4))
    bottom = np.zeros(len(layers))
    for fam in fams:
        d = dict(sel.filter(pl.col("family") == fam).select("key", "share").iter_rows())
        h = np.array([d.get(str(layer), 0.0) for layer in layers])
        ax.bar(layers, h, bottom=bottom, label=fam)
        bottom += h
    ax.set_xlabel("layer")
    ax.set_ylabel("share of SSE-best fits")
    ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    save_figure(fig, path)


def modes_figure(by_layer: pl.DataFrame, path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    layer = by_layer["layer"]
    axes[0].plot(layer, by_layer["n_left_mean"], "o-", label="left")
    axes[0].plot(layer, by_layer["n_right_mean"], "o-", label="right")
    axes[0].set_ylabel("minor modes per sample")
    axes[0].legend()
    axes[1].plot(layer, by_layer["secondary_rel_height_mean"], "o-")
    axes[1].set_ylabel("strongest secondary mode, rel. height")
    axes[1].set_yscale("log")
    axes[2].plot(layer, by_layer["leftmost_dist_sd_median"], "o-", label="leftmost")
    axes[2].plot(layer, by_layer["rightmost_dist_sd_median"], "o-", label="rightmost")
    axes[2].set_ylabel("distance from main mode (sd)")
    axes[2].legend()
    for ax in axes:
        ax.set_xlabel("layer")
    save_figure(fig, path)


def attributes_figure(stats: pl.DataFrame, path) -> None:
    pairs = stats.filter(pl.col("pair") != POOLED)
    table = pairs.group_by("attribute", "layer").agg(pl.col("secondary_rel_height").mean())
    attrs = sorted(table["attribute"].unique().to_list())
    layers = sorted(table["layer"].unique().to_list())
    mat = np.full((len(attrs), len(layers)), np.nan)
    for a, layer, v in table.iter_rows():
        mat[attrs.index(a), layers.index(layer)] = v
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(attrs) + 1.5))
    im = ax.imshow(np.log10(np.maximum(mat, 1e-6)), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(attrs)), attrs, fontsize=7)
    ax.set_xticks(range(len(layers)), layers, fontsize=7)
    ax.set_xlabel("layer")
    fig.colorbar(im, ax=ax, label="log10 mean strongest secondary-mode rel. height")
    save_figure(fig, path)


def summary(
    fits: list[str],
    modes: list[str],
    model: str,
    settings: dict,
    example_shard: str,
    example_layer: int,
    index: str,
    meta: str,
    out_dir: str,
    self_check: str | None = None,
) -> None:
    """Step `distributions summary`: family shares, criteria, tails and mode tables, figures and
    the findings of one (dataset, model) into `out_dir` (names: distributions/outputs.py); the
    example-fit figure reads `example_shard`, the shard of `example_layer`; the findings quote
    the agreement rate of the fitting procedures from `self_check` (self_check.parquet)."""
    fit_paths, mode_paths, out = fits, modes, Path(out_dir)
    fits = pl.concat([read_table(p) for p in fit_paths])
    modes = pl.concat([read_table(p) for p in mode_paths])
    out.mkdir(parents=True, exist_ok=True)
    shares = family_shares(fits, model)
    stats = mode_stats(modes)
    by_layer = modes_by(stats, "layer", model)
    figs = {
        "family_shares": out / "family_shares.png",
        "modes": out / "modes_by_layer.png",
        "attributes": out / "secondary_modes_by_attribute.png",
        "example": out / "fit_example.png",
    }
    write_parquet(shares, out / "family_shares.parquet")
    write_parquet(criteria_disagreement(fits, model), out / "criteria.parquet")
    write_parquet(tails_by_layer(fits, model), out / "tails_by_layer.parquet")
    write_parquet(by_layer, out / "modes_by_layer.parquet")
    write_parquet(modes_by(stats, "attribute", model), out / "modes_by_attribute.parquet")
    shares_figure(shares, figs["family_shares"])
    modes_figure(by_layer, figs["modes"])
    attributes_figure(stats, figs["attributes"])
    layer = example_layer
    pair = settings.get("figure_pair") or fits.filter(pl.col("pair") != POOLED)["pair"][0]
    if pair not in set(fits["pair"].unique().to_list()):
        raise AtlasError(
            f"distributions.figure_pair {pair!r} is not a pair of this dataset; use one of the "
            "'subject:attribute' keys in activations/index.parquet, or null."
        )
    shard, rows = load_layer(example_shard, index, meta)
    values = next(v for p, _, _, v in layer_samples(shard, rows) if p == pair)
    example_figure(
        values,
        fits.filter((pl.col("layer") == layer) & (pl.col("pair") == pair)),
        modes.filter((pl.col("layer") == layer) & (pl.col("pair") == pair)),
        f"{model} layer {layer}, {pair}",
        figs["example"],
    )
    write_findings(
        claims(
            shares,
            fits,
            stats,
            by_layer,
            model,
            {k: str(v) for k, v in figs.items()},
            settings["findings"],
            read_table(self_check) if self_check is not None else None,
        ),
        out / "findings.parquet",
    )
