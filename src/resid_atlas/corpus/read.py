"""Readers of the two dataset shapes: a sentence CSV (`id, subject, attribute, text`) and the
studies' reference JSON (subject -> attribute -> list of sentences, no ids). Both give one table
with a `line` column (the CSV line or the JSON item) so every later message names its row."""

from __future__ import annotations

import csv
import difflib
import io
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
    if path.is_dir():
        raise AtlasError(f"{path}: is a folder, not a file; point the dataset's path at the file.")
    if not path.is_file():
        raise AtlasError(f"{path}: file not found; check the dataset's path in the config.")
    raw = path.read_bytes()
    if b"\x00" in raw:  # valid UTF-8, but no text file holds NUL: a binary or damaged file
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise AtlasError(
            f"{path}: line {line} holds a NUL byte: this is a binary or damaged file, not text; "
            "point the dataset's path at the UTF-8 text file."
        )
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
    # The csv module splits records itself (on \n, \r\n, \r only): U+2028, a form feed or a
    # vertical tab inside a text are characters of the text, not line ends, and line_num counts
    # the file's own lines. strict: a quote still open at the end of the file is an error.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1  # the line the record being read starts on
    try:
        header = next(reader)
    except StopIteration:
        raise AtlasError(
            f"{path}: the file is empty; it needs a header {','.join(COLUMNS)}."
        ) from None
    except csv.Error as exc:
        raise _parse_error(path, start, reader.line_num, exc) from None
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise AtlasError(_header_problem(path, header, missing))
    index = [header.index(c) for c in COLUMNS]
    rows = []
    start = reader.line_num + 1
    try:
        for row in reader:
            for column, field in zip(header, row, strict=False):
                if "\n" in field or "\r" in field:
                    raise _open_quote(path, start, reader.line_num, f"the '{column}' field")
            if row and len(row) != len(header):
                raise AtlasError(
                    f"{path}: line {start} has {len(row)} fields, the header has {len(header)}; "
                    "quote fields that contain commas."
                )
            if row:
                rows.append([row[i] for i in index] + [start])
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _parse_error(path, start, reader.line_num, exc) from None
    df = pl.DataFrame(rows, schema=[*COLUMNS, "line"], orient="row")
    return _check_fields(df, path)


def _open_quote(path: Path, start: int, end: int, field: str) -> AtlasError:
    return AtlasError(
        f"{path}: line {start}: {field} opens a quote that is not closed on that line (the "
        f"record runs on to line {end}, swallowing the rows between); close the quote (write a "
        'quote inside a quoted field as "") and keep each sentence on one line.'
    )


def _parse_error(path: Path, start: int, line: int, exc: csv.Error) -> AtlasError:
    if "unexpected end of data" in str(exc):
        return AtlasError(
            f"{path}: line {start} opens a quote that is never closed (the file ends inside "
            'it); close the quote (write a quote inside a quoted field as "").'
        )
    if line > start:
        return _open_quote(path, start, line, "a field")
    return AtlasError(
        f"{path}: line {line} cannot be parsed ({exc}); a field over "
        f"{MAX_FIELD_CHARS:,} characters or a stray quote is the usual cause "
        '(quote a whole field, and write a quote inside it as "").'
    )


def _header_problem(path: Path, header: list[str], missing: list[str]) -> str:
    """What is wrong with the first line, without echoing it: the file may not be a sentence
    CSV at all (a system file, a binary), and its content is not ours to print."""
    found = [c for c in COLUMNS if c in header]
    close = {
        c: hit[0]
        for c in missing
        if (hit := difflib.get_close_matches(c, [h[:40] for h in header], n=1, cutoff=0.75))
    }
    hints = "".join(f" (is '{v}' meant to be '{c}'?)" for c, v in close.items())
    if not found and not close:
        return (
            f"{path}: this is not a sentence CSV: its first line has none of the columns "
            f"{','.join(COLUMNS)} ({len(header)} comma-separated field(s)); point the dataset's "
            "path: at a CSV whose first line is that header."
        )
    return (
        f"{path}: missing column(s) {', '.join(missing)} in the header{hints}; "
        f"the header must be {','.join(COLUMNS)}."
    )


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
    for column in ("subject", "attribute", "id"):
        _refuse_near_duplicates(df, column, path, where)
    dup = df.filter(pl.col("id").is_duplicated())
    if not dup.is_empty():
        raise AtlasError(
            f"{path}: id '{dup['id'][0]}' appears {dup.height} times (first at {where} "
            f"{dup['line'][0]}); ids must be unique."
        )
    return df.with_columns(pair=pl.concat_str("subject", pl.lit(":"), "attribute"))


def _refuse_near_duplicates(df: pl.DataFrame, column: str, path: Path, where: str) -> None:
    """Two spellings of one subject, attribute or id that differ only in case or spaces (a
    trailing space, a capital): as different values they would split a pair in two (each "missing
    from the grid") or pass as distinct ids. Name both and where they are."""
    folded = pl.col(column).str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()
    firsts = df.select(column, "line").unique(column, keep="first", maintain_order=True)
    clash = firsts.with_columns(key=folded).filter(pl.col("key").is_duplicated())
    if clash.is_empty():
        return
    key = clash["key"][0]
    (a, line_a), (b, line_b) = clash.filter(pl.col("key") == key).select(column, "line").rows()[:2]
    raise AtlasError(
        f"{path}: {column} {b!r} ({where} {line_b}) differs from {a!r} ({where} {line_a}) only "
        f"in case or spaces; write every row of it the same way"
        + (" (ids must be unique, also without case and spaces)." if column == "id" else ".")
    )


def read_dataset(spec: dict, name: str) -> pl.DataFrame:
    path, _ = dataset_files(spec)
    if path is None:
        raise AtlasError(f"datasets.{name}: no path given; set path: to the sentence file.")
    if spec["source"] == "csv":
        return read_sentence_csv(path)
    return read_reference_json(path)
