"""Across one model's classifier runs: the summary of macro F1 per variant (seed protocol, the
`last` protocol control and the logistic-regression reference), the Japanese pooling control and
the findings table for the study's claims."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.classifier.metrics import weighted_class_f1, weighted_macro_f1
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.stats import verdicts
from resid_atlas.stats.bootstrap import paired_ci
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
    return read_table(path)


def load_runs(run: RunTables, variants: list[str]) -> dict[str, pl.DataFrame]:
    return {v: _read(run[f"{v}/metrics.parquet"]) for v in variants}


def load_predictions(run: RunTables, variants: list[str]) -> dict[str, pl.DataFrame]:
    return {v: _read(run[f"{v}/predictions.parquet"]) for v in variants}


class Sentences:
    """The test sentences of several variants' predictions, aligned by index row: class indices
    of the truth and of each variant's prediction at one level, for paired bootstraps."""

    def __init__(self, predictions: dict[str, pl.DataFrame], variants: list[str], level: str):
        frames = [predictions[v].select("row", level, f"pred_{level}") for v in variants]
        rows = frames[0]["row"].sort()
        for v, f in zip(variants, frames, strict=True):
            if not f["row"].sort().equals(rows):
                raise AtlasError(
                    f"predictions of variants {variants[0]} and {v} cover different test "
                    "sentences; rerun the classifier for this model."
                )
        frames = [f.sort("row") for f in frames]
        self.classes = sorted(set(frames[0][level].to_list()))
        pos = {c: i for i, c in enumerate(self.classes)}
        self.truth = np.array([pos[c] for c in frames[0][level]], dtype=np.int64)
        self.pred = {}
        for v, f in zip(variants, frames, strict=True):
            # a predicted class no test sentence has only lowers precision; give it its own index
            for c in sorted(set(f[f"pred_{level}"].to_list()) - set(pos)):
                pos.setdefault(c, len(pos))
            self.pred[v] = np.array([pos[c] for c in f[f"pred_{level}"]], dtype=np.int64)
        self.n_classes = len(pos)
        self.n = len(self.truth)

    def macro(self, variant: str, weights: np.ndarray) -> np.ndarray:
        return weighted_macro_f1(self.truth, self.pred[variant], self.n_classes, weights)

    def class_f1(self, variant: str, weights: np.ndarray) -> np.ndarray:
        """[B, len(self.classes)] F1 of the classes with test sentences."""
        f1 = weighted_class_f1(self.truth, self.pred[variant], self.n_classes, weights)
        return f1[:, : len(self.classes)]


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


