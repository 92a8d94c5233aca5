"""Architecture-aware names of a decoder's parameters: the one place that knows which parameter
of GPT-2, GPT-NeoX/Pythia or Llama/OLMo/Qwen/Mistral is a query, a key, an MLP input, a norm...

`pieces(model)` lists every parameter as one or more `Piece`s with a role, the block it belongs to
and its tensor in the [out, in] orientation of `torch.nn.Linear`:
- GPT-2 stores its matrices as `Conv1D` with transposed weights [in, out]; they are transposed
  back, and the fused `attn.c_attn` (columns q | k | v) is split into three pieces;
- GPT-NeoX fuses q, k, v in `attention.query_key_value` per head: its rows are laid out as
  [head, (q | k | v), head_dim] and are split accordingly;
- Llama-family models (Llama, OLMo, OLMo-2, Qwen-2/3, Mistral, SmolLM2) keep separate projections.
Pass `tensors` (e.g. gradients by parameter name) to get the same pieces of other tensors.
Tied weights appear once (as the embedding), as `named_parameters` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from resid_atlas.models.residual import find_blocks

ROLES = (
    "embedding",
    "position_embedding",
    "unembedding",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_out",
    "mlp_in",
    "mlp_gate",
    "mlp_out",
    "norm",
    "other",
)
READING = ("attn_q", "attn_k", "attn_v", "mlp_in", "mlp_gate")
WRITING = ("attn_out", "mlp_out")

# Module names inside a block (the path after `<blocks>.<L>.`, without .weight/.bias) -> role.
_BLOCK_MODULES = {
    # Llama, OLMo, OLMo-2, Qwen, Mistral
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_out",
    "mlp.gate_proj": "mlp_gate",
    "mlp.up_proj": "mlp_in",
    "mlp.down_proj": "mlp_out",
    # GPT-2 (c_attn is fused, split below)
    "attn.c_proj": "attn_out",
    "mlp.c_fc": "mlp_in",
    "mlp.c_proj": "mlp_out",
    # GPT-NeoX (query_key_value is fused, split below)
    "attention.dense": "attn_out",
    "mlp.dense_h_to_4h": "mlp_in",
    "mlp.dense_4h_to_h": "mlp_out",
}
_FUSED = {"attn.c_attn": "gpt2", "attention.query_key_value": "gpt_neox"}
_OUTSIDE = {
    "wte": "embedding",
    "embed_tokens": "embedding",
    "embed_in": "embedding",
    "wpe": "position_embedding",
    "lm_head": "unembedding",
    "embed_out": "unembedding",
}
_NORM = re.compile(r"(^|[._])(ln_\w+|\w*norm\w*)$")


@dataclass(frozen=True)
class Piece:
    name: str  # parameter name, with [q]/[k]/[v] appended for a slice of a fused matrix
    param: str  # the parameter's own name in named_parameters()
    layer: int  # decoder block, -1 for parameters outside the blocks
    role: str  # one of ROLES
    kind: str  # "weight", "bias" or "norm" (a norm's weight or bias)

    @property
    def group(self) -> str:
        """ "reading" (q, k, v, MLP in/gate), "writing" (attention out, MLP out) or "other"."""
        if self.role in READING:
            return "reading"
        if self.role in WRITING:
            return "writing"
        return "other"


def _blocks_prefix(model: torch.nn.Module) -> str:
    blocks = find_blocks(model)
    for name, module in model.named_modules():
        if module is blocks:
            return name
    raise ValueError(f"{type(model).__name__}: decoder blocks not found among its modules")


def _split_fused(style: str, tensor: torch.Tensor, is_weight: bool, model) -> list:
    """[q, k, v] pieces of a fused attention input, each [out, in] (or [out] for biases)."""
    if style == "gpt2":
        full = tensor.t() if is_weight else tensor  # Conv1D: [in, 3E] -> [3E, in]
        return list(full.chunk(3, dim=0))
    heads = int(model.config.num_attention_heads)
    rest = tensor.shape[1:]
    per_head = tensor.reshape(heads, 3, tensor.shape[0] // (3 * heads), *rest)
    return [per_head[:, i].reshape(-1, *rest) for i in range(3)]


def pieces(
    model: torch.nn.Module, tensors: Mapping[str, torch.Tensor] | None = None
) -> list[tuple[Piece, torch.Tensor]]:
    """Every parameter (or the given tensor under its name) as role-named [out, in] pieces."""
    from transformers.pytorch_utils import Conv1D

    prefix = _blocks_prefix(model)
    block_re = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.(.+)\.(weight|bias)$")
    out: list[tuple[Piece, torch.Tensor]] = []
    for name, param in model.named_parameters():
        tensor = param if tensors is None else tensors.get(name)
        if tensor is None:
            continue
        module_path, _, leaf = name.rpartition(".")
        is_weight = leaf == "weight"
        found = block_re.match(name)
        if found:
            layer, inner = int(found.group(1)), found.group(2)
            if inner in _FUSED:
                split = _split_fused(_FUSED[inner], tensor, is_weight, model)
                for tag, part in zip("qkv", split, strict=True):
                    piece = Piece(f"{name}[{tag}]", name, layer, f"attn_{tag}", leaf)
                    out.append((piece, part))
                continue
            role = _BLOCK_MODULES.get(inner)
            if role is None and _NORM.search(inner):
                role = "norm"
        else:
            layer = -1
            last = module_path.rpartition(".")[2]
            role = _OUTSIDE.get(last) or ("norm" if _NORM.search(last) else None)
        role = role or "other"
        kind = "norm" if role == "norm" else leaf
        if is_weight and isinstance(model.get_submodule(module_path), Conv1D):
            tensor = tensor.t()
        out.append((Piece(name, name, layer, role, kind), tensor))
    return out
