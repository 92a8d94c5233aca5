"""Across models: sharpness medians, quartiles and bootstrap CIs per (model, pairing, path), the
semantic check, and the findings of study 004 (trained vs random-init, size, training, meaning)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.stats import verdicts
from resid_atlas.stats.bootstrap import median_ci, median_sum_ci
from resid_atlas.stats.findings import finding

STUDY = "004 stable-regions"
SUMMARY_SCHEMA = {
    "model": pl.String,
    "pairing": pl.String,
    "path": pl.String,
    "steps": pl.Int32,
    "n_pairs": pl.Int32,
    "n_ok": pl.Int32,  # pairs with a defined curve (status ok)
    "median": pl.Float64,
    "q25": pl.Float64,
    "q75": pl.Float64,
    "ci_low": pl.Float64,  # bootstrap percentile CI of the median
    "ci_high": pl.Float64,
    "median_kl": pl.Float64,  # median sharpness of the KL curve
    "share_smooth": pl.Float64,
    "share_sharp": pl.Float64,
    "source": pl.String,
    "hf_id": pl.String,
    "revision": pl.String,
    "like": pl.String,
    "n_parameters": pl.Int64,
    "training_step": pl.Int64,  # 0 = random init, null = final release
    "trained": pl.Boolean,
}
SEMANTIC_SCHEMA = {
    "model": pl.String,
    "pairing": pl.String,
    "path": pl.String,
    "split_by": pl.String,  # same_top | relation
    "group": pl.String,  # shared / different, or the subject/attribute relation
    "n_pairs": pl.Int32,
    "n_smooth": pl.Int32,  # sharpness < smooth_below
    "n_sharp": pl.Int32,  # sharpness > sharp_above
    "share_smooth": pl.Float64,
    "share_sharp": pl.Float64,
    "median_sharpness": pl.Float64,
}


def load_runs(
    sharpness: list[str | Path], metas: list[str | Path]
) -> tuple[pl.DataFrame, dict[str, dict]]:
    """Every model's sharpness table and meta.json, given as two lists in the same model order."""
    if len(sharpness) != len(metas):
        raise AtlasError(
            f"{len(sharpness)} sharpness tables but {len(metas)} meta.json files; give one of "
            "each per model, in the same order."
        )
    pairs, by_model = [], {}
    for table, meta_path in zip(map(Path, sharpness), map(Path, metas), strict=True):
        for path in (table, meta_path):
            if not path.is_file():
                raise AtlasError(f"{path} is missing; run the regions stage for that model.")
        meta = json.loads(meta_path.read_text())
        by_model[meta["model"]] = meta
        pairs.append(read_table(table))
    return pl.concat(pairs), by_model


def summarise(pairs: pl.DataFrame, metas: dict, settings: dict) -> pl.DataFrame:
    smooth, sharp = settings["smooth_below"], settings["sharp_above"]
    rows = []
    keys = pairs.select("model", "pairing", "path").unique(maintain_order=True).rows()
    for i, (model, pairing, kind) in enumerate(keys):
        sub = pairs.filter(
            (pl.col("model") == model) & (pl.col("pairing") == pairing) & (pl.col("path") == kind)
        )
        ok = sub.filter(pl.col("status") == "ok")
        x = ok["sharpness"].to_numpy()
        _, lo, hi = median_ci(x, settings["bootstrap"], settings["seed"] + i)
        meta = metas[model]
        q = np.quantile(x, [0.25, 0.5, 0.75]) if x.size else [math.nan] * 3
        kl = ok["sharpness_kl"].drop_nans().drop_nulls()
        rows.append(
            {
                "model": model,
                "pairing": pairing,
                "path": kind,
                "steps": int(sub["steps"][0]),
                "n_pairs": sub.height,
                "n_ok": ok.height,
                "median": q[1],
                "q25": q[0],
                "q75": q[2],
                "ci_low": lo,
                "ci_high": hi,
                "median_kl": kl.median() if kl.len() else math.nan,
                "share_smooth": float(np.mean(x < smooth)) if x.size else math.nan,
                "share_sharp": float(np.mean(x > sharp)) if x.size else math.nan,
                "source": meta["source"],
                "hf_id": meta.get("id"),
                "revision": meta.get("revision"),
                "like": meta.get("like"),
                "n_parameters": meta["n_parameters"],
                "training_step": meta.get("training_step"),
                "trained": meta["source"] != "random-init",
            }
        )
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA)