def findings_rows(
    summary: pl.DataFrame,
    seed_metrics: dict[str, pl.DataFrame],
    predictions: dict[str, pl.DataFrame],
    control: pl.DataFrame | None,
    model: str,
    rules: dict,
    figures: dict[str, str],
) -> list[dict]:
    """One row per claim. `rules` is classifier.findings (with sink_factor); `seed_metrics` and
    `predictions`: variant -> its metrics and predictions tables (seed protocol)."""
    n_boot, seed = rules["bootstrap"], rules["seed"]
    rows = []
    have = set(summary["variant"].to_list())
    for level, claimed in (("subject", 0.03), ("attribute", 0.06)):
        if {"all", "tails"} <= have and {"all", "tails"} <= set(predictions):
            a, t = _macro(summary, "all", level), _macro(summary, "tails", level)
            evidence = tails_vs_all(predictions, level, n_boot, seed)
            delta = evidence.effect
            detail = (
                f"macro F1 {level}: tails {t:.3f} vs all {a:.3f}; difference {t - a:+.4f}, 95% "
                f"paired bootstrap CI [{_fmt(evidence.ci_low)}, {_fmt(evidence.ci_high)}] over "
                f"{evidence.n} test sentences ({n_boot} resamples)"
            )
        else:
            evidence = verdicts.not_run("needs the variants all and tails")
            delta, detail = math.nan, "needs the variants all and tails"
        rows.append(
            finding(
                STUDY,
                f"tails-beat-all-{level}",
                f"Scoring only tail values beats all values for the sentence {level} "
                f"(study: +{claimed} macro F1 on the four larger models; fails on "
                "Pythia-160m/410m).",
                model,
                evidence,
                delta,
                detail,
                figures.get("tails", ""),
            )
        )
    main = rules["main_variant"]
    named = rules["predictable_attributes"]
    top = rules["top_attributes"]
    if main in seed_metrics:
        f1 = attribute_f1(seed_metrics[main])
        ranks = _ranks(f1)
        present = [a for a in named if a in f1]
        listing = ", ".join(f"{a} {f1[a]:.2f} (#{ranks[a]})" for a in present)
        value = min(f1[a] for a in present) if present else None
        if len(present) < len(named):
            missing = [a for a in named if a not in f1]
            evidence = verdicts.not_run(f"no attribute {missing} in this corpus")
        elif len(f1) <= top:
            evidence = verdicts.inconclusive(
                f"{len(f1)} attributes: every one ranks in the top {top}", n=len(f1)
            )
        else:
            worst = max(ranks[a] for a in present)
            evidence = verdicts.threshold(
                worst <= top,
                value,
                len(f1),
                f"each named attribute ranks in the top {top} of {len(f1)} by F1 ({main})",
            )
        detail = f"{main}: {listing}; claim holds if each ranks in the top {top} of {len(f1)}"
    else:
        evidence, value = verdicts.not_run(f"needs the variant {main}"), None
        detail = f"needs the variant {main}"
    rows.append(
        finding(
            STUDY,
            "language-and-case-most-predictable",
            "'in Japanese' (very high F1), 'in Spanish' and 'in all upper case' are the most "
            "predictable attributes.",
            model,
            evidence,
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
        value = float(sorted(f1s)[len(f1s) // 2])
        evidence = verdicts.threshold(
            inside >= len(f1s) / 2,
            inside / len(f1s),
            len(f1s),
            f"at least half of the {len(f1s)} subjects' F1 in [{lo}, {hi}] ({main})",
        )
        detail = (
            f"{main}: subject F1 from {min(f1s):.3f} to {max(f1s):.3f}, median {value:.3f}; "
            f"{inside} of {len(f1s)} subjects in [{lo}, {hi}] (holds if at least half)"
        )
        top_evidence, top_value, top_detail = top_subjects(
            predictions.get(main), part, rules["top_subjects"], main, n_boot, seed
        )
    else:
        evidence = top_evidence = verdicts.not_run(f"needs the variant {main}")
        value = top_value = None
        detail = top_detail = f"needs the variant {main}"
    rows.append(
        finding(
            STUDY,
            "subject-f1-range",
            f"Subject F1 scores lie mostly in the {lo}-{hi} range.",
            model,
            evidence,
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
            top_evidence,
            top_value,
            top_detail,
            figures.get("main", ""),
        )
    )
    if {"all", "tails"} <= have and {"all", "tails"} <= set(predictions):
        pick = summary.filter((pl.col("level") == "pair") & (pl.col("protocol") == "seed"))
        s_all = pick.filter(pl.col("variant") == "all").row(0, named=True)
        s_tails = pick.filter(pl.col("variant") == "tails").row(0, named=True)
        evidence = sinks_weaker(predictions, rules["sink_factor"], n_boot, seed)
        delta = evidence.effect
        detail = (
            f"sinks (predicted > {rules['sink_factor']:g} x expected): all {s_all['n_sinks']} "
            f"(max ratio {s_all['max_sink_ratio']:.1f}), tails {s_tails['n_sinks']} "
            f"(max ratio {s_tails['max_sink_ratio']:.1f}); test sentences absorbed beyond "
            f"{rules['sink_factor']:g} x expected, all - tails: {_fmt(evidence.effect)}, 95% "
            f"paired bootstrap CI [{_fmt(evidence.ci_low)}, {_fmt(evidence.ci_high)}] over "
            f"{evidence.n} test sentences"
        )
    else:
        evidence = verdicts.not_run("needs the variants all and tails")
        delta, detail = math.nan, "needs the variants all and tails"
    rows.append(
        finding(
            STUDY,
            "sinks-weaker-in-tails",
            "Prediction sinks (pairs attracting many false positives) are much weaker in the "
            "tails-only analysis.",
            model,
            evidence,
            delta,
            detail,
            figures.get("tails", ""),
        )
    )
    japanese = rules["japanese_attribute"]
    if control is not None and not control.is_empty():
        part = control.filter(pl.col("attribute") == japanese)
        if part.is_empty():
            evidence, value = verdicts.not_run(f"no attribute '{japanese}'"), None
            detail = f"no attribute '{japanese}' in this corpus"
        else:
            r = part.filter(pl.col("variant") == part["variant"][0]).row(0, named=True)
            value = r["f1_last"]
            evidence = verdicts.threshold(
                r["rank_last"] <= rules["top_attributes"],
                value,
                control.filter(pl.col("variant") == r["variant"]).height,
                f"{japanese} ranks in the top {rules['top_attributes']} attributes by F1 under "
                f"the last protocol ({r['variant']})",
            )
            detail = "; ".join(
                f"{x['variant']}: F1 seed {x['f1_seed']:.3f} (#{x['rank_seed']}) vs last "
                f"{x['f1_last']:.3f} (#{x['rank_last']})"
                for x in part.iter_rows(named=True)
            )
    else:
        evidence, value = verdicts.not_run("the last protocol control was not run"), None
        detail = "the `last` protocol control was not run"
    rows.append(
        finding(
            STUDY,
            "japanese-not-a-pooling-artifact",
            "Japanese stays among the most predictable attributes when every sentence is pooled "
            "at its end (the seed protocol leaves only Japanese whole).",
            model,
            evidence,
            value,
            detail,
            figures.get("control", ""),
        )
    )
    return rows


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def tails_vs_all(
    predictions: dict[str, pl.DataFrame], level: str, n_resamples: int, seed: int
) -> verdicts.Evidence:
    """Macro F1 of tails minus all, with a paired bootstrap over the test sentences: each
    resample draws sentences with replacement and recomputes both variants' macro F1 on it."""
    sent = Sentences(predictions, ["all", "tails"], level)
    value, low, high = paired_ci(
        lambda w: sent.macro("tails", w) - sent.macro("all", w), sent.n, n_resamples, seed
    )
    return verdicts.interval(
        value,
        low,
        high,
        sent.n,
        f"95% paired bootstrap CI (over test sentences) of macro F1 {level}, tails - all, above 0",
    )


def sink_excess(sent: Sentences, variant: str, weights: np.ndarray, factor: float) -> np.ndarray:
    """[B] share of the (weighted) test sentences that sinks absorb: predictions into a pair
    beyond `factor` x the expected count (sentences / pairs), summed over pairs. Zero when no
    pair is a sink; it grows with both the number of sinks and their strength."""
    counts = weights @ np.eye(sent.n_classes)[sent.pred[variant]]
    total = weights.sum(axis=1)
    expected = total / len(sent.classes)
    excess = np.clip(counts - factor * expected[:, None], 0.0, None).sum(axis=1)
    return excess / total


def sinks_weaker(
    predictions: dict[str, pl.DataFrame], factor: float, n_resamples: int, seed: int
) -> verdicts.Evidence:
    """Sinks weaker in the tails: the share of test sentences absorbed by sinks, all minus
    tails, with a paired bootstrap over the test sentences (pair level)."""
    sent = Sentences(predictions, ["all", "tails"], "pair")
    value, low, high = paired_ci(
        lambda w: sink_excess(sent, "all", w, factor) - sink_excess(sent, "tails", w, factor),
        sent.n,
        n_resamples,
        seed,
    )
    return verdicts.interval(
        value,
        low,
        high,
        sent.n,
        f"95% paired bootstrap CI (over test sentences) of the share of sentences sinks absorb "
        f"(predicted beyond {factor:g} x the expected count), all - tails, above 0",
    )


def top_subjects(
    predictions: pl.DataFrame | None,
    part: pl.DataFrame,
    wanted: list[str],
    main: str,
    n_resamples: int,
    seed: int,
):
    """The named subjects are THE top ones: the margin between the lowest F1 among them and the
    highest F1 among the other subjects, with a paired bootstrap over the test sentences."""
    subj = {c: (math.nan if f is None else f) for c, f in part.select("class", "f1").iter_rows()}
    ranked = sorted(subj, key=lambda c: -(subj[c] if not math.isnan(subj[c]) else -1))
    detail = f"{main}: highest subject F1: " + ", ".join(f"{s} {subj[s]:.2f}" for s in ranked[:3])
    if predictions is None:
        return verdicts.not_run(f"no predictions of {main}"), None, detail
    sent = Sentences({main: predictions}, [main], "subject")
    present = [s for s in wanted if s in sent.classes]
    others = [s for s in sent.classes if s not in present]
    if len(present) < len(wanted) or not others:
        missing = [s for s in wanted if s not in present]
        reason = f"no test sentences of {missing}" if missing else "no other subjects"
        return verdicts.not_run(reason), None, detail
    ours = [sent.classes.index(s) for s in present]
    rest = [sent.classes.index(s) for s in others]

    def margin(w):
        f1 = sent.class_f1(main, w)
        return np.fmin.reduce(f1[:, ours], axis=1) - np.fmax.reduce(f1[:, rest], axis=1)

    value, low, high = paired_ci(margin, sent.n, n_resamples, seed)
    evidence = verdicts.interval(
        value,
        low,
        high,
        sent.n,
        f"95% paired bootstrap CI (over test sentences) of min F1 of {' and '.join(present)} "
        f"minus max F1 of the other {len(others)} subjects above 0 ({main})",
    )
    detail += (
        f"; margin of the named subjects over the best other {value:+.4f}, 95% CI "
        f"[{_fmt(low)}, {_fmt(high)}] over {sent.n} test sentences"
    )
    return evidence, min(subj[s] for s in present), detail


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
        load_predictions(run, variants),
        control if last is not None else None,
        model,
        rules,
        figures,
    )
    write_parquet(summary_table, out_summary)
    write_parquet(control, out_japanese)
    write_findings(rows, out_findings)
