"""Named model entries of the config -> (model, tokenizer), from three sources.

- gguf-package: weights inside an installed Python package (the embedded SmolLM2-135M-Instruct);
- hf: any Hugging Face causal LM by id and revision (needs the hub or a filled local cache);
- local: a folder holding `save_pretrained` output (model and tokenizer), read offline;
- random-init: an untrained model shaped like another entry, or an explicit small config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from resid_atlas.core.devices import check_dtype, resolve_device, resolve_dtype
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import entry as _entry
from resid_atlas.models.catalog import gguf_location, guard_gguf, local_folder, random_init_config

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    tokenizer: object
    spec: dict

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def describe(self) -> dict:
        return {
            "model": self.name,
            "source": self.spec["source"],
            "id": self.spec.get("id"),
            "path": self.spec.get("path"),
            "revision": self.spec.get("revision"),
            "like": self.spec.get("like"),
            "seed": self.spec.get("seed"),
            "architecture": type(self.model).__name__,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
        }


def _hub_error(name: str, spec: dict, exc: Exception) -> AtlasError:
    revision = spec.get("revision", "main")
    reason = str(exc).splitlines()[0] if str(exc) else ""
    return AtlasError(
        f"model '{name}': could not load '{spec['id']}' (revision {revision}) from the Hugging "
        f"Face hub: {type(exc).__name__}: {reason}. The hub may be "
        "unreachable from this machine: run where it is reachable, or download the model once into "
        "the HF cache (HF_HOME) and set HF_HUB_OFFLINE=1; check the id and revision."
    )


_WHAT = {
    "AutoModelForCausalLM": "the model",
    "AutoTokenizer": "the tokenizer",
    "AutoConfig": "the config",
}


def _pretrained(name: str, spec: dict, loader, **kwargs):
    """`loader.from_pretrained` for a gguf-package or hf entry, with one clear error per failure."""
    if spec["source"] == "gguf-package":
        folder, file = gguf_location(name, spec)
        return guard_gguf(
            name, folder / file, loader.from_pretrained, folder, gguf_file=file, **kwargs
        )
    if spec["source"] == "local":
        folder = local_folder(name, spec)
        try:
            return loader.from_pretrained(folder, local_files_only=True, **kwargs)
        except Exception as exc:  # a partial or foreign folder fails in many ways
            reason = " ".join(str(exc).split())[:300]
            raise AtlasError(
                f"model '{name}': could not load {_WHAT.get(loader.__name__, 'it')} from "
                f"{folder}: {type(exc).__name__}: {reason}. The folder must hold the output of "
                "`model.save_pretrained(folder)` and `tokenizer.save_pretrained(folder)` "
                "(config.json, the weights, the tokenizer files); see docs/cluster.md."
            ) from None
    if spec.get("revision"):
        kwargs["revision"] = spec["revision"]
    try:
        return loader.from_pretrained(spec["id"], **kwargs)
    except Exception as exc:  # hub failures arrive as OSError, HTTP or value errors alike
        raise _hub_error(name, spec, exc) from None


def load_config_of(name: str, models: dict):
    """The transformers config of an entry, without its weights."""
    from transformers import AutoConfig

    spec = _entry(name, models)
    if spec["source"] != "random-init":
        return _pretrained(name, spec, AutoConfig)
    if "like" in spec:
        return load_config_of(spec["like"], models)
    return random_init_config(name, spec)


def load_tokenizer(name: str, models: dict):
    from transformers import AutoTokenizer

    from resid_atlas.models.tokenizer import byte_tokenizer

    spec = _entry(name, models)
    if spec["source"] != "random-init":
        return _pretrained(name, spec, AutoTokenizer)
    if "like" in spec:
        return load_tokenizer(spec["like"], models)
    return byte_tokenizer()


def load_model(
    name: str, models: dict, device: str = "auto", dtype: str = "float32"
) -> LoadedModel:
    """Load a config entry's model in eval mode on `device` in compute `dtype`."""
    from transformers import AutoModelForCausalLM

    from resid_atlas.models.architectures import check_architecture

    spec = _entry(name, models)
    torch_dtype = resolve_dtype(dtype)
    target = resolve_device(device)
    check_dtype(torch_dtype, target, key=f"model '{name}': dtype")
    source = spec["source"]
    log.info("loading model '%s' (%s)", name, source)
    if source != "random-init":
        model = _pretrained(name, spec, AutoModelForCausalLM, dtype=torch_dtype)
    else:
        config = load_config_of(name, models)
        torch.manual_seed(int(spec["seed"]))
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    tokenizer = load_tokenizer(name, models)
    model.to(target).eval()
    model.requires_grad_(False)
    check_architecture(name, model)
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, spec=spec)


def load_for_step(
    name: str, models: dict, settings: dict, threads: int | None, dtype: str | None = None
) -> LoadedModel:
    """What every step that runs a model does first: use the cores Snakemake gave the job, then
    load the model on the section's device in its dtype (or `dtype`)."""
    from resid_atlas.core.devices import set_threads

    set_threads(threads)
    return load_model(name, models, settings["device"], dtype or settings["dtype"])