def semantic_table(pairs: pl.DataFrame, settings: dict) -> pl.DataFrame:
    smooth, sharp = settings["smooth_below"], settings["sharp_above"]
    ok = pairs.filter(pl.col("status") == "ok").with_columns(
        shared=pl.when(pl.col("same_top")).then(pl.lit("shared")).otherwise(pl.lit("different"))
    )
    out = []
    for split_by, column in (("same_top", "shared"), ("relation", "relation")):
        sub = ok.filter(pl.col(column).is_not_null())
        agg = sub.group_by("model", "pairing", "path", column, maintain_order=True).agg(
            n_pairs=pl.len(),
            n_smooth=(pl.col("sharpness") < smooth).sum(),
            n_sharp=(pl.col("sharpness") > sharp).sum(),
            median_sharpness=pl.col("sharpness").median(),
        )
        out.append(
            agg.rename({column: "group"}).with_columns(
                split_by=pl.lit(split_by),
                share_smooth=pl.col("n_smooth") / pl.col("n_pairs"),
                share_sharp=pl.col("n_sharp") / pl.col("n_pairs"),
            )
        )
    table = pl.concat([t.select(list(SEMANTIC_SCHEMA)) for t in out])
    return table.cast(SEMANTIC_SCHEMA).sort("model", "pairing", "path", "split_by", "group")


def _headline(pairs: pl.DataFrame, model: str, settings: dict) -> pl.DataFrame:
    """The pairs behind the headline numbers: the first configured pairing and path."""
    return pairs.filter(
        (pl.col("model") == model)
        & (pl.col("pairing") == settings["pairings"][0])
        & (pl.col("path") == settings["paths"][0])
        & (pl.col("status") == "ok")
    )


def _fisher(table: list[list[int]]) -> tuple[float, float, float]:
    """Odds ratio, one-sided p (greater) and one-sided p (less) of a 2x2 table."""
    if min(sum(r) for r in table) == 0 or min(sum(c) for c in zip(*table, strict=True)) == 0:
        return math.nan, math.nan, math.nan
    greater = stats.fisher_exact(table, alternative="greater")
    less = stats.fisher_exact(table, alternative="less")
    return float(greater.statistic), float(greater.pvalue), float(less.pvalue)


