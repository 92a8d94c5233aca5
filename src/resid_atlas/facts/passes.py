"""The two passes over sampled corpus sentences: token activations (forward, hooks, streaming
statistics) and gradients of the next-token loss (forward + backward)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from tqdm import tqdm

from resid_atlas.activations.extract import batches
from resid_atlas.core.errors import AtlasError
from resid_atlas.facts.streaming import LayerStream, StreamSettings, position_buckets
from resid_atlas.models.loading import LoadedModel
from resid_atlas.models.residual import ResidualStream, find_blocks, hook_name

log = logging.getLogger(__name__)
EMBED_LAYER = -1  # the residual stream before block 0: token (+ position) embeddings


def layer_hook(layer: int) -> str:
    return "blocks.0.hook_resid_pre" if layer == EMBED_LAYER else hook_name(layer)


def sample_corpus(corpus: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """n sentences drawn without replacement (all if the corpus is smaller), in corpus order."""
    if corpus.height == 0:
        raise AtlasError("the corpus has no sentences; check the facts dataset.")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(corpus.height, size=min(n, corpus.height), replace=False))
    return corpus[keep]


def tokenize(tokenizer, texts: list[str], max_tokens: int, prepend_bos: bool) -> list[list[int]]:
    """Whole sentences, BOS first when asked for and known, cut to their first max_tokens."""
    bos = tokenizer.bos_token_id if prepend_bos else None
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    out = [(([bos] if bos is not None else []) + list(row))[:max_tokens] for row in encoded]
    empty = [i for i, row in enumerate(out) if not row]
    if empty:
        raise AtlasError(f"sentence {empty[0]} of the sample tokenizes to nothing; remove it.")
    return out


def padded(ids: list[list[int]], rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids[r]) for r in rows)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        input_ids[j, : len(ids[r])] = torch.tensor(ids[r])
        mask[j, : len(ids[r])] = 1
    return input_ids, mask


def _first_input(args, kwargs) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def activation_pass(
    lm: LoadedModel,
    ids: list[list[int]],
    batch_size: int,
    skip_first: bool,
    settings: StreamSettings,
    seed: int,
) -> dict[int, LayerStream]:
    """Stream every real token of every sentence through one `LayerStream` per layer (the
    embeddings as layer -1, then each block's output), never holding more than one batch."""
    stream = ResidualStream(lm.model)
    d = stream.d_model
    layers = [EMBED_LAYER, *range(stream.n_layers)]
    streams = {layer: LayerStream(d, settings, seed + 1000 + layer) for layer in layers}
    lengths = np.array([len(r) for r in ids])
    first = 1 if skip_first else 0
    device = lm.device
    for rows in tqdm(batches(lengths, batch_size), desc=f"activations {lm.name}", mininterval=5):
        input_ids, mask = padded(ids, rows)
        positions = torch.arange(input_ids.shape[1])[None, :].expand_as(input_ids)
        valid = mask.bool()
        counted = valid & (positions >= first)
        buckets = position_buckets(positions, settings.n_buckets)
        context = (valid, counted, buckets, torch.from_numpy(rows))

        def feed(layer, ctx=context):
            def fn(hidden):
                _check_finite(hidden, layer, lm.name)
                streams[layer].update(hidden, *ctx)

            return fn

        block0 = find_blocks(lm.model)[0]
        handle = block0.register_forward_pre_hook(
            lambda m, args, kwargs: feed(EMBED_LAYER)(_first_input(args, kwargs)),
            with_kwargs=True,
        )
        readers = {layer: feed(layer) for layer in range(stream.n_layers)}
        try:
            with torch.no_grad(), stream.hooks(read=readers):
                lm.model.base_model(
                    input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False
                )
        finally:
            handle.remove()
    return streams


def _check_finite(hidden: torch.Tensor, layer: int, model: str) -> None:
    if not torch.isfinite(hidden).all():
        raise AtlasError(
            f"model '{model}': non-finite activation (NaN/inf) at {layer_hook(layer)}; float16 "
            "overflow is the usual cause: use facts.dtype float32 or bfloat16."
        )


def loss_gradients(
    lm: LoadedModel, ids: list[list[int]], batch_size: int
) -> tuple[dict[str, torch.Tensor], float, int]:
    """Gradient of the mean next-token cross-entropy over every predicted token of the sentences,
    per parameter name; also the mean loss and the number of predicted tokens. The model's
    requires_grad flags (off after load_model) are restored afterwards."""
    params = dict(lm.model.named_parameters())
    flags = {name: p.requires_grad for name, p in params.items()}
    lengths = np.array([len(r) for r in ids])
    total_loss, total_tokens = 0.0, 0
    try:
        for p in params.values():
            p.requires_grad_(True)
            p.grad = None
        with torch.enable_grad():
            for rows in tqdm(batches(lengths, batch_size), desc="gradients", mininterval=5):
                input_ids, mask = padded(ids, rows)
                input_ids, mask = input_ids.to(lm.device), mask.to(lm.device)
                logits = lm.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
                target = input_ids[:, 1:]
                keep = (mask[:, 1:] * mask[:, :-1]).bool()
                loss = F.cross_entropy(logits[:, :-1][keep].float(), target[keep], reduction="sum")
                loss.backward()
                total_loss += float(loss.detach())
                total_tokens += int(keep.sum())
        if total_tokens == 0:
            raise AtlasError(
                "no sentence of the gradient sample has two tokens; raise facts.grad_sentences "
                "or facts.max_tokens."
            )
        grads = {}
        for name, p in params.items():
            if p.grad is not None:
                g = p.grad / total_tokens
                if not torch.isfinite(g).all():
                    raise AtlasError(
                        f"model '{lm.name}': non-finite gradient in {name}; use facts.dtype "
                        "float32."
                    )
                grads[name] = g
    finally:
        for name, p in params.items():
            p.grad = None
            p.requires_grad_(flags[name])
    return grads, total_loss / max(total_tokens, 1), total_tokens
