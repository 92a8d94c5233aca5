"""Prompt pairs for the interpolation curves, from the corpus.

- `stream` (the paper's way): the corpus text as one token stream (every sentence followed by a
  newline) cut into consecutive windows of `prompt_length` tokens. With `stream_sampling: random`
  (the default, as the authors' reometry `utils.get_input_ids` and `scripts/interpolate.py`)
  n_pairs + 1 windows are drawn at random from the whole stream by Python's `random.sample`
  seeded with `seed`, and neighbours in the draw form the pairs (A = draw[k], B = draw[k + 1]),
  so the two prompts of a pair are unrelated text. `consecutive` keeps the earlier way: windows
  2i and 2i+1 from the start of the corpus.
- `meaning`: the first `prompt_length` tokens of sentences, paired with a seeded draw balanced over
  four relations (same subject and attribute, same subject only, same attribute only, neither), so
  the curves can be read against meaning.

Every stream window records the corpus sentence it starts in (`id_a`, `id_b`) and its token
offset in the stream (`start_a`, `start_b`), so the table shows where in the corpus pairs come from.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.prompts import sentence_windows, token_stream, with_bos

log = logging.getLogger(__name__)

PAIRINGS = ("stream", "meaning")
STREAM_SAMPLINGS = ("random", "consecutive")
RELATIONS = ("same-both", "same-subject", "same-attribute", "neither")
PAIR_SCHEMA = {
    "pairing": pl.String,
    "pair": pl.Int32,
    "window_a": pl.Int32,
    "window_b": pl.Int32,
    "id_a": pl.String,  # the corpus sentence the window starts in (stream) or is cut from (meaning)
    "id_b": pl.String,
    "start_a": pl.Int64,  # token offset of the window in the corpus stream (stream pairing)
    "start_b": pl.Int64,
    "subject_a": pl.String,
    "subject_b": pl.String,
    "attribute_a": pl.String,
    "attribute_b": pl.String,
    "relation": pl.String,
}


def draw_windows(n_windows: int, n_pairs: int, sampling: str, seed: int) -> np.ndarray:
    """Indices of the stream windows to use, in pair order: pair k is (k, k + 1) for `random`
    (n_pairs + 1 windows drawn without replacement), (2k, 2k + 1) for `consecutive`."""
    if sampling == "random":
        k = min(n_pairs + 1, n_windows)
        return np.asarray(random.Random(seed).sample(range(n_windows), k), dtype=np.int64)
    if sampling == "consecutive":
        return np.arange(min(2 * n_pairs, n_windows - n_windows % 2), dtype=np.int64)
    raise AtlasError(
        f"regions.stream_sampling: unknown value {sampling!r}; choose from {STREAM_SAMPLINGS}."
    )


def stream_pairs(
    corpus: pl.DataFrame,
    tokenizer,
    length: int,
    n_pairs: int,
    prepend_bos: bool,
    sampling: str = "random",
    seed: int = 0,
):
    """Windows [n, T] and the pair table of the stream pairing (see the module docstring)."""
    texts = corpus["text"].to_list()
    # The consecutive windows come from the start: tokenize only as far as they reach.
    budget = length * 2 * n_pairs if sampling == "consecutive" else None
    stream, owner = token_stream(texts, tokenizer, budget)
    n_windows = len(stream) // length
    if n_windows < 2:
        raise AtlasError(
            f"the corpus gives {n_windows} stream windows of {length} tokens; a pair needs two "
            "(lower regions.prompt_length or use a larger dataset)."
        )
    chosen = draw_windows(n_windows, n_pairs, sampling, seed)
    if sampling == "random":
        a = np.arange(len(chosen) - 1, dtype=np.int32)
        b = a + 1
    else:
        a = np.arange(0, len(chosen), 2, dtype=np.int32)
        b = a + 1
    n = len(a)
    if n < n_pairs:
        log.warning(
            "stream pairing: the corpus gives %d pairs of %d tokens, not %d", n, length, n_pairs
        )
    starts = chosen * length
    windows = with_bos(tokenizer, stream[starts[:, None] + np.arange(length)], prepend_bos)
    ids = corpus["id"].to_numpy()[owner[starts]]
    none = pl.Series([None] * n, dtype=pl.String)
    table = pl.DataFrame(
        {
            "pairing": ["stream"] * n,
            "pair": np.arange(n, dtype=np.int32),
            "window_a": a,
            "window_b": b,
            "id_a": ids[a],
            "id_b": ids[b],
            "start_a": starts[a],
            "start_b": starts[b],
            "subject_a": none,
            "subject_b": none,
            "attribute_a": none,
            "attribute_b": none,
            "relation": none,
        },
        schema=PAIR_SCHEMA,
    )
    return windows, table


def relation(subject_a, attribute_a, subject_b, attribute_b) -> str:
    same_s, same_a = subject_a == subject_b, attribute_a == attribute_b
    if same_s and same_a:
        return "same-both"
    if same_s:
        return "same-subject"
    if same_a:
        return "same-attribute"
    return "neither"


def distinct_pairs(subjects: np.ndarray, attributes: np.ndarray) -> dict[str, int]:
    """Unordered pairs of distinct sentences per relation, counted from the group sizes."""

    def pairs_within(*keys) -> int:
        sizes = Counter(zip(*keys, strict=True)).values()
        return sum(k * (k - 1) // 2 for k in sizes)

    n = len(subjects)
    both = pairs_within(subjects, attributes)
    same_s, same_a = pairs_within(subjects), pairs_within(attributes)
    return {
        "same-both": both,
        "same-subject": same_s - both,
        "same-attribute": same_a - both,
        "neither": n * (n - 1) // 2 - same_s - same_a + both,
    }


def _enumerated(rel, want, subjects, attributes, rng) -> list[tuple[str, int, int]]:
    """`want` distinct pairs of relation `rel`, drawn from the full list (few enough here:
    at most twice n_pairs)."""
    same_s = rel in ("same-both", "same-subject")
    same_a = rel in ("same-both", "same-attribute")
    found = []
    for a in range(len(subjects) - 1):  # row by row: memory stays O(n)
        b = np.arange(a + 1, len(subjects))
        ok = ((subjects[b] == subjects[a]) == same_s) & ((attributes[b] == attributes[a]) == same_a)
        found += [(a, int(j)) for j in b[ok]]
    chosen = np.sort(rng.choice(len(found), size=want, replace=False))
    return [(rel, *found[i]) for i in chosen]


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
    available = distinct_pairs(subjects, attributes)
    for rel, want in zip(RELATIONS, per, strict=True):
        if want > available[rel]:
            # A pair drawn twice would count twice in the bootstrap intervals: cap instead.
            log.warning(
                "meaning pairing: %d '%s' pairs asked (regions.n_pairs), the corpus has %d "
                "distinct ones; using those",
                want,
                rel,
                available[rel],
            )
            want = available[rel]
        if want > available[rel] // 2:  # near-exhaustive: rejection would stall, enumerate
            rows += _enumerated(rel, want, subjects, attributes, rng)
            continue
        same_s = rel in ("same-both", "same-subject")
        same_a = rel in ("same-both", "same-attribute")
        got, tries, seen = 0, 0, set()
        while got < want and tries < 20 * want + 100:
            tries += 1
            a = int(rng.integers(n))
            ok = (subjects == subjects[a]) == same_s
            ok &= (attributes == attributes[a]) == same_a
            ok[a] = False
            candidates = np.flatnonzero(ok)
            if candidates.size == 0:
                continue
            b = int(rng.choice(candidates))
            if (min(a, b), max(a, b)) in seen:  # without replacement
                continue
            seen.add((min(a, b), max(a, b)))
            rows.append((rel, a, b))
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
            "start_a": pl.Series([None] * len(rows), dtype=pl.Int64),
            "start_b": pl.Series([None] * len(rows), dtype=pl.Int64),
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
        return stream_pairs(
            corpus, tokenizer, length, n, bos, settings["stream_sampling"], settings["seed"]
        )
    if pairing == "meaning":
        return meaning_pairs(corpus, tokenizer, length, n, bos, settings["seed"])
    raise AtlasError(f"regions.pairings: unknown pairing {pairing!r}; choose from {PAIRINGS}.")