def findings_rows(
    pairs: pl.DataFrame, summary: pl.DataFrame, settings: dict, figure: str
) -> list[dict]:
    smooth, sharp = settings["smooth_below"], settings["sharp_above"]
    steps = settings["steps"]
    rows = []
    head = summary.filter(
        (pl.col("pairing") == settings["pairings"][0]) & (pl.col("path") == settings["paths"][0])
    )
    models = head["model"].to_list()
    info = {r["model"]: r for r in head.iter_rows(named=True)}

    claim = (
        "Randomly initialised models have no stable regions: curves are straight (sharpness ~1)."
    )
    for r in head.filter(~pl.col("trained")).iter_rows(named=True):
        verdict = verdicts.interval(
            r["median"],
            r["ci_low"],
            r["ci_high"],
            r["n_ok"],
            f"95% bootstrap CI (over pairs) of the median sharpness below smooth_below {smooth}",
            claimed="less",
            bound=smooth,
        )
        rows.append(
            finding(
                STUDY,
                "random-init-straight",
                claim,
                r["model"],
                verdict,
                r["median"],
                f"median sharpness {r['median']:.3f} (IQR {r['q25']:.3f}-{r['q75']:.3f}, "
                f"{steps} steps, {r['n_ok']} pairs) vs the smooth threshold {smooth}",
                figure,
            )
        )

    claim = "Trained models have sharper region boundaries than their random-init twins."
    twins = {r["like"]: r["model"] for r in info.values() if not r["trained"] and r["like"]}
    for model in models:
        if not info[model]["trained"]:
            continue
        twin = twins.get(model)
        if twin is None:
            rows.append(
                finding(
                    STUDY,
                    "trained-sharper-than-init",
                    claim,
                    model,
                    verdicts.not_run("no random-init twin in regions.models"),
                    None,
                    "no random-init twin (an entry with like: this model) in regions.models",
                )
            )
            continue
        x = _headline(pairs, model, settings)["sharpness"].to_numpy()
        y = _headline(pairs, twin, settings)["sharpness"].to_numpy()
        diff, lo, hi = median_sum_ci([x, y], [1.0, -1.0], settings["bootstrap"], settings["seed"])
        p = stats.mannwhitneyu(x, y, alternative="greater").pvalue
        verdict = verdicts.interval(
            diff,
            lo,
            hi,
            x.size + y.size,
            f"95% bootstrap CI (over pairs, each model resampled) of the median sharpness "
            f"difference to {twin} above 0",
        )
        verdict = replace(verdict, p_value=float(p))
        rows.append(
            finding(
                STUDY,
                "trained-sharper-than-init",
                claim,
                model,
                verdict,
                diff,
                f"median sharpness {np.median(x):.3f} (IQR {info[model]['q25']:.3f}-"
                f"{info[model]['q75']:.3f}) vs {twin} {np.median(y):.3f} (IQR "
                f"{info[twin]['q25']:.3f}-{info[twin]['q75']:.3f}); difference {diff:.3f}, 95% "
                f"bootstrap CI [{lo:.3f}, {hi:.3f}]; Mann-Whitney one-sided p = {p:.2g}; "
                f"{steps} steps, {x.size}/{y.size} pairs",
                figure,
            )
        )

    rows.extend(_trend_rows(head, "n_parameters", figure))
    rows.extend(_trend_rows(head, "training_step", figure))

    for model in models:
        sub = _headline(pairs, model, settings)
        rows.append(_semantic_row(sub, model, "same_top", smooth, sharp, steps, figure))
        meaning = pairs.filter(
            (pl.col("model") == model)
            & (pl.col("pairing") == "meaning")
            & (pl.col("path") == settings["paths"][0])
            & (pl.col("status") == "ok")
        )
        rows.append(_semantic_row(meaning, model, "subject", smooth, sharp, steps, figure))
    return rows


def _semantic_row(sub, model, split, smooth, sharp, steps, figure) -> dict:
    if split == "same_top":
        claim_id = "same-prediction-same-region"
        claim = (
            "Activations from the same region give the same next-token prediction: pairs that "
            "share their top prediction have smooth curves more often than sharp ones."
        )
        mask = sub["same_top"].to_numpy() if sub.height else np.array([], bool)
        names = ("sharing their top token", "not sharing it")
    else:
        claim_id = "similar-prompts-same-region"
        claim = "Similar prompts lie in the same region: same-subject pairs are smoother."
        mask = (sub["subject_a"] == sub["subject_b"]).to_numpy() if sub.height else np.array([])
        names = ("of the same subject", "of different subjects")
    if sub.height == 0:
        return finding(
            STUDY, claim_id, claim, model, verdicts.not_run("no pairs"), None,
            "no pairs for this check",
        )  # fmt: skip
    x = sub["sharpness"].to_numpy()
    is_smooth, is_sharp = x < smooth, x > sharp
    table = [
        [int((is_smooth & mask).sum()), int((is_sharp & mask).sum())],
        [int((is_smooth & ~mask).sum()), int((is_sharp & ~mask).sum())],
    ]
    odds, p_more, p_less = _fisher(table)
    share = [t[0] / max(t[0] + t[1], 1) for t in table]
    detail = (
        f"pairs {names[0]}: {table[0][0]} smooth (< {smooth}) / {table[0][1]} sharp (> {sharp}); "
        f"{names[1]}: {table[1][0]} smooth / {table[1][1]} sharp ({steps} steps); smooth share "
        f"{share[0]:.2f} vs {share[1]:.2f}; Fisher odds ratio {odds:.3g}, one-sided p {p_more:.2g}"
    )
    evidence = verdicts.p_value(
        odds,
        p_more,
        p_less,
        int(sum(map(sum, table))),
        f"one-sided Fisher exact p < 0.05 that pairs {names[0]} are smooth (< {smooth}) rather "
        f"than sharp (> {sharp}) more often (odds ratio > 1)",
    )
    return finding(STUDY, claim_id, claim, model, evidence, odds, detail, figure)


