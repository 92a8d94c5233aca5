"""Read and write the residual stream of a Hugging Face decoder through plain forward hooks.

Hook points are named like TransformerLens: `blocks.{L}.hook_resid_post` is the residual after
decoder block L (L = 0 .. n_layers-1; the embeddings are not a block). Reading it equals
`hidden_states[L + 1]` of `output_hidden_states=True`, except that Hugging Face applies the final
norm to its last entry while we return the raw residual, as TransformerLens does.

Writes replace the residual after block L at one position with given vectors. For a write at the
last position, `PrefixCache` runs the prompt's prefix once and every perturbed vector then costs a
single-token forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from transformers import DynamicCache


def hook_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def find_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks: the first ModuleList inside the base model with one entry per hidden
    layer (transformer.h in GPT-2, gpt_neox.layers in Pythia, model.layers in Llama/OLMo/Qwen,
    model.decoder.layers in OPT)."""
    n = model.config.num_hidden_layers
    for _, module in model.base_model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"{type(model).__name__}: no ModuleList of {n} decoder blocks found")


# Names of the norm after the last block across families (GPT-2 and Bloom ln_f, OPT
# final_layer_norm, Llama norm, Phi and Persimmon final_layernorm, MPT norm_f, CTRL layernorm,
# BioGPT layer_norm).
FINAL_NORMS = (
    "ln_f",
    "final_layer_norm",
    "norm",
    "final_layernorm",
    "norm_f",
    "final_norm",
    "layernorm",
    "layer_norm",
)


def find_final_norm(model: torch.nn.Module) -> torch.nn.Module:
    """The norm applied after the last block: a module of the base model outside the blocks
    named as in FINAL_NORMS (blocks hold norms of their own, some also named `norm`)."""
    blocks = find_blocks(model)
    inside = {id(m) for m in blocks.modules()}
    for path, module in model.base_model.named_modules():
        if id(module) not in inside and path.rpartition(".")[2] in FINAL_NORMS:
            return module
    raise ValueError(f"{type(model).__name__}: no final norm found (named one of {FINAL_NORMS})")


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@dataclass
class Patched:
    """What a patched run returns: next-token logits [B, vocab] (or None) and the residual at the
    last position of each requested layer, {layer: [B, d_model]}."""

    logits: torch.Tensor | None
    resid: dict[int, torch.Tensor]


class ResidualStream:
    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.blocks = find_blocks(model)
        self.final_norm = find_final_norm(model)
        self.n_layers = len(self.blocks)
        self.d_model = int(model.config.hidden_size)

    @contextlib.contextmanager
    def hooks(
        self,
        read: dict[int, Callable[[torch.Tensor], None]] | None = None,
        write: dict[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> Iterator[None]:
        """Install read hooks (called with the block's output [B, T, d]) and write hooks (return
        the replacement output) for the duration of the block."""
        handles = []

        def reader(fn):
            return lambda module, args, output: fn(_hidden(output))

        def writer(fn):
            return lambda module, args, output: _replace_hidden(output, fn(_hidden(output)))

        try:
            for layer, fn in (write or {}).items():
                handles.append(self.blocks[layer].register_forward_hook(writer(fn)))
            for layer, fn in (read or {}).items():
                handles.append(self.blocks[layer].register_forward_hook(reader(fn)))
            yield
        finally:
            for handle in handles:
                handle.remove()

    @torch.no_grad()
    def read(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pool: Callable[[torch.Tensor], torch.Tensor] | None = None,
        layers: list[int] | None = None,
    ) -> list[torch.Tensor]:
        """The residual after each block, reduced by `pool` inside the hook (so a long prompt
        never keeps n_layers full [B, T, d] tensors). Runs the base model only: no LM head."""
        layers = list(range(self.n_layers)) if layers is None else layers
        out: dict[int, torch.Tensor] = {}

        def keep(layer):
            def fn(hidden):
                out[layer] = pool(hidden) if pool is not None else hidden

            return fn

        with self.hooks(read={layer: keep(layer) for layer in layers}):
            self.model.base_model(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            )
        return [out[layer] for layer in layers]

    @torch.no_grad()
    def run_patched(
        self,
        input_ids: torch.Tensor,
        layer: int,
        position: int,
        vectors: torch.Tensor,
        read_layers: tuple[int, ...] = (),
        logits: bool = True,
    ) -> Patched:
        """Full re-run of one prompt [T] (or [1, T]) once per vector in `vectors` [B, d], with the
        residual after block `layer` at `position` replaced. The reference for `PrefixCache`."""
        ids = input_ids.reshape(1, -1).expand(vectors.shape[0], -1)
        return self._forward(ids, layer, position, vectors, read_layers, logits, cache=None)

    def _forward(self, ids, layer, position, vectors, read_layers, logits, cache) -> Patched:
        resid: dict[int, torch.Tensor] = {}

        def put(hidden):
            hidden = hidden.clone()
            hidden[:, position, :] = vectors.to(hidden.dtype)
            return hidden

        def keep(at):
            return lambda hidden: resid.__setitem__(at, hidden[:, -1, :].float())

        net = self.model if logits else self.model.base_model
        with self.hooks(read={at: keep(at) for at in read_layers}, write={layer: put}):
            out = net(input_ids=ids, past_key_values=cache, use_cache=cache is not None)
        next_logits = out.logits[:, -1, :].float() if logits else None
        return Patched(logits=next_logits, resid=resid)


class PrefixCache:
    """A prompt's prefix run once; `run` then patches its last position for a batch of vectors at
    the cost of one token each, reusing the prefix's keys and values."""

    def __init__(self, stream: ResidualStream, input_ids: torch.Tensor):
        self.stream = stream
        ids = input_ids.reshape(1, -1)
        if ids.shape[1] < 2:
            raise ValueError("a prompt needs at least two tokens to cache a prefix")
        self.last = ids[:, -1:]
        with torch.no_grad():
            out = stream.model.base_model(input_ids=ids[:, :-1], use_cache=True)
        self._kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def _cache(self, batch: int) -> DynamicCache:
        # expand() makes views, not copies: the cache's concat on the new token allocates anyway.
        return DynamicCache(
            ddp_cache_data=[
                (k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self._kv
            ],
            config=self.stream.model.config,
        )

    @torch.no_grad()
    def run(
        self,
        layer: int,
        vectors: torch.Tensor,
        read_layers: tuple[int, ...] = (),
        logits: bool = True,
    ) -> Patched:
        batch = vectors.shape[0]
        ids = self.last.expand(batch, 1)
        return self.stream._forward(
            ids, layer, -1, vectors, read_layers, logits, cache=self._cache(batch)
        )
