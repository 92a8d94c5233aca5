"""Per-dataset summary: sentences per pair, lengths in characters, words and each model's tokens;
a figure; and the corpus findings (the design grid is complete; the validator found nothing)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.tables import read_table
from resid_atlas.corpus.validate import summarise
from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import finding, write_findings

log = logging.getLogger(__name__)

SUMMARY_SCHEMA = {
    "dataset": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,
    "model": pl.String,  # whose tokenizer counted `mean_tokens`
    "n_sentences": pl.Int64,
    "n_train": pl.Int64,
    "n_test": pl.Int64,
    "mean_chars": pl.Float64,
    "mean_words": pl.Float64,  # whitespace-separated words
    "no_space_share": pl.Float64,  # share with no whitespace: the seed protocol drops no word there
    "mean_tokens": pl.Float64,  # tokens without special tokens (no BOS)
    "max_tokens": pl.Int64,
}
STUDY = "corpus"


def tokenizer_key(name: str, models: dict) -> str:
    """Entries that share a tokenizer (a random-init twin `like` a trained model) count once."""
    return models[name].get("like", name)


def token_counts(texts: list[str], tokenizer) -> np.ndarray:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.array([len(x) for x in ids], dtype=np.int64)


def summary_table(
    corpus: pl.DataFrame, dataset: str, token_lengths: dict[str, np.ndarray]
) -> pl.DataFrame:
    """One row per (pair, model); `token_lengths[model]` is aligned with the corpus rows."""
    base = corpus.with_columns(
        n_chars=pl.col("text").str.len_chars(),
        n_words=pl.col("text").str.count_matches(r"\S+"),
        no_space=~pl.col("text").str.strip_chars().str.contains(r"\s"),
    )
    frames = []
    for model, lengths in token_lengths.items():
        frames.append(
            base.with_columns(model=pl.lit(model), n_tokens=pl.Series(lengths, dtype=pl.Int64))
            .group_by("subject", "attribute", "pair", "model")
            .agg(
                n_sentences=pl.len().cast(pl.Int64),
                n_train=(pl.col("split") == "train").sum().cast(pl.Int64),
                n_test=(pl.col("split") == "test").sum().cast(pl.Int64),
                mean_chars=pl.col("n_chars").mean(),
                mean_words=pl.col("n_words").mean(),
                no_space_share=pl.col("no_space").mean(),
                mean_tokens=pl.col("n_tokens").mean(),
                max_tokens=pl.col("n_tokens").max().cast(pl.Int64),
            )
        )
    out = pl.concat(frames).with_columns(dataset=pl.lit(dataset))
    return out.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA).sort("model", "pair")


def summary_figure(summary: pl.DataFrame, dataset: str, path) -> None:
    import matplotlib.pyplot as plt

    from resid_atlas.core.plotting import save_figure

    models = summary["model"].unique(maintain_order=True).to_list()
    one = summary.filter(pl.col("model") == models[0])
    subjects = sorted(one["subject"].unique())
    attributes = sorted(one["attribute"].unique())
    grid = np.zeros((len(subjects), len(attributes)))
    for s, a, n in one.select("subject", "attribute", "n_sentences").iter_rows():
        grid[subjects.index(s), attributes.index(a)] = n
    fig, (ax0, ax1) = plt.subplots(
        1, 2, figsize=(8 + 0.5 * len(attributes), 1.5 + 0.45 * max(len(subjects), 6))
    )
    im = ax0.imshow(grid, cmap="viridis", aspect="auto")
    ax0.set_xticks(range(len(attributes)), attributes, rotation=60, ha="right", fontsize=7)
    ax0.set_yticks(range(len(subjects)), subjects, fontsize=7)
    for i in range(len(subjects)):
        for j in range(len(attributes)):
            ax0.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=6, color="w")
    ax0.set_title(f"{dataset}: sentences per pair")
    fig.colorbar(im, ax=ax0, shrink=0.7)
    by_attr = (
        summary.group_by("attribute", "model")
        .agg(pl.col("mean_tokens").mean(), pl.col("mean_chars").mean())
        .sort("attribute")
    )
    width = 0.8 / len(models)
    x = np.arange(len(attributes))
    for k, model in enumerate(models):
        rows = by_attr.filter(pl.col("model") == model)
        values = dict(zip(rows["attribute"], rows["mean_tokens"], strict=True))
        ax1.bar(x + k * width, [values.get(a, 0) for a in attributes], width, label=model)
    ax1.set_xticks(x + 0.4 - width / 2, attributes, rotation=60, ha="right", fontsize=7)
    ax1.set_ylabel("mean tokens per sentence (no BOS)")
    ax1.set_title("length by attribute")
    ax1.legend(fontsize=7)
    save_figure(fig, path)


def corpus_findings(
    summary: pl.DataFrame, violations: pl.DataFrame, min_per_pair: int, figure: str
) -> list[dict]:
    one = summary.filter(pl.col("model") == summary["model"][0])
    n_s, n_a = one["subject"].n_unique(), one["attribute"].n_unique()
    short = one.filter(pl.col("n_sentences") < min_per_pair)
    full = one.height == n_s * n_a and short.is_empty()
    smallest = int(one["n_sentences"].min())
    return [
        finding(
            STUDY,
            "full-grid",
            "Every subject x attribute pair of the design is present with at least "
            "min_per_pair sentences.",
            "all",
            verdicts.threshold(
                full,
                one.height,
                n_s * n_a,
                f"all {n_s} x {n_a} pairs present, none under min_per_pair {min_per_pair}",
            ),
            one.height,
            f"{one.height} of {n_s} x {n_a} pairs present; smallest pair {smallest} sentences "
            f"(min_per_pair {min_per_pair}).",
            figure,
        ),
        finding(
            STUDY,
            "validator-clean",
            "Every sentence passes the corpus validator's rules.",
            "all",
            verdicts.threshold(
                violations.is_empty(),
                violations.height,
                int(one["n_sentences"].sum()),
                "no validator violation in any sentence",
            ),
            violations.height,
            f"validator: {summarise(violations)}.",
            figure,
        ),
    ]


def summarise_corpus(
    corpus: pl.DataFrame,
    violations: pl.DataFrame,
    dataset: str,
    models: dict,
    summary_models: list[str],
    min_per_pair: int,
    out,
    figure,
    findings,
) -> pl.DataFrame:
    from resid_atlas.models.loading import load_tokenizer

    texts = corpus["text"].to_list()
    lengths: dict[str, np.ndarray] = {}
    by_key: dict[str, np.ndarray] = {}
    for name in summary_models:
        key = tokenizer_key(name, models)
        if key not in by_key:
            by_key[key] = token_counts(texts, load_tokenizer(name, models))
            log.info("%s: counted tokens with %s's tokenizer", dataset, name)
        lengths[name] = by_key[key]
    summary = summary_table(corpus, dataset, lengths)
    write_parquet(summary, out)
    summary_figure(summary, dataset, figure)
    write_findings(corpus_findings(summary, violations, min_per_pair, str(figure)), findings)
    log.info(
        "%s: %d pairs, %d sentences, mean %.1f characters",
        dataset,
        summary["pair"].n_unique(),
        corpus.height,
        corpus["text"].str.len_chars().mean(),
    )
    return summary


def summary(
    corpus: str,
    violations: str,
    dataset: str,
    models: dict,
    summary_models: list[str],
    min_per_pair: int,
    out: str,
    figure: str,
    findings: str,
) -> None:
    """Step `corpus summary`: per-pair counts, lengths and tokens, the figure, the findings."""
    summarise_corpus(
        corpus=read_table(corpus),
        violations=read_table(violations),
        dataset=dataset,
        models=models,
        summary_models=summary_models,
        min_per_pair=min_per_pair,
        out=out,
        figure=figure,
        findings=findings,
    )
