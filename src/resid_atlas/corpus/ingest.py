"""Sentence datasets -> one validated table with a train/test split.

Two input shapes: a sentence CSV (`id, subject, attribute, text`) and the studies' reference JSON
(subject -> attribute -> list of sentences, no ids). Both end as `corpus.parquet` with the schema
`CORPUS_SCHEMA`; every problem is reported with its file and row.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.download import dataset_files
from resid_atlas.corpus.validate import (
    apply_violations,
    find_violations,
    settings_with_defaults,
    summarise,
)

log = logging.getLogger(__name__)

COLUMNS = ("id", "subject", "attribute", "text")
CORPUS_SCHEMA = {
    "id": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,
    "text": pl.String,
    "split": pl.String,
}
# One line of a sentence CSV may not exceed this; anything longer is not a sentence.
MAX_FIELD_CHARS = 100_000


def pair_key(subject: str, attribute: str) -> str:
    return f"{subject}:{attribute}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _open_text(path: Path):
    if not path.is_file():
        raise AtlasError(f"{path}: file not found; check the dataset's path in the config.")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise AtlasError(
            f"{path}: line {line} is not valid UTF-8 (byte {exc.start}); save the file as UTF-8."
        ) from None


def read_sentence_csv(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    text = _open_text(path)
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise AtlasError(
            f"{path}: the file is empty; it needs a header {','.join(COLUMNS)}."
        ) from None
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise AtlasError(
            f"{path}: missing column(s) {', '.join(missing)} in the header {header}; "
            f"the header must be {','.join(COLUMNS)}."
        )
    index = [header.index(c) for c in COLUMNS]
    rows = []
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise AtlasError(
                    f"{path}: line {line} has {len(row)} fields, the header has {len(header)}; "
                    "quote fields that contain commas."
                )
            rows.append([row[i] for i in index] + [line])
    except csv.Error as exc:
        raise AtlasError(
            f"{path}: line {reader.line_num} cannot be parsed ({exc}); a field over "
            f"{MAX_FIELD_CHARS:,} characters or an unclosed quote is the usual cause."
        ) from None
    df = pl.DataFrame(rows, schema=[*COLUMNS, "line"], orient="row")
    return _check_fields(df, path)


def read_reference_json(path: str | Path) -> pl.DataFrame:
    """The studies' nested JSON; ids are made from the pair and the index in its list."""
    path = Path(path)
    try:
        data = json.loads(_open_text(path))
    except json.JSONDecodeError as exc:
        raise AtlasError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}.") from None
    if not isinstance(data, dict):
        raise AtlasError(f"{path}: expected an object subject -> attribute -> list of sentences.")
    rows = []
    for subject, by_attribute in data.items():
        if not isinstance(by_attribute, dict):
            raise AtlasError(f"{path}: '{subject}' must map attributes to lists of sentences.")
        for attribute, sentences in by_attribute.items():
            if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
                raise AtlasError(f"{path}: '{subject}' / '{attribute}' must be a list of strings.")
            for i, sentence in enumerate(sentences):
                sid = f"{_slug(subject)}/{_slug(attribute)}/{i:04d}"
                rows.append([sid, subject, attribute, sentence, i])
    df = pl.DataFrame(rows, schema=[*COLUMNS, "line"], orient="row")
    return _check_fields(df, path, where="item")


def _check_fields(df: pl.DataFrame, path: Path, where: str = "line") -> pl.DataFrame:
    """Structural checks every dataset must pass before anything else reads it."""
    if df.is_empty():
        raise AtlasError(f"{path}: no sentences found; the file has a header but no rows.")
    # An empty `text` is the validator's `empty` rule (it can be dropped); these cannot.
    for column in ("id", "subject", "attribute"):
        blank = df.filter(pl.col(column).str.strip_chars() == "")
        if not blank.is_empty():
            first = blank.row(0, named=True)
            raise AtlasError(
                f"{path}: {where} {first['line']} has an empty '{column}' "
                f"({blank.height} such rows); fill it in or remove the row."
            )
    for column in ("subject", "attribute"):
        bad = df.filter(pl.col(column).str.contains(":", literal=True))
        if not bad.is_empty():
            raise AtlasError(
                f"{path}: {where} {bad['line'][0]}: {column} '{bad[column][0]}' contains ':', "
                "which separates subject and attribute in pair keys; remove it."
            )
    dup = df.filter(pl.col("id").is_duplicated())
    if not dup.is_empty():
        raise AtlasError(
            f"{path}: id '{dup['id'][0]}' appears {dup.height} times (first at {where} "
            f"{dup['line'][0]}); ids must be unique."
        )
    return df.with_columns(pair=pl.concat_str("subject", pl.lit(":"), "attribute"))


def read_dataset(spec: dict, name: str) -> pl.DataFrame:
    path, _ = dataset_files(spec)
    if path is None:
        raise AtlasError(f"datasets.{name}: no path given; set path: to the sentence file.")
    if spec["source"] == "csv":
        return read_sentence_csv(path)
    return read_reference_json(path)


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
