"""Which normalisation a loaded model uses, and the centring TransformerLens would give its reads.

TransformerLens' default weight processing (`ProcessWeights.process_weights` in
transformer_lens/weight_processing.py, called by `HookedTransformer.from_pretrained`) centres the
weights that write to the residual stream only when the model's normalization_type is LayerNorm
("LN"/"LNPre"): a LayerNorm subtracts its input's mean, so the mean over d_model never reaches the
output and can be removed from every write. For RMSNorm models ("RMS"/"RMSPre": Llama, SmolLM2,
Qwen, Gemma, OLMo-2) it skips the centring (the mean does reach the output), so their
`hook_resid_post` is the raw residual. With centred writes, a LayerNorm model's residual is the
raw residual minus its mean over d_model, which is what `centring: mean` computes per vector.

The rule here decides from the loaded modules themselves, not from a list of names: a norm that
subtracts the mean gives the same output when a constant is added to every coordinate of its
input; an RMSNorm's output changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.residual import find_blocks, find_final_norm

CENTRINGS = ("auto", "mean", "none")
# Relative change of the output under a constant input shift below which a norm subtracts the
# mean (float32 LayerNorm: ~1e-6; RMSNorm with the shift used here: order 1).
_INVARIANT = 1e-3


@dataclass(frozen=True)
class NormInfo:
    kind: str  # layernorm | rmsnorm | mixed
    reason: str


def subtracts_mean(module: torch.nn.Module, d_model: int) -> bool | None:
    """Whether `module` maps x and x + c (c constant over d_model) to the same output; None when
    the probe cannot tell (the output is zero, or the module does not take a d_model vector)."""
    probe = copy.deepcopy(module).to("cpu", torch.float32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, d_model, generator=gen)
    try:
        with torch.no_grad():
            y0, y1 = probe(x), probe(x + 5.0)
    except (RuntimeError, TypeError, ValueError):
        return None
    if not isinstance(y0, torch.Tensor) or y0.shape != x.shape:
        return None
    scale = float(y0.abs().max())
    if not scale > 0:
        return None
    return float((y1 - y0).abs().max()) / scale < _INVARIANT


def _block_norms(model: torch.nn.Module, d_model: int) -> list[torch.nn.Module]:
    """The leaf modules of the decoder blocks that normalise a d_model vector (the pre-attention
    and pre-MLP norms; per-head q/k norms have another width and are left out)."""
    found = []
    for block in find_blocks(model):
        for module in block.modules():
            if next(module.children(), None) is not None:
                continue
            weight = getattr(module, "weight", None)
            named = "norm" in type(module).__name__.lower()
            is_norm = isinstance(module, torch.nn.LayerNorm) or named
            if is_norm and (weight is None or tuple(weight.shape) == (d_model,)):
                found.append(module)
    return found


def norm_type(model: torch.nn.Module) -> NormInfo:
    """layernorm when the final norm and every block norm subtract the mean, rmsnorm when none
    does, mixed otherwise; the reason names the modules and what the probe saw."""
    d = int(model.config.hidden_size)
    final = find_final_norm(model)
    norms = [("final norm", final)] + [("block norm", m) for m in _block_norms(model, d)]
    verdicts = [(where, type(m).__name__, subtracts_mean(m, d)) for where, m in norms]
    if verdicts[0][2] is None:
        raise AtlasError(
            f"{type(model).__name__}: cannot tell whether its final norm {verdicts[0][1]} "
            "subtracts the mean (its output is zero or it does not take a d_model vector); set "
            "extraction.centring (and plateaus.centring) to mean or none explicitly."
        )
    # A block module the probe cannot read (DiffLlama's per-head sub-norm, which happens to
    # share d_model's width in small configs) is not a residual norm: leave it out.
    verdicts = [verdicts[0]] + [v for v in verdicts[1:] if v[2] is not None]
    final_cls, final_mean = verdicts[0][1], verdicts[0][2]
    block_classes = sorted({cls for _, cls, _ in verdicts[1:]})
    n_blocks_mean = sum(bool(v) for _, _, v in verdicts[1:])
    n_block = len(verdicts) - 1
    blocks = f"{n_block} block norms ({', '.join(block_classes) or 'none'})"
    if final_mean and n_blocks_mean == n_block:
        return NormInfo(
            "layernorm",
            f"final norm {final_cls} and {blocks} subtract the mean (output unchanged when a "
            "constant is added to the input)",
        )
    if not final_mean and n_blocks_mean == 0:
        return NormInfo(
            "rmsnorm",
            f"final norm {final_cls} and {blocks} have no mean subtraction (output changes when "
            "a constant is added to the input)",
        )
    return NormInfo(
        "mixed",
        f"final norm {final_cls} {'subtracts' if final_mean else 'does not subtract'} the mean; "
        f"{n_blocks_mean} of {blocks} do",
    )


def resolve_centring(setting: str, model: torch.nn.Module) -> dict:
    """The centring applied (`mean` or `none`) for a configured `auto` / `mean` / `none`, with
    the rule, the model's norm type and the reason, for meta files. `auto` centres only when
    every norm subtracts the mean, as TransformerLens centres only LayerNorm models."""
    if setting not in CENTRINGS:
        raise AtlasError(f"centring {setting!r} is not one of {CENTRINGS}; fix the config.")
    info = norm_type(model)
    if setting == "auto":
        centring = "mean" if info.kind == "layernorm" else "none"
        reason = f"auto: {info.reason}"
    else:
        centring, reason = setting, f"set explicitly ({info.reason})"
    return {
        "centring": centring,
        "centring_rule": setting,
        "norm_type": info.kind,
        "centring_reason": reason,
    }
