"""Activation shards: one job loads a model once and writes, for every block L,
`layer_<L>.npy` [n_sentences, d_model] float32 of pooled residual vectors, plus `index.parquet`
(row -> sentence) and `meta.json` (how the vectors were made)."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from pathlib import Path

import numpy as np
import polars as pl
import torch
import transformers
from tqdm import tqdm

import resid_atlas
from resid_atlas.core.atomic import fresh_temp, write_json, write_parquet
from resid_atlas.core.devices import batch_size_for
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.models.loading import LoadedModel
from resid_atlas.models.norms import resolve_centring
from resid_atlas.models.pooling import centre, pool, prompt_text
from resid_atlas.models.residual import ResidualStream, hook_name

log = logging.getLogger(__name__)

INDEX_SCHEMA = {
    "row": pl.Int32,
    "id": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,
    "split": pl.String,
    "n_tokens": pl.Int32,
    "truncated": pl.Boolean,
}


def tokenize(
    lm: LoadedModel, texts: list[str], settings: dict
) -> tuple[list[list[int]], list[bool]]:
    """Token ids per sentence under the protocol; over-long prompts keep their last max_tokens
    tokens so the pooled (last) position stays the sentence's own."""
    tok = lm.tokenizer
    bos = tok.bos_token_id if settings["prepend_bos"] else None
    prompts = [prompt_text(t, settings["protocol"]) for t in texts]
    encoded = tok(prompts, add_special_tokens=False)["input_ids"]
    limit = settings["max_tokens"] - (bos is not None)
    ids, truncated = [], []
    for row in encoded:
        truncated.append(len(row) > limit)
        row = row[-limit:] if settings["protocol"] != "mean" else row[:limit]
        ids.append(([bos] if bos is not None else []) + list(row))
    empty = [i for i, row in enumerate(ids) if not row]
    if empty:
        raise AtlasError(
            f"sentence row {empty[0]} tokenizes to nothing; remove it from the corpus."
        )
    return ids, truncated


def batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped by similar length, longest first (memory trouble shows in the first
    batch). Each batch holds at most `batch_size` sentences of median length in padded tokens:
    fewer rows when long, more when short, so the long tail of a corpus does not pad a whole
    batch of `batch_size` rows to its longest sentence."""
    order = np.argsort(-lengths, kind="stable")
    budget = batch_size * max(1, int(np.median(lengths)))
    out, start = [], 0
    while start < len(order):
        rows = max(1, budget // int(lengths[order[start]]))
        out.append(order[start : start + rows])
        start += rows
    return out


def extract_shards(
    corpus: pl.DataFrame,
    lm: LoadedModel,
    settings: dict,
    out_dir: str | Path,
    protocol: str | None = None,
) -> None:
    settings = {**settings, **({"protocol": protocol} if protocol else {})}
    # `auto` becomes mean or none here, from the loaded model's norms (models/norms.py).
    centring = resolve_centring(settings["centring"], lm.model)
    settings["centring"] = centring["centring"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stream = ResidualStream(lm.model)
    ids, truncated = tokenize(lm, corpus["text"].to_list(), settings)
    lengths = np.array([len(r) for r in ids])
    if any(truncated):
        log.warning(
            "%d sentences longer than max_tokens were cut to their last tokens", sum(truncated)
        )
    n, d = corpus.height, stream.d_model
    finals = [out_dir / f"layer_{layer}.npy" for layer in range(stream.n_layers)]
    temps = [fresh_temp(path) for path in finals]
    skip_first = settings["prepend_bos"] and lm.tokenizer.bos_token_id is not None
    device = lm.device
    try:
        shards = [
            np.lib.format.open_memmap(t, mode="w+", dtype=np.float32, shape=(n, d)) for t in temps
        ]
        size = batch_size_for(
            settings["batch_size"],
            device,
            d,
            stream.n_layers,
            int(lengths.max()),
            next(lm.model.parameters()).dtype,
            getattr(lm.model.config, "num_attention_heads", None),
        )
        groups = batches(lengths, size)
        for rows in tqdm(groups, desc=f"extract {lm.name}", unit="batch", mininterval=5):
            width = int(lengths[rows].max())
            input_ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows):
                input_ids[j, : lengths[r]] = torch.tensor(ids[r])
                mask[j, : lengths[r]] = 1
            # On the device once per batch: pooling indexes every layer with it, and a CPU tensor
            # there would be copied host-to-device once per layer.
            batch_len = torch.from_numpy(lengths[rows]).to(device)
            pooled = stream.read(
                input_ids.to(device),
                mask.to(device),
                pool=lambda h, bl=batch_len: centre(
                    pool(h, bl, settings["protocol"], skip_first), settings["centring"]
                ),
            )
            stacked = torch.stack(pooled).cpu().numpy()  # [L, B, d]: one transfer per batch
            _check_finite(stacked, rows, corpus, settings["dtype"])
            for layer, shard in enumerate(shards):
                shard[rows] = stacked[layer]
        for shard in shards:
            shard.flush()
        del shards
        for tmp, final in zip(temps, finals, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    index = corpus.select("id", "subject", "attribute", "pair", "split").with_columns(
        row=pl.int_range(n, dtype=pl.Int32),
        n_tokens=pl.Series(lengths, dtype=pl.Int32),
        truncated=pl.Series(truncated, dtype=pl.Boolean),
    )
    write_parquet(index.select(list(INDEX_SCHEMA)).cast(INDEX_SCHEMA), out_dir / "index.parquet")
    write_json({**_meta(lm, settings, n, size), **centring}, out_dir / "meta.json")


def _check_finite(stacked: np.ndarray, rows: np.ndarray, corpus: pl.DataFrame, dtype: str) -> None:
    bad = ~np.isfinite(stacked)
    if bad.any():
        layer, j, dim = (int(x[0]) for x in np.nonzero(bad))
        fix = (
            "float16 overflow is the usual cause: use dtype float32 or bfloat16."
            if dtype == "float16"
            else f"the model itself produces NaN/inf in {dtype}: check its weights (a corrupt "
            "or wrongly converted file) and its config entry."
        )
        raise AtlasError(
            f"non-finite activation (NaN/inf) at {hook_name(layer)}, sentence "
            f"'{corpus['id'][int(rows[j])]}', dimension {dim}; {fix}"
        )


def _meta(lm: LoadedModel, settings: dict, n: int, batch_size: int) -> dict:
    return {
        **lm.describe(),
        "protocol": settings["protocol"],
        "prepend_bos": settings["prepend_bos"],
        "compute_dtype": settings["dtype"],
        "stored_dtype": "float32",
        "max_tokens": settings["max_tokens"],
        "batch_size": batch_size,
        "n_sentences": n,
        "hook_points": [hook_name(layer) for layer in range(lm.n_layers)],
        "device": str(lm.device),
        "versions": {
            "resid_atlas": resid_atlas.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
    }


def extract(
    corpus: str,
    model: str,
    models: dict,
    settings: dict,
    protocol: str,
    out_dir: str,
    threads: int | None,
) -> None:
    """Step `activations extract`: load `model` once; write every layer's shard, the row index
    and meta.json of one (dataset, model, protocol) into `out_dir` (activations/outputs.py)."""
    from resid_atlas.models.loading import load_for_step

    lm = load_for_step(model, models, settings, threads)
    extract_shards(read_table(corpus), lm, settings, out_dir, protocol=protocol)
