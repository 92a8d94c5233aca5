"""Job sizes for the scheduler, known at planning time (no torch, no download): a model's
parameter count, and from it the memory and wall time of the jobs that load it.

Calibrated on measurements (docs/benchmarks.md, "Seed scale"): a model job's peak memory is the
Python/torch base plus 4 bytes per parameter (float32 weights, once: 909 MB + 3.98 bytes per
parameter fits the six seed models within 52 MB); its time grows with the parameter count."""

from __future__ import annotations

import math
import re

from resid_atlas.models.catalog import entry, local_config, local_folder

# Millions of parameters of the studies' hub models (their model cards) and the embedded default.
KNOWN_PARAMS_M = {
    "gpt2": 124,
    "openai-community/gpt2": 124,
    "gpt2-medium": 355,
    "openai-community/gpt2-medium": 355,
    "gpt2-large": 774,
    "openai-community/gpt2-large": 774,
    "gpt2-xl": 1558,
    "openai-community/gpt2-xl": 1558,
    "EleutherAI/pythia-70m": 70,
    "EleutherAI/pythia-160m": 162,
    "EleutherAI/pythia-410m": 405,
    "EleutherAI/pythia-1b": 1012,
    "EleutherAI/pythia-1.4b": 1415,
    "EleutherAI/pythia-2.8b": 2775,
    "SmolLM2-135M-Instruct.Q4_1.gguf": 135,
}
UNKNOWN_PARAMS_M = 1000  # an unlisted hub model is budgeted as a 1B model
_SIZE = re.compile(r"(?<![0-9.])(\d+(?:\.\d+)?)([mb])(?![a-z])", re.IGNORECASE)

# Measured: a model job without its weights (Python, torch, transformers, tokenizer, batches),
# and float32 weights loaded once; 5 bytes leave a quarter on top (tests/test_cluster.py checks
# the plan against the measured peaks). Until bench/seed_scale.py measured them this was 8 bytes,
# which over-asked by 2.2-2.5x.
BASE_MB = 1000
BYTES_PER_PARAM = 5


def params_m(name: str, models: dict) -> float:
    """Millions of parameters of a config entry, from the table above, the entry's explicit
    config (random-init), or a size in its id or file name ('pythia-1b', 'OLMo-7B')."""
    spec = entry(name, models)
    if spec["source"] == "random-init":
        if "like" in spec:
            return params_m(spec["like"], models)
        return _from_config(spec.get("config", {}))
    if spec["source"] == "local":
        return _from_snapshot(name, spec)
    key = spec["id"] if spec["source"] == "hf" else spec["gguf_file"]
    if key in KNOWN_PARAMS_M:
        return float(KNOWN_PARAMS_M[key])
    sizes = _SIZE.findall(key.rsplit("/", 1)[-1])
    if sizes:
        number, unit = sizes[-1]
        return float(number) * (1000 if unit.lower() == "b" else 1)
    return float(UNKNOWN_PARAMS_M)


_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


def _from_snapshot(name: str, spec: dict) -> float:
    """Millions of parameters of a save_pretrained folder, exactly, from the safetensors header
    (shapes only: 8 bytes of length, then JSON); a sharded folder's index gives the total bytes.
    Neither present (a .bin checkpoint): estimated from config.json."""
    import json

    folder = local_folder(name, spec)
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        with single.open("rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        shapes = [v["shape"] for k, v in header.items() if k != "__metadata__"]
        return sum(math.prod(shape) for shape in shapes) / 1e6
    config = local_config(name, spec)
    if index.is_file():
        total = json.loads(index.read_text())["metadata"]["total_size"]
        dtype = str(config.get("dtype") or config.get("torch_dtype") or "float32")
        return total / _DTYPE_BYTES.get(dtype, 4) / 1e6
    return _from_config(config)


def _from_config(config: dict) -> float:
    """Embedding plus 12 h^2 per block (attention 4 h^2, a 4x MLP 8 h^2): GPT-2's count."""
    hidden = config.get("hidden_size", config.get("n_embd", 768))
    layers = config.get("num_hidden_layers", config.get("n_layer", 12))
    vocab = config.get("vocab_size", 50257)
    return (vocab * hidden + 12 * layers * hidden**2) / 1e6


def model_mem_mb(name: str, models: dict, attempt: int = 1, extra_mb: int = 0) -> int:
    """Memory (MB) of a job that loads `name`, rounded up to 500 MB, doubled per retry."""
    need = BASE_MB + extra_mb + BYTES_PER_PARAM * params_m(name, models)
    return int(math.ceil(need / 500) * 500) * attempt


def model_runtime(name: str, models: dict, minutes_at_135m: float, attempt: int = 1) -> int:
    """Wall-time limit (minutes) of a job measured at `minutes_at_135m` on SmolLM2-135M,
    scaled with the parameter count, at least 10, doubled per retry."""
    scaled = minutes_at_135m * max(1.0, params_m(name, models) / 135)
    return int(max(10, math.ceil(scaled))) * attempt