def _trend_rows(head: pl.DataFrame, column: str, figure: str) -> list[dict]:
    """Spearman rank correlation of median sharpness with size (trained final models) or with the
    training step (each checkpoint series: one hf id, with its random-init twins as step 0)."""
    if column == "n_parameters":
        claim_id = "sharper-with-size"
        claim = "Boundaries get sharper as the number of parameters grows."
        pts = head.filter(pl.col("trained") & pl.col("training_step").is_null())
        series = {"final releases": pts}
    else:
        claim_id = "sharper-with-training"
        claim = "Boundaries get sharper as training progresses (checkpoints)."
        trained = head.filter(pl.col("trained") & pl.col("training_step").is_not_null())
        series = {}
        for hf_id in trained["hf_id"].unique(maintain_order=True).to_list():
            members = trained.filter(pl.col("hf_id") == hf_id)
            twins = head.filter(
                ~pl.col("trained") & pl.col("like").is_in(members["model"].to_list())
            )
            series[hf_id] = pl.concat([members, twins])
    if not series:
        return [
            finding(
                STUDY,
                claim_id,
                claim,
                ",".join(head["model"].to_list()),
                verdicts.not_run("no checkpoint series"),
                None,
                "no checkpoint series: list hf models of one id with step revisions "
                "(e.g. Pythia stepN) in regions.models",
            )
        ]
    rows = []
    for name, pts in series.items():
        pts = pts.filter(pl.col(column).is_not_null())
        label = ",".join(pts["model"].to_list()) or name
        if pts[column].n_unique() < 3:
            rows.append(
                finding(
                    STUDY,
                    claim_id,
                    claim,
                    label,
                    verdicts.not_run(f"fewer than 3 distinct {column}"),
                    None,
                    f"{name}: needs at least 3 models with distinct {column} in regions.models "
                    f"(has {pts[column].n_unique()})",
                )
            )
            continue
        evidence = verdicts.trend(
            pts[column].to_numpy(), pts["median"].to_numpy(), f"median sharpness on {column}"
        )
        rho, p = evidence.effect, evidence.p_value
        pairs = ", ".join(
            f"{m}: {v} -> {s:.2f}" for m, v, s in pts.select("model", column, "median").rows()
        )
        rows.append(
            finding(
                STUDY,
                claim_id,
                claim,
                label,
                evidence,
                rho,
                f"{name}: Spearman rho {_fmt(rho, '.3f')} (one-sided p = {_fmt(p, '.2g')}, "
                f"{pts.height} models) of median sharpness on {column}; {pairs}",
                figure,
            )
        )
    return rows


def summary(
    sharpness: list[str],
    meta: list[str],
    settings: dict,
    out_summary: str,
    out_semantic: str,
    out_findings: str,
    figure: str,
) -> None:
    """Step `regions summary`: the cross-model summary, semantic check, findings and figure."""
    from resid_atlas.core.atomic import write_parquet
    from resid_atlas.regions.plots import plot_summary
    from resid_atlas.stats.findings import write_findings

    pairs, metas = load_runs(sharpness, meta)
    table = summarise(pairs, metas, settings)
    plot_summary(table, figure)
    write_parquet(table, out_summary)
    write_parquet(semantic_table(pairs, settings), out_semantic)
    write_findings(findings_rows(pairs, table, settings, figure), out_findings)


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)
