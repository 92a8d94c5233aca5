"""Device and dtype selection shared by every job that runs a model."""

from __future__ import annotations

import logging

import torch

from resid_atlas.core.errors import AtlasError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtlasError(
            f"extraction.device is '{name}' but this machine has no CUDA device; "
            "use 'auto' or 'cpu'."
        )
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise AtlasError(f"unknown dtype '{name}'; choose one of {', '.join(DTYPES)}.") from None


def set_threads(threads: int | None) -> None:
    """Use exactly the cores Snakemake gave the job (torch would otherwise take them all)."""
    if threads:
        torch.set_num_threads(int(threads))


def check_dtype(dtype: torch.dtype, device: torch.device, key: str = "extraction.dtype") -> None:
    """Stop before loading weights when `device` cannot compute in `dtype`."""
    name = str(dtype).removeprefix("torch.")
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported(including_emulation=False):
            raise AtlasError(
                f"{key} is bfloat16 but {torch.cuda.get_device_name(device)} has no native "
                "bfloat16 (it needs compute capability 8.0, Ampere, or newer); use float16 or "
                "float32."
            )
        if dtype == torch.float16 and torch.cuda.get_device_capability(device) < (5, 3):
            raise AtlasError(
                f"{key} is float16 but {torch.cuda.get_device_name(device)} has no float16 "
                "arithmetic (compute capability 5.3 or newer); use float32."
            )
        return
    if device.type == "cpu" and dtype in (torch.float16, torch.bfloat16):
        try:  # the ops a decoder block needs; old torch builds lack half-precision CPU kernels
            x = torch.ones(2, 4, dtype=dtype)
            y = torch.nn.functional.layer_norm(x @ x.T, (2,)).softmax(-1)
            torch.nn.functional.gelu(y).sum().item()
        except (RuntimeError, NotImplementedError) as exc:
            raise AtlasError(
                f"{key} is {name} but this torch build cannot compute in {name} on the CPU "
                f"({exc}); use float32 or bfloat16 on the CPU, or run on a GPU."
            ) from None


# Bytes per token and d_model that one decoder block holds at its peak while it runs (the
# residual, q/k/v, the attention output and a 4x-wide MLP with its activation, with headroom).
ACTIVATION_FACTOR = 16


def batch_bytes_per_sentence(
    d_model: int, n_layers: int, seq_len: int, dtype_bytes: int, n_heads: int | None = None
) -> int:
    """Peak memory one sentence of `seq_len` tokens adds to a hidden-states-only forward pass:
    one block's transient activations plus the [T, T] attention scores of every head (eager
    attention; fused kernels need less), plus the float32 pooled vector kept for every layer
    (twice: the per-layer outputs and their stacked copy)."""
    heads = n_heads or max(1, d_model // 64)
    transient = dtype_bytes * (ACTIVATION_FACTOR * seq_len * d_model + heads * seq_len * seq_len)
    return transient + 2 * 4 * n_layers * d_model


def auto_batch_size(
    free_bytes: int,
    d_model: int,
    n_layers: int,
    seq_len: int,
    dtype_bytes: int,
    n_heads: int | None = None,
    headroom: float = 0.5,
    max_batch: int = 1024,
) -> int:
    """Sentences per batch that fit in `headroom` of `free_bytes` (the rest is left to the
    allocator's cache and fragmentation), at least 1, at most `max_batch`."""
    per = batch_bytes_per_sentence(d_model, n_layers, seq_len, dtype_bytes, n_heads)
    return int(max(1, min(max_batch, (free_bytes * headroom) // per)))


CPU_BATCH_SIZE = 64


def batch_size_for(
    setting: int | str,
    device: torch.device,
    d_model: int,
    n_layers: int,
    seq_len: int,
    dtype: torch.dtype,
    n_heads: int | None = None,
) -> int:
    """extraction.batch_size: an integer as given; `auto` sizes the batch from the GPU's free
    memory (torch.cuda.mem_get_info, after the weights are loaded), CPU_BATCH_SIZE on the CPU."""
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _total = torch.cuda.mem_get_info(device)
    size = auto_batch_size(free, d_model, n_layers, seq_len, torch.finfo(dtype).bits // 8, n_heads)
    log.info(
        "batch_size auto: %d sentences of up to %d tokens (%.1f GiB free on %s)",
        size,
        seq_len,
        free / 2**30,
        device,
    )
    return size
