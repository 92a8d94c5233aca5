"""The plateau study's prompt windows: fixed-length token windows cut from the corpus (shuffled
sentences joined into one stream) or any text file, split into base, real-other and reference
prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.models.prompts import stream_windows, text_file_lines

PROMPTS_SCHEMA = {
    "model": pl.String,
    "window": pl.Int32,
    "role": pl.String,  # base, other (real-other target of the same curve) or reference
    "curve": pl.Int32,  # the curve a base/other window belongs to (null for reference)
    "text": pl.String,  # the window decoded
}


def source_texts(source: str | Path, kind: str) -> list[str]:
    """The prompt texts: the lines of a text file (`kind` "text") or a corpus's sentences."""
    if kind == "text":
        return text_file_lines(source)
    path = Path(source)
    if not path.is_file():
        raise AtlasError(f"{path}: corpus not found; run the ingest step for this dataset first.")
    texts = read_table(path, columns=["text"])["text"].to_list()
    if not texts:
        raise AtlasError(f"{path}: the corpus has no sentences; check plateaus.dataset.")
    return texts


def prompt_windows(texts: list[str], tokenizer, settings: dict) -> dict[str, np.ndarray]:
    """{'base', 'other', 'reference'} token windows [n, length(+1 with BOS)], disjoint."""
    curves, n_ref = settings["curves"], settings["reference_prompts"]
    need = 2 * curves + n_ref
    order = np.random.default_rng(settings["seed"]).permutation(len(texts))
    windows = stream_windows(
        [texts[i] for i in order],
        tokenizer,
        settings["prompt_length"],
        limit=need,
        prepend_bos=settings["prepend_bos"],
    )
    if len(windows) < need:
        raise AtlasError(
            f"the prompt text yields {len(windows)} windows of {settings['prompt_length']} tokens "
            f"but plateaus needs {need} (2 x curves + reference_prompts); lower plateaus.curves "
            "or plateaus.statistics_prompts, or use a longer text."
        )
    return {
        "base": windows[:curves],
        "other": windows[curves : 2 * curves],
        "reference": windows[2 * curves :],
    }


def prompts_frame(model: str, windows: dict[str, np.ndarray], tokenizer) -> pl.DataFrame:
    rows, start = [], 0
    for role in ("base", "other", "reference"):
        for i, ids in enumerate(windows[role]):
            rows.append(
                {
                    "model": model,
                    "window": start + i,
                    "role": role,
                    "curve": i if role != "reference" else None,
                    "text": tokenizer.decode(ids.tolist()),
                }
            )
        start += len(windows[role])
    return pl.DataFrame(rows, schema=PROMPTS_SCHEMA)
