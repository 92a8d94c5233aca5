"""Per-dataset summary: counts, lengths and token counts against direct computation; findings;
and the tiny run's corpus outputs."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from resid_atlas.corpus.ingest import build_corpus
from resid_atlas.corpus.summary import (
    SUMMARY_SCHEMA,
    corpus_findings,
    summary_table,
    token_counts,
    tokenizer_key,
)
from resid_atlas.corpus.validate import VIOLATIONS_SCHEMA, find_violations
from resid_atlas.models.tokenizer import byte_tokenizer
from resid_atlas.stats.findings import FINDINGS_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_corpus.csv"


@pytest.fixture(scope="module")
def corpus():
    spec = {"source": "csv", "path": str(TINY), "min_per_pair": 4, "test_fraction": 0.25}
    return build_corpus(spec, "tiny")


def test_summary_matches_direct_counts(corpus):
    lengths = token_counts(corpus["text"].to_list(), byte_tokenizer())
    # the byte tokenizer has no merges: one token per UTF-8 byte (Spanish accents take two)
    assert lengths.tolist() == [len(t.encode()) for t in corpus["text"]]
    summary = summary_table(corpus, "tiny", {"a": lengths, "b": lengths + 1})
    assert summary.schema == pl.Schema(SUMMARY_SCHEMA)
    assert summary.height == 12 and set(summary["n_sentences"]) == {8}
    assert set(summary["n_test"]) == {2}
    pair = "about music:in spanish"
    rows = corpus.filter(pl.col("pair") == pair)
    one = summary.filter((pl.col("pair") == pair) & (pl.col("model") == "a")).row(0, named=True)
    assert one["mean_chars"] == pytest.approx(np.mean([len(t) for t in rows["text"]]))
    assert one["mean_words"] == pytest.approx(np.mean([len(t.split()) for t in rows["text"]]))
    assert one["mean_tokens"] == pytest.approx(np.mean([len(t.encode()) for t in rows["text"]]))
    assert one["no_space_share"] == 0.0
    b = summary.filter((pl.col("pair") == pair) & (pl.col("model") == "b")).row(0, named=True)
    assert b["mean_tokens"] == pytest.approx(one["mean_tokens"] + 1)


def test_findings_and_shared_tokenizers(corpus):
    lengths = token_counts(corpus["text"].to_list(), byte_tokenizer())
    summary = summary_table(corpus, "tiny", {"m": lengths})
    clean = pl.DataFrame(schema=VIOLATIONS_SCHEMA)
    rows = corpus_findings(summary, clean, 4, "fig.png")
    assert [r["verdict"] for r in rows] == ["holds", "holds"]
    assert corpus_findings(summary, clean, 9, "")[0]["verdict"] == "does not hold"
    dirty = find_violations(
        corpus.with_columns(line=pl.lit(0, dtype=pl.Int64)).with_columns(
            text=pl.when(pl.col("id") == "t000").then(pl.lit(" ")).otherwise("text")
        ),
        min_per_pair=4,
    )
    assert corpus_findings(summary, dirty, 4, "")[1]["verdict"] == "does not hold"
    models = {"m": {"source": "hf", "id": "x"}, "m-init": {"source": "random-init", "like": "m"}}
    assert tokenizer_key("m-init", models) == tokenizer_key("m", models) == "m"


@pytest.mark.workflow
def test_tiny_run_corpus_outputs(tiny_run):
    base = tiny_run / "results/corpus/tiny"
    violations = pl.read_parquet(base / "violations.parquet")
    assert violations.schema == pl.Schema(VIOLATIONS_SCHEMA) and violations.is_empty()
    summary = pl.read_parquet(base / "summary.parquet")
    assert summary.schema == pl.Schema(SUMMARY_SCHEMA)
    assert summary.height == 6 and set(summary["model"]) == {"tiny-llama"}
    assert summary["n_sentences"].sum() == 48
    assert (base / "summary.png").stat().st_size > 10_000
    findings = pl.read_parquet(base / "findings.parquet")
    assert findings.schema == pl.Schema(FINDINGS_SCHEMA)
    assert findings["verdict"].to_list() == ["holds", "holds"]
    log = (tiny_run / "results/logs/corpus/tiny/violations.log").read_text()
    assert "48 sentences checked; no violations" in log
