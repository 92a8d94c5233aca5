"""Architecture-aware names of a decoder's parameters: the one place that knows which parameter
of GPT-2, GPT-NeoX/Pythia or Llama/OLMo/Qwen/Mistral is a query, a key, an MLP input, a norm...

`pieces(model)` lists every parameter as one or more `Piece`s with a role, the block it belongs to
and its tensor in the [out, in] orientation of `torch.nn.Linear`:
- GPT-2 stores its matrices as `Conv1D` with transposed weights [in, out]; they are transposed
  back, and the fused `attn.c_attn` (columns q | k | v) is split into three pieces;
- GPT-NeoX (and BLOOM, Persimmon) fuse q, k, v per head: rows [head, (q | k | v), head_dim];
- MPT and Phi-3 stack [q | k | v] rows; Phi-3 and GLM stack [gate | up] rows;
- Llama-family models (Llama, OLMo, Qwen, Mistral, Gemma, SmolLM ...), OPT, GPT-J and GPT-Neo keep
  separate projections. tests/test_architectures.py checks the shapes on every tested family;
  what is left unnamed (Falcon's and CodeGen's own qkv layouts, MoE experts) is "other".
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
    # GPT-Neo
    "attn.attention.q_proj": "attn_q",
    "attn.attention.k_proj": "attn_k",
    "attn.attention.v_proj": "attn_v",
    "attn.attention.out_proj": "attn_out",
    # GPT-J, CodeGen
    "attn.q_proj": "attn_q",
    "attn.k_proj": "attn_k",
    "attn.v_proj": "attn_v",
    "attn.out_proj": "attn_out",
    "mlp.fc_in": "mlp_in",
    "mlp.fc_out": "mlp_out",
    # OPT, XGLM, BioGPT
    "self_attn.out_proj": "attn_out",
    "fc1": "mlp_in",
    "fc2": "mlp_out",
    # Phi, Persimmon, BLOOM, Falcon
    "self_attn.dense": "attn_out",
    "self_attention.dense": "attn_out",
    "mlp.fc1": "mlp_in",
    "mlp.fc2": "mlp_out",
    # MPT
    "ffn.up_proj": "mlp_in",
    "ffn.down_proj": "mlp_out",
}
# Fused matrices and their row layouts (split below):
# - gpt2: GPT-2's Conv1D [in, q|k|v] (GPT-BigCode's Linear with one shared k and v head);
# - per_head: rows [head, (q|k|v), head_dim] (GPT-NeoX, BLOOM, Persimmon);
# - stacked: rows [q | k | v], k and v with num_key_value_heads heads (MPT, Phi-3);
# - gate_up: rows [gate | up] of a gated MLP (Phi-3, GLM).
_FUSED = {
    "attn.c_attn": "gpt2",
    "attention.query_key_value": "per_head",
    "self_attention.query_key_value": "per_head",
    "self_attn.query_key_value": "per_head",
    "attn.Wqkv": "stacked",
    "self_attn.qkv_proj": "stacked",
    "mlp.gate_up_proj": "gate_up",
}
# Falcon's query_key_value (grouped per kv head, or multi-query) and CodeGen's qkv_proj (mp-rank
# blocks) have layouts of their own: they stay "other".
_OWN_LAYOUT = {"falcon"}
_FUSED_ROLES = {"gate_up": ("mlp_gate", "mlp_in")}
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


def _head_dim(config) -> int:
    return int(getattr(config, "head_dim", None) or config.hidden_size // _heads(config))


def _heads(config) -> int:
    return int(config.num_attention_heads)


def _kv_heads(config) -> int:
    return int(getattr(config, "num_key_value_heads", None) or _heads(config))


def _split_fused(style: str, tensor: torch.Tensor, conv1d: bool, model) -> list:
    """The pieces of a fused matrix (q, k, v; or gate, up), each [out, in] (or [out] for biases)."""
    config = model.config
    if style == "gpt2":
        full = tensor.t() if conv1d else tensor  # Conv1D: [in, 3E] -> [3E, in]
        q = int(config.hidden_size)
        kv = (full.shape[0] - q) // 2  # E for GPT-2, one head for multi-query GPT-BigCode
        return list(full.split([q, kv, kv], dim=0))
    if style == "per_head":
        heads = _heads(config)
        rest = tensor.shape[1:]
        per_head = tensor.reshape(heads, 3, tensor.shape[0] // (3 * heads), *rest)
        return [per_head[:, i].reshape(-1, *rest) for i in range(3)]
    if style == "stacked":
        q, kv = _heads(config) * _head_dim(config), _kv_heads(config) * _head_dim(config)
        return list(tensor.split([q, kv, kv], dim=0))
    return list(tensor.chunk(2, dim=0))  # gate_up


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
            if inner in _FUSED and model.config.model_type not in _OWN_LAYOUT:
                style = _FUSED[inner]
                conv1d = is_weight and isinstance(model.get_submodule(module_path), Conv1D)
                split = _split_fused(style, tensor, conv1d, model)
                roles = _FUSED_ROLES.get(style, ("attn_q", "attn_k", "attn_v"))
                for role, part in zip(roles, split, strict=True):
                    tag = role.rpartition("_")[2]
                    out.append((Piece(f"{name}[{tag}]", name, layer, role, leaf), part))
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
