"""Sentence datasets -> one validated table with a train/test split.

Two input shapes: a sentence CSV (`id, subject, attribute, text`) and the studies' reference JSON
(subject -> attribute -> list of sentences, no ids). Both end as `corpus.parquet` with the schema
`CORPUS_SCHEMA`; every problem is reported with its file and row.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.corpus.download import dataset_files
from resid_atlas.corpus.read import _open_text, read_dataset
from resid_atlas.corpus.validate import (
    VIOLATIONS_SCHEMA,
    apply_violations,
    find_violations,
    settings_with_defaults,
    summarise,
)

log = logging.getLogger(__name__)

CORPUS_SCHEMA = {
    "id": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,
    "text": pl.String,
    "split": pl.String,
}


def pair_key(subject: str, attribute: str) -> str:
    return f"{subject}:{attribute}"


def assign_split(
    df: pl.DataFrame,
    test_fraction: float,
    seed: int,
    split_file: str | Path | None = None,
    dropped: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """80/20 (by default) within each pair, seeded; or the test side given by a split file
    (test sentences among the validator's `dropped` rows are excused and logged)."""
    if split_file is not None:
        return _split_from_file(df, Path(split_file), dropped)
    rng = np.random.default_rng(seed)
    split = np.full(df.height, "train", dtype=object)
    pairs = df["pair"].to_numpy()
    for pair in sorted(set(pairs)):
        rows = np.flatnonzero(pairs == pair)
        n_test = round(len(rows) * test_fraction)
        split[rng.permutation(rows)[:n_test]] = "test"
    return df.with_columns(split=pl.Series(split.tolist(), dtype=pl.String))


def _split_from_file(
    df: pl.DataFrame, path: Path, dropped: pl.DataFrame | None = None
) -> pl.DataFrame:
    try:
        data = json.loads(_open_text(path))
        wanted = Counter(
            (s, a, t)
            for t, (s, a) in zip(data["test_sentences"], data["test_categories"], strict=True)
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise AtlasError(
            f"{path}: expected {{'test_sentences': [...], "
            "'test_categories': [[subject, attribute], ...]} of equal length "
            f"({type(exc).__name__}: {exc})."
        ) from None
    split = []
    for s, a, t in df.select("subject", "attribute", "text").iter_rows():
        if wanted[(s, a, t)] > 0:
            wanted[(s, a, t)] -= 1
            split.append("test")
        else:
            split.append("train")
    if dropped is not None and not dropped.is_empty():
        gone = Counter(dropped.select("subject", "attribute", "text").iter_rows())
        excused = {k: min(v, gone[k]) for k, v in wanted.items() if v > 0 and gone[k] > 0}
        if excused:
            log.info(
                "%s: %d test sentence(s) of the split file were dropped by the validator",
                path,
                sum(excused.values()),
            )
        wanted.subtract(excused)
    unmatched = sum(wanted.values())
    if unmatched:
        (s, a, t), _ = next((k, v) for k, v in wanted.items() if v > 0)
        raise AtlasError(
            f"{path}: {unmatched} test sentence(s) are not in the dataset, e.g. '{t[:60]}' "
            f"({s} / {a}); use the split file made for this dataset."
        )
    return df.with_columns(split=pl.Series(split, dtype=pl.String))


def build_corpus(
    spec: dict,
    name: str,
    violations: pl.DataFrame | None = None,
    validation: dict | None = None,
) -> pl.DataFrame:
    """Read, validate (or apply the validator's `violations` table), split: `CORPUS_SCHEMA`."""
    df = read_dataset(spec, name)
    path, split_file = dataset_files(spec)
    if violations is None:
        violations = find_violations(
            df,
            validation,
            min_per_pair=spec.get("min_per_pair", 10),
            on_violation=spec.get("on_violation", "stop"),
            allow=spec.get("allow_checks", []),
            dataset=name,
            file=str(path),
        )
    report_rows = settings_with_defaults(validation)["report_rows"]
    kept = apply_violations(df, violations, f"datasets.{name} ({path})", report_rows)
    if kept.height < df.height:
        log.warning(
            "%s: dropped %d of %d sentences (on_violation: drop): %s",
            name,
            df.height - kept.height,
            df.height,
            summarise(violations.filter(pl.col("action") == "dropped")),
        )
    dropped = df.join(kept.select("id"), on="id", how="anti")
    df = assign_split(
        kept, spec.get("test_fraction", 0.2), spec.get("split_seed", 42), split_file, dropped
    )
    return df.select(list(CORPUS_SCHEMA)).cast(CORPUS_SCHEMA)


def ingest(name: str, spec: dict, validation: dict | None, violations: str, out: str) -> None:
    """Step `corpus ingest`: apply the validator's table, split, write corpus.parquet."""
    table = read_table(violations)
    if table.schema != pl.Schema(VIOLATIONS_SCHEMA):
        raise AtlasError(
            f"{violations}: not a violations table of this version; delete it and rerun."
        )
    corpus = build_corpus(spec, name, violations=table, validation=validation)
    write_parquet(corpus, out)
    counts = corpus.group_by("split").len().sort("split").iter_rows()
    log.info(
        "%s: %d sentences, %d pairs, split %s; validator: %s",
        name,
        corpus.height,
        corpus["pair"].n_unique(),
        dict(counts),
        summarise(table),
    )


def validate(name: str, spec: dict, validation: dict, out: str) -> None:
    """Step `corpus validate`: check one dataset's sentences against the grid rules and write the
    violations table (ingest applies it)."""
    from resid_atlas.corpus.download import SHA256, SOURCE, sha256_of

    df = read_dataset(spec, name)
    path, _ = dataset_files(spec)
    if spec["source"] == SOURCE and spec.get("path"):
        digest = sha256_of(path)
        same = digest == SHA256.get(Path(path).name)
        log.info(
            "%s: local copy %s, sha256 %s (%s)",
            name,
            path,
            digest,
            "matches the pinned upstream file" if same else "NOT the pinned upstream file",
        )
    violations = find_violations(
        df,
        validation,
        min_per_pair=spec["min_per_pair"],
        on_violation=spec["on_violation"],
        allow=spec.get("allow_checks", []),
        dataset=name,
        file=str(path),
    )
    write_parquet(violations, out)
    log.info("%s: %d sentences checked; %s", name, df.height, summarise(violations))
