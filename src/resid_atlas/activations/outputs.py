"""Files of the activations stage (no heavy imports: the Snakefile plans with this module).

Shards live in a folder per extraction protocol (`seed`, `last`, `mean`); the analyses read
the configured protocol's folder, the Japanese pooling control reads `last`."""

from __future__ import annotations

PROTOCOLS = ("seed", "last", "mean")
DIR = "results/activations/{dataset}/{model}/{protocol}"
SHARD = f"{DIR}/layer_{{layer}}.npy"
INDEX = f"{DIR}/index.parquet"
META = f"{DIR}/meta.json"
# extraction keys that change the shards (the protocol is the folder; device and batching do not
# change what is computed beyond float rounding, but they are kept so a rerun is explicit)
SETTINGS = ("centring", "prepend_bos", "dtype", "device", "batch_size", "max_tokens")


def shard(dataset: str, model: str, protocol: str, layer: int) -> str:
    return SHARD.format(dataset=dataset, model=model, protocol=protocol, layer=layer)


def index(dataset: str, model: str, protocol: str) -> str:
    return INDEX.format(dataset=dataset, model=model, protocol=protocol)


def meta(dataset: str, model: str, protocol: str) -> str:
    return META.format(dataset=dataset, model=model, protocol=protocol)


def targets(config: dict, n_layers) -> list[str]:
    protocol = config["extraction"]["protocol"]
    return [
        path
        for dataset in config["atlas"]["datasets"]
        for model in config["atlas"]["models"]
        for path in (
            index(dataset, model, protocol),
            meta(dataset, model, protocol),
            *(shard(dataset, model, protocol, layer) for layer in range(n_layers(model))),
        )
    ]
