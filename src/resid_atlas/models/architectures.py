"""The check every model passes at load (as nnterp checks its models): the pipeline's residual
access works on this architecture, or one AtlasError says why not.

Checked on a four-token input: the decoder blocks and the final norm are found; the residual read
after each block equals `hidden_states[L + 1]` (the last one before the final norm); the model
keeps an attention key/value cache per block, which `PrefixCache` (plateaus, regions) reuses.
The families tested one by one are in tests/test_architectures.py (README.md, "Supported
architectures"); `UNSUPPORTED` names the families known to fail, with the reason.
"""

from __future__ import annotations

import torch

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.residual import PrefixCache, ResidualStream

_RECURRENT = (
    "a recurrent/state-space model: it keeps no attention key/value cache, so a prompt's prefix "
    "cannot be reused for the plateaus and regions sweeps"
)
_HYBRID = (
    "a hybrid of attention and state-space/convolution layers: its cache is not a key/value "
    "cache per block, so a prompt's prefix cannot be reused for the plateaus and regions sweeps"
)
UNSUPPORTED = {
    "mamba": _RECURRENT,
    "mamba2": _RECURRENT,
    "falcon_mamba": _RECURRENT,
    "rwkv": _RECURRENT,
    "xlstm": _RECURRENT,
    "recurrent_gemma": _RECURRENT,
    "jamba": _HYBRID,
    "bamba": _HYBRID,
    "zamba": _HYBRID,
    "zamba2": _HYBRID,
    "falcon_h1": _HYBRID,
    "lfm2": _HYBRID,
    "nemotron_h": _HYBRID,
    "granitemoehybrid": _HYBRID,
    "openai-gpt": (
        "post-LayerNorm (GPT-1): each block ends in a LayerNorm and there is no final norm, so "
        "there is no residual stream in the pre-norm sense the studies measure"
    ),
}


def _refuse(name: str, model_type: str, why: str) -> AtlasError:
    return AtlasError(
        f"model '{name}': architecture '{model_type}' is not supported: {why}. Supported "
        "families are listed in README.md (Supported architectures); choose one of those."
    )


@torch.no_grad()
def check_architecture(name: str, model: torch.nn.Module) -> None:
    """Raise one AtlasError if the residual reads, writes or prefix cache cannot work."""
    model_type = str(getattr(model.config, "model_type", type(model).__name__))
    if model_type in UNSUPPORTED:
        raise _refuse(name, model_type, UNSUPPORTED[model_type])
    try:
        stream = ResidualStream(model)
    except ValueError as exc:
        raise _refuse(name, model_type, str(exc)) from None
    vocab = int(model.config.vocab_size)
    ids = (torch.arange(1, 5) * 7 % vocab).reshape(1, -1).to(next(model.parameters()).device)
    try:
        reads = stream.read(ids)
        hidden = model(ids, output_hidden_states=True).hidden_states
    except Exception as exc:  # any failure of a forward pass here is the architecture's
        why = f"a forward pass failed ({type(exc).__name__}: {exc})"
        raise _refuse(name, model_type, why) from None
    expected = [*hidden[1:-1], hidden[-1]]
    got = [*reads[:-1], stream.final_norm(reads[-1])]
    if len(hidden) != stream.n_layers + 1 or not all(
        _close(a, b) for a, b in zip(got, expected, strict=True)
    ):
        raise _refuse(
            name,
            model_type,
            f"the outputs of its {stream.n_layers} blocks (the last one through the final "
            "norm) do not reproduce hidden_states, so the blocks found are not its residual "
            "stream",
        )
    try:
        PrefixCache(stream, ids[0])
    except Exception as exc:  # a cache of another layout fails in many ways
        raise _refuse(
            name, model_type, f"no key/value cache per block ({type(exc).__name__}: {exc})"
        ) from None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # The same operations in the same order: equal up to a few ulps of the compute dtype.
    tol = 64 * torch.finfo(b.dtype).eps * (1 + float(b.abs().max()))
    return a.shape == b.shape and float((a.float() - b.float()).abs().max()) <= tol
