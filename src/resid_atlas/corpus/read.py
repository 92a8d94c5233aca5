"""Readers of the two dataset shapes: a sentence CSV (`id, subject, attribute, text`) and the
studies' reference JSON (subject -> attribute -> list of sentences, no ids). Both give one table
with a `line` column (the CSV line or the JSON item) so every later message names its row."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.download import dataset_files

COLUMNS = ("id", "subject", "attribute", "text")
# One line of a sentence CSV may not exceed this; anything longer is not a sentence.
MAX_FIELD_CHARS = 100_000


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
