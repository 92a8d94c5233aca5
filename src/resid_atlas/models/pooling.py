"""Extraction protocols: which text goes in and which token positions make a sentence's vector.

- seed: drop the last whitespace-delimited word, take the last token (the studies' protocol; a
  sentence without spaces, such as most Japanese, is left whole);
- last: the whole sentence, last token;
- mean: the whole sentence, mean over its tokens (a prepended BOS excluded).
Centring `mean` subtracts each vector's mean over d_model, as TransformerLens' default weight
processing makes every residual vector zero-mean.
"""

from __future__ import annotations

import torch

PROTOCOLS = ("seed", "last", "mean")


def prompt_text(text: str, protocol: str) -> str:
    if protocol == "seed":
        words = text.rsplit(maxsplit=1)
        return words[0] if len(words) == 2 else text
    return text


def pool(
    hidden: torch.Tensor, lengths: torch.Tensor, protocol: str, skip_first: bool
) -> torch.Tensor:
    """[B, T, d] right-padded hidden states -> [B, d] float32 sentence vectors."""
    hidden = hidden.float()
    if protocol in ("seed", "last"):
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, lengths.to(hidden.device) - 1]
    positions = torch.arange(hidden.shape[1], device=hidden.device)[None, :]
    first = 1 if skip_first else 0
    lengths = lengths.to(hidden.device)[:, None]
    mask = ((positions >= first) & (positions < lengths)).float()
    # A sentence of only BOS keeps its single token rather than dividing by zero.
    mask = torch.where(mask.sum(1, keepdim=True) > 0, mask, (positions < lengths).float())
    return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


def centre(vectors: torch.Tensor, centring: str) -> torch.Tensor:
    if centring == "mean":
        return vectors - vectors.mean(-1, keepdim=True)
    return vectors
