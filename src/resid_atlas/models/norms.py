"""Which normalisation a decoder uses, read from its behaviour rather than its class name.

LayerNorm subtracts each vector's mean over d_model before scaling, so adding the same constant
to every coordinate leaves its output unchanged; RMSNorm only rescales, so it does not. Testing
that on the final norm covers every family's own class (Cohere's and OLMo's LayerNorms without a
bias, Gemma's RMSNorm with its 1 + weight, Nemotron's LayerNorm1P) with no table of names.
"""

from __future__ import annotations

import copy

import torch

from resid_atlas.models.residual import find_final_norm

NORM_TYPES = ("layernorm", "rmsnorm")


@torch.no_grad()
def norm_type(model: torch.nn.Module) -> str:
    """ "layernorm" (mean-subtracting) or "rmsnorm" (scale only), from the model's final norm."""
    # A float32 copy: a bfloat16 model's rounding would blur the comparison.
    norm = copy.deepcopy(find_final_norm(model)).float()
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, int(model.config.hidden_size), generator=g).to(device)
    same = torch.allclose(norm(x), norm(x + 3.0), rtol=1e-3, atol=1e-3)
    return "layernorm" if same else "rmsnorm"
