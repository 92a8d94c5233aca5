"""Prompt pairs for the interpolation curves, from the corpus.

- `stream` (the paper's way): the corpus text as one token stream cut into consecutive windows of
  `prompt_length` tokens; windows 2i and 2i+1 form pair i.
- `meaning`: the first `prompt_length` tokens of sentences, paired with a seeded draw balanced over
  four relations (same subject and attribute, same subject only, same attribute only, neither), so
  the curves can be read against meaning.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.prompts import sentence_windows, stream_windows

log = logging.getLogger(__name__)

PAIRINGS = ("stream", "meaning")
RELATIONS = ("same-both", "same-subject", "same-attribute", "neither")
PAIR_SCHEMA = {
    "pairing": pl.String,
    "pair": pl.Int32,
    "window_a": pl.Int32,
    "window_b": pl.Int32,
    "id_a": pl.String,
    "id_b": pl.String,
    "subject_a": pl.String,
    "subject_b": pl.String,
    "attribute_a": pl.String,
    "attribute_b": pl.String,
    "relation": pl.String,
}


def stream_pairs(texts: list[str], tokenizer, length: int, n_pairs: int, prepend_bos: bool):
    """Windows [2n, T] and the pair table: pair i = windows (2i, 2i+1)."""
    windows = stream_windows(texts, tokenizer, length, limit=2 * n_pairs, prepend_bos=prepend_bos)
    n = windows.shape[0] // 2
    if n < n_pairs:
        log.warning(
            "stream pairing: the corpus gives %d pairs of %d tokens, not %d", n, length, n_pairs
        )
    idx = np.arange(n, dtype=np.int32)
    none = pl.Series([None] * n, dtype=pl.String)
    table = pl.DataFrame(
        {
            "pairing": ["stream"] * n,
            "pair": idx,
            "window_a": 2 * idx,
            "window_b": 2 * idx + 1,
            "id_a": none,
            "id_b": none,
            "subject_a": none,
            "subject_b": none,
            "attribute_a": none,
            "attribute_b": none,
            "relation": none,
        },
        schema=PAIR_SCHEMA,
    )
    return windows[: 2 * n], table


def relation(subject_a, attribute_a, subject_b, attribute_b) -> str:
    same_s, same_a = subject_a == subject_b, attribute_a == attribute_b
    if same_s and same_a:
        return "same-both"
    if same_s:
        return "same-subject"
    if same_a:
        return "same-attribute"
    return "neither"


def meaning_pairs(
    corpus: pl.DataFrame, tokenizer, length: int, n_pairs: int, prepend_bos: bool, seed: int
):
    """Sentence windows [n, T] and a pair table balanced over RELATIONS (seeded)."""
    windows, meta = sentence_windows(corpus, tokenizer, length, prepend_bos=prepend_bos)
    subjects = meta["subject"].to_numpy()
    attributes = meta["attribute"].to_numpy()
    rng = np.random.default_rng(seed)
    n = len(meta)
    rows = []
    per = [n_pairs // len(RELATIONS) + (i < n_pairs % len(RELATIONS)) for i in range(4)]
    for rel, want in zip(RELATIONS, per, strict=True):
        same_s = rel in ("same-both", "same-subject")
        same_a = rel in ("same-both", "same-attribute")
        got, tries = 0, 0
        while got < want and tries < 20 * want + 100:
            tries += 1
            a = int(rng.integers(n))
            ok = (subjects == subjects[a]) == same_s
            ok &= (attributes == attributes[a]) == same_a
            ok[a] = False
            candidates = np.flatnonzero(ok)
            if candidates.size == 0:
                continue
            rows.append((rel, a, int(rng.choice(candidates))))
            got += 1
        if got < want:
            log.warning("meaning pairing: only %d of %d '%s' pairs exist", got, want, rel)
    if not rows:
        raise AtlasError(
            "the corpus gives no sentence pairs for the meaning pairing; it needs sentences of at "
            f"least {length} tokens from more than one subject or attribute."
        )
    rel, a, b = (np.asarray(col) for col in zip(*rows, strict=True))
    ids = meta["id"].to_numpy()
    # Keep only the windows the pairs use: every kept window costs a clean forward pass.
    used = np.unique(np.concatenate([a, b]))
    compact = np.full(n, -1, dtype=np.int32)
    compact[used] = np.arange(used.size, dtype=np.int32)
    table = pl.DataFrame(
        {
            "pairing": ["meaning"] * len(rows),
            "pair": np.arange(len(rows), dtype=np.int32),
            "window_a": compact[a],
            "window_b": compact[b],
            "id_a": ids[a],
            "id_b": ids[b],
            "subject_a": subjects[a],
            "subject_b": subjects[b],
            "attribute_a": attributes[a],
            "attribute_b": attributes[b],
            "relation": rel.tolist(),
        },
        schema=PAIR_SCHEMA,
    )
    return windows[used], table


def build_pairs(corpus: pl.DataFrame, tokenizer, settings: dict, pairing: str):
    length, n, bos = settings["prompt_length"], settings["n_pairs"], settings["prepend_bos"]
    if pairing == "stream":
        return stream_pairs(corpus["text"].to_list(), tokenizer, length, n, bos)
    if pairing == "meaning":
        return meaning_pairs(corpus, tokenizer, length, n, bos, settings["seed"])
    raise AtlasError(f"regions.pairings: unknown pairing {pairing!r}; choose from {PAIRINGS}.")
