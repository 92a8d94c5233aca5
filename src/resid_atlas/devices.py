"""Device and dtype selection shared by every job that runs a model."""

from __future__ import annotations

import torch

from resid_atlas.errors import AtlasError

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
