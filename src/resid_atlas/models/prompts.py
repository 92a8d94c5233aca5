"""Fixed-length token prompts for the perturbation studies (plateaus, stable regions).

- `token_stream`: the corpus (or any text file) tokenized as one stream, with the text each token
  comes from;
- `stream_windows`: that stream cut into consecutive, non-overlapping windows, as the
  stable-regions authors cut ordinary text.
- `sentence_windows`: the first `length` tokens of each sentence long enough, keeping its id,
  subject and attribute, so prompts can be paired by meaning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError

WINDOW_SCHEMA = {
    "window": pl.Int32,
    "id": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
}


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def with_bos(tokenizer, rows: np.ndarray, prepend_bos: bool) -> np.ndarray:
    if not prepend_bos or tokenizer.bos_token_id is None:
        return rows
    bos = np.full((rows.shape[0], 1), tokenizer.bos_token_id, dtype=rows.dtype)
    return np.concatenate([bos, rows], axis=1)


def token_stream(
    texts: list[str], tokenizer, max_tokens: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The texts tokenized as one stream, each followed by a newline's tokens: (ids [N] int64,
    index of the text each token belongs to [N] int32). Stops after the text that reaches
    `max_tokens`."""
    separator = _encode(tokenizer, ["\n"])[0]
    stream: list[int] = []
    owner: list[int] = []
    for i, ids in enumerate(_encode(tokenizer, texts)):
        stream.extend(ids)
        stream.extend(separator)
        owner.extend([i] * (len(ids) + len(separator)))
        if max_tokens is not None and len(stream) >= max_tokens:
            break
    return np.asarray(stream, dtype=np.int64), np.asarray(owner, dtype=np.int32)


def stream_windows(
    texts: list[str], tokenizer, length: int, limit: int | None = None, prepend_bos: bool = False
) -> np.ndarray:
    """[n, length (+1 with BOS)] int64 token windows cut from the texts joined by newlines."""
    stream, _ = token_stream(texts, tokenizer, None if limit is None else length * limit)
    n = len(stream) // length
    if limit is not None:
        n = min(n, limit)
    if n == 0:
        raise AtlasError(f"the text yields fewer than {length} tokens; no prompt window fits.")
    rows = stream[: n * length].reshape(n, length)
    return with_bos(tokenizer, rows, prepend_bos)


def sentence_windows(
    corpus: pl.DataFrame, tokenizer, length: int, prepend_bos: bool = False
) -> tuple[np.ndarray, pl.DataFrame]:
    """The first `length` tokens of every sentence that has that many, with their metadata."""
    keep, rows = [], []
    for i, ids in enumerate(_encode(tokenizer, corpus["text"].to_list())):
        if len(ids) >= length:
            keep.append(i)
            rows.append(ids[:length])
    if not rows:
        raise AtlasError(f"no sentence has {length} tokens; lower the prompt length.")
    meta = corpus[keep].select("id", "subject", "attribute")
    meta = meta.with_columns(window=pl.int_range(len(keep), dtype=pl.Int32))
    windows = with_bos(tokenizer, np.asarray(rows, dtype=np.int64), prepend_bos)
    return windows, meta.select(list(WINDOW_SCHEMA)).cast(WINDOW_SCHEMA)


def text_file_lines(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (for prompts from any file in resources/)."""
    path = Path(path)
    if not path.is_file():
        raise AtlasError(
            f"{path}: prompt text file not found; check the prompts' path in the config."
        )
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise AtlasError(f"{path}: not valid UTF-8; save the file as UTF-8.") from None
    return [line for line in lines if line]
