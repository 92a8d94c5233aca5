"""Across one model's classifier runs: the summary of macro F1 per variant (seed protocol, the
`last` protocol control and the logistic-regression reference), the Japanese pooling control and
the findings table for the study's claims."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.stats.findings import finding

STUDY = "001 activation-magnitudes"
SUMMARY_SCHEMA = {
    "model": pl.String,
    "protocol": pl.String,  # seed (the configured extraction) or last (the control)
    "variant": pl.String,
    "level": pl.String,
    "macro_f1": pl.Float64,
    "top1": pl.Float64,
    "top3": pl.Float64,
    "n_sinks": pl.Int64,
    "max_sink_ratio": pl.Float64,
}
CONTROL_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "attribute": pl.String,
    "f1_seed": pl.Float64,
    "f1_last": pl.Float64,
    "delta": pl.Float64,  # f1_last - f1_seed
    "rank_seed": pl.Int32,  # 1 = the most predictable attribute
    "rank_last": pl.Int32,
}


class RunTables(dict):
    """The per-variant tables of one classifier run, as given on the command line, keyed
    "<variant>/<name>.parquet"; asking for one that was not given is an error, never a look
    into the folder."""

    def __init__(self, paths: list[str]):
        super().__init__({f"{Path(p).parent.name}/{Path(p).name}": Path(p) for p in paths})

    def __missing__(self, key: str) -> Path:
        raise AtlasError(
            f"the classifier table {key} was not given to this step; the rule's inputs list "
            "every variant's tables (workflow/rules/classifier.smk)."
        )


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise AtlasError(f"{path}: not found; run the classifier for this model first.")
    return pl.read_parquet(path)


def load_runs(run: RunTables, variants: list[str]) -> dict[str, pl.DataFrame]:
    return {v: _read(run[f"{v}/metrics.parquet"]) for v in variants}


def summary_frame(run: RunTables, variants: list[str], model: str, protocol: str):
    rows = []
    for v in variants:
        metrics = _read(run[f"{v}/metrics.parquet"])
        accuracy = _read(run[f"{v}/accuracy.parquet"])
        sinks = _read(run[f"{v}/sinks.parquet"])
        for level in ("pair", "subject", "attribute"):
            macro = metrics.filter((pl.col("level") == level) & (pl.col("class") == "macro"))
            acc = accuracy.filter(pl.col("level") == level)
            rows.append(
                (
                    model,
                    protocol,
                    v,
                    level,
                    float(macro["f1"][0]),
                    float(acc.filter(pl.col("k") == 1)["accuracy"][0]),
                    float(acc.filter(pl.col("k") == 3)["accuracy"][0]),
                    int(sinks["sink"].sum()),
                    float(sinks["ratio"].max()),
                )
            )
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row")


def attribute_f1(metrics: pl.DataFrame) -> dict[str, float]:
    part = metrics.filter((pl.col("level") == "attribute") & (pl.col("class") != "macro"))
    return {c: (math.nan if f is None else f) for c, f in part.select("class", "f1").iter_rows()}


def _ranks(f1: dict[str, float]) -> dict[str, int]:
    order = sorted(f1, key=lambda c: (-(f1[c] if not math.isnan(f1[c]) else -1), c))
    return {c: i + 1 for i, c in enumerate(order)}


def control_frame(seed: RunTables, last: RunTables, variants: list[str], model: str):
    rows = []
    for v in variants:
        f1_seed = attribute_f1(_read(seed[f"{v}/metrics.parquet"]))
        f1_last = attribute_f1(_read(last[f"{v}/metrics.parquet"]))
        rs, rl = _ranks(f1_seed), _ranks(f1_last)
        for attribute in sorted(f1_seed):
            a, b = f1_seed[attribute], f1_last.get(attribute, math.nan)
            rows.append((model, v, attribute, a, b, b - a, rs[attribute], rl.get(attribute)))
    return pl.DataFrame(rows, schema=CONTROL_SCHEMA, orient="row")


def _macro(summary: pl.DataFrame, variant: str, level: str, protocol: str = "seed") -> float:
    row = summary.filter(
        (pl.col("variant") == variant)
        & (pl.col("level") == level)
        & (pl.col("protocol") == protocol)
    )
    return float(row["macro_f1"][0]) if row.height else math.nan


def _verdict(delta: float, tolerance: float) -> str:
    if math.isnan(delta):
        return "not run"
    if abs(delta) <= tolerance:
        return "inconclusive"
    return "holds" if delta > 0 else "does not hold"


def findings_rows(
    summary: pl.DataFrame,
    seed_metrics: dict[str, pl.DataFrame],
    control: pl.DataFrame | None,
    model: str,
    rules: dict,
    figures: dict[str, str],
) -> list[dict]:
    """One row per claim. `rules` is classifier.findings; `seed_metrics` variant -> metrics."""
    tol = rules["tolerance"]
    rows = []
    have = set(summary["variant"].to_list())
    for level, claimed in (("subject", 0.03), ("attribute", 0.06)):
        if {"all", "tails"} <= have:
            a, t = _macro(summary, "all", level), _macro(summary, "tails", level)
            delta, detail = t - a, f"macro F1 {level}: tails {t:.3f} vs all {a:.3f}"
        else:
            delta, detail = math.nan, "needs the variants all and tails"
        rows.append(
            finding(
                STUDY,
                f"tails-beat-all-{level}",
                f"Scoring only tail values beats all values for the sentence {level} "
                f"(study: +{claimed} macro F1 on the four larger models; fails on "
                "Pythia-160m/410m).",
                model,
                _verdict(delta, tol),
                delta,
                detail,
                figures.get("tails", ""),
            )
        )
    main = rules["main_variant"]
    named = rules["predictable_attributes"]
    if main in seed_metrics:
        f1 = attribute_f1(seed_metrics[main])
        ranks = _ranks(f1)
        present = [a for a in named if a in f1]
        top = rules["top_attributes"]
        ok = present and all(ranks[a] <= top for a in present)
        listing = ", ".join(f"{a} {f1[a]:.2f} (#{ranks[a]})" for a in present)
        verdict = "not run" if not present else ("holds" if ok else "does not hold")
        value = min(f1[a] for a in present) if present else None
        detail = f"{main}: {listing}; claim holds if each ranks in the top {top} of {len(f1)}"
    else:
        verdict, value, detail = "not run", None, f"needs the variant {main}"
    rows.append(
        finding(
            STUDY,
            "language-and-case-most-predictable",
            "'in Japanese' (very high F1), 'in Spanish' and 'in all upper case' are the most "
            "predictable attributes.",
            model,
            verdict,
            value,
            detail,
            figures.get("main", ""),
        )
    )
    lo, hi = rules["subject_f1_range"]
    if main in seed_metrics:
        part = seed_metrics[main].filter(
            (pl.col("level") == "subject") & (pl.col("class") != "macro")
        )
        f1s = [f for f in part["f1"].to_list() if f is not None]
        inside = sum(lo <= f <= hi for f in f1s)
        verdict = "holds" if inside >= len(f1s) / 2 else "does not hold"
        value = float(sorted(f1s)[len(f1s) // 2])
        detail = (
            f"{main}: subject F1 from {min(f1s):.3f} to {max(f1s):.3f}, median {value:.3f}; "
            f"{inside} of {len(f1s)} subjects in [{lo}, {hi}] (holds if at least half)"
        )
        subj = dict(part.select("class", "f1").iter_rows())
        ranked = sorted(subj, key=lambda c: -(subj[c] or 0))
        wanted = [s for s in rules["top_subjects"] if s in subj]
        ok = wanted and all(s in ranked[: len(wanted) + 1] for s in wanted)
        top_verdict = "not run" if not wanted else ("holds" if ok else "does not hold")
        top_detail = f"{main}: highest subject F1: " + ", ".join(
            f"{s} {subj[s]:.2f}" for s in ranked[:3]
        )
        top_value = min(subj[s] for s in wanted) if wanted else None
    else:
        verdict = top_verdict = "not run"
        value = top_value = None
        detail = top_detail = f"needs the variant {main}"
    rows.append(
        finding(
            STUDY,
            "subject-f1-range",
            f"Subject F1 scores lie mostly in the {lo}-{hi} range.",
            model,
            verdict,
            value,
            detail,
            figures.get("main", ""),
        )
    )
    rows.append(
        finding(
            STUDY,
            "ea-and-football-top-subjects",
            "'about effective altruism' and 'about American football' have the highest subject F1.",
            model,
            top_verdict,
            top_value,
            top_detail,
            figures.get("main", ""),
        )
    )
    if {"all", "tails"} <= have:
        pick = summary.filter((pl.col("level") == "pair") & (pl.col("protocol") == "seed"))
        s_all = pick.filter(pl.col("variant") == "all").row(0, named=True)
        s_tails = pick.filter(pl.col("variant") == "tails").row(0, named=True)
        delta = s_all["max_sink_ratio"] - s_tails["max_sink_ratio"]
        weaker = s_tails["n_sinks"] < s_all["n_sinks"] or (
            s_tails["n_sinks"] == s_all["n_sinks"] and delta > 0
        )
        verdict = "holds" if weaker else "does not hold"
        detail = (
            f"sinks (predicted > {rules['sink_factor']:g} x expected): all {s_all['n_sinks']} "
            f"(max ratio {s_all['max_sink_ratio']:.1f}), tails {s_tails['n_sinks']} "
            f"(max ratio {s_tails['max_sink_ratio']:.1f})"
        )
    else:
        verdict, delta, detail = "not run", math.nan, "needs the variants all and tails"
    rows.append(
        finding(
            STUDY,
            "sinks-weaker-in-tails",
            "Prediction sinks (pairs attracting many false positives) are much weaker in the "
            "tails-only analysis.",
            model,
            verdict,
            delta,
            detail,
            figures.get("tails", ""),
        )
    )
    japanese = rules["japanese_attribute"]
    if control is not None and not control.is_empty():
        part = control.filter(pl.col("attribute") == japanese)
        if part.is_empty():
            verdict, value, detail = "not run", None, f"no attribute '{japanese}' in this corpus"
        else:
            r = part.filter(pl.col("variant") == part["variant"][0]).row(0, named=True)
            held = r["rank_last"] <= rules["top_attributes"]
            verdict = "holds" if held else "does not hold"
            value = r["f1_last"]
            detail = "; ".join(
                f"{x['variant']}: F1 seed {x['f1_seed']:.3f} (#{x['rank_seed']}) vs last "
                f"{x['f1_last']:.3f} (#{x['rank_last']})"
                for x in part.iter_rows(named=True)
            )
    else:
        verdict, value, detail = "not run", None, "the `last` protocol control was not run"
    rows.append(
        finding(
            STUDY,
            "japanese-not-a-pooling-artifact",
            "Japanese stays among the most predictable attributes when every sentence is pooled "
            "at its end (the seed protocol leaves only Japanese whole).",
            model,
            verdict,
            value,
            detail,
            figures.get("control", ""),
        )
    )
    return rows


def summary(
    tables: list[str],
    control_tables: list[str],
    model: str,
    settings: dict,
    out_summary: str,
    out_japanese: str,
    out_findings: str,
) -> None:
    """Step `classifier summary`: one model's summary, Japanese pooling control and findings,
    from the run's per-variant tables (and the control run's, when given)."""
    from resid_atlas.core.atomic import write_parquet
    from resid_atlas.stats.findings import write_findings

    run = RunTables(tables)
    variants = settings["variants"]
    frames = [summary_frame(run, [*variants, "logreg"], model, "seed")]
    control = pl.DataFrame(schema=CONTROL_SCHEMA)
    last = RunTables(control_tables) if control_tables else None
    if last is not None:
        cvars = settings["control_variants"]
        frames.append(summary_frame(last, cvars, model, "last"))
        control = control_frame(run, last, [v for v in cvars if v in variants], model)
    summary_table = pl.concat(frames)
    main = settings["findings"]["main_variant"]
    figures = {
        "main": str(run[f"{main}/metrics.parquet"].with_name("f1.png")),
        "tails": str(run["tails/metrics.parquet"].with_name("confusion.png"))
        if "tails" in variants
        else "",
        "control": str(
            last[f"{settings['control_variants'][0]}/metrics.parquet"].with_name("f1.png")
        )
        if last is not None
        else "",
    }
    rules = {**settings["findings"], "sink_factor": settings["sink_factor"]}
    rows = findings_rows(
        summary_table,
        load_runs(run, variants),
        control if last is not None else None,
        model,
        rules,
        figures,
    )
    write_parquet(summary_table, out_summary)
    write_parquet(control, out_japanese)
    write_findings(rows, out_findings)
