"""The CUDA path without a GPU: batch sizing from (mocked) free GPU memory, dtype support checks,
and `batch_size: auto` through the schema and the extraction."""

import json

import numpy as np
import pytest
import torch

from conftest import ROOT, needs_cuda, tiny_entry
from resid_atlas.activations.extract import extract_shards
from resid_atlas.core import devices
from resid_atlas.core.config import validate_config
from resid_atlas.core.devices import (
    CPU_BATCH_SIZE,
    auto_batch_size,
    batch_bytes_per_sentence,
    batch_size_for,
    check_dtype,
)
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.ingest import build_corpus
from resid_atlas.models.loading import load_model

GIB = 2**30
CUDA = torch.device("cuda:0")  # constructing a device needs no GPU; nothing is allocated on it


@pytest.fixture
def free_gpu(monkeypatch):
    """Pretend a GPU with `free` bytes free; records the devices asked about."""
    asked = []

    def set_free(free: int, total: int = 80 * GIB):
        def mem_get_info(device=None):
            asked.append(device)
            return free, total

        monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
        return asked

    return set_free


def test_bytes_per_sentence_counts_activations_scores_and_pooled_vectors():
    # GPT2-small-like in float32, 128 tokens: 16 x 128 x 768 x 4 + 12 x 128^2 x 4 + 8 x 12 x 768
    expected = 16 * 128 * 768 * 4 + 12 * 128 * 128 * 4 + 8 * 12 * 768
    assert batch_bytes_per_sentence(768, 12, 128, 4, n_heads=12) == expected
    # heads default to d_model / 64; half precision halves the transient part only
    assert (
        batch_bytes_per_sentence(768, 12, 128, 2) == (expected - 8 * 12 * 768) // 2 + 8 * 12 * 768
    )


def test_auto_batch_size_from_mocked_free_memory(free_gpu):
    asked = free_gpu(40 * GIB)
    size = batch_size_for("auto", CUDA, 1024, 24, 64, torch.float32, n_heads=16)
    per = batch_bytes_per_sentence(1024, 24, 64, 4, 16)
    assert size == min(1024, int(40 * GIB * 0.5 // per))
    assert asked == [CUDA]
    # the estimate keeps the batch's peak within half of what is free
    assert size * per <= 40 * GIB * 0.5
    free_gpu(4 * GIB)
    smaller = batch_size_for("auto", CUDA, 1024, 24, 64, torch.float32, n_heads=16)
    assert smaller < size
    # longer sentences and half precision change the size the expected way
    assert batch_size_for("auto", CUDA, 1024, 24, 256, torch.float32, 16) < smaller
    assert batch_size_for("auto", CUDA, 1024, 24, 64, torch.float16, 16) > smaller


def test_auto_batch_size_bounds(free_gpu):
    free_gpu(1024)  # almost nothing free: still one sentence per batch
    assert batch_size_for("auto", CUDA, 4096, 32, 256, torch.float32) == 1
    free_gpu(10_000 * GIB)  # a huge card: capped
    assert batch_size_for("auto", CUDA, 64, 3, 8, torch.float32) == 1024
    assert auto_batch_size(10_000 * GIB, 64, 3, 8, 4, max_batch=77) == 77


def test_fixed_and_cpu_batch_sizes_never_ask_the_gpu(free_gpu):
    asked = free_gpu(40 * GIB)
    assert batch_size_for(17, CUDA, 768, 12, 64, torch.float32) == 17
    assert batch_size_for("auto", torch.device("cpu"), 768, 12, 64, torch.float32) == (
        CPU_BATCH_SIZE
    )
    assert asked == []


def test_schema_accepts_auto_and_rejects_other_words(tiny_config):
    tiny_config["extraction"]["batch_size"] = "auto"
    assert validate_config(tiny_config)["extraction"]["batch_size"] == "auto"
    tiny_config["extraction"]["batch_size"] = "big"
    with pytest.raises(AtlasError, match="batch_size"):
        validate_config(tiny_config)


def test_extract_with_auto_batch_size_on_the_cpu(tmp_path):
    corpus = build_corpus(
        {
            "source": "csv",
            "path": str(ROOT / "tests/data/tiny_corpus.csv"),
            "test_fraction": 0.25,
            "split_seed": 42,
            "min_per_pair": 4,
        },
        "tiny",
    )
    lm = load_model("tiny", {"tiny": tiny_entry("llama")}, device="cpu")
    settings = {
        "protocol": "seed",
        "centring": "mean",
        "prepend_bos": True,
        "dtype": "float32",
        "device": "cpu",
        "max_tokens": 256,
    }
    extract_shards(corpus, lm, {**settings, "batch_size": "auto"}, tmp_path / "auto")
    extract_shards(corpus, lm, {**settings, "batch_size": 5}, tmp_path / "five")
    meta = json.loads((tmp_path / "auto" / "meta.json").read_text())
    assert meta["batch_size"] == CPU_BATCH_SIZE
    for layer in range(3):
        auto = torch.from_numpy(np.load(tmp_path / "auto" / f"layer_{layer}.npy"))
        five = torch.from_numpy(np.load(tmp_path / "five" / f"layer_{layer}.npy"))
        torch.testing.assert_close(auto, five, rtol=1e-5, atol=1e-5)


def test_half_precision_on_this_cpu_passes_the_check():
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        check_dtype(dtype, torch.device("cpu"))


def test_cpu_without_half_kernels_is_refused(monkeypatch):
    def missing(*args, **kwargs):
        raise RuntimeError("\"LayerNormKernelImpl\" not implemented for 'Half'")

    monkeypatch.setattr(torch.nn.functional, "layer_norm", missing)
    with pytest.raises(AtlasError, match="float16 .*use float32 or bfloat16"):
        check_dtype(torch.float16, torch.device("cpu"))
    check_dtype(torch.float32, torch.device("cpu"))  # float32 is never probed


def test_gpu_without_bfloat16_or_float16_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    with pytest.raises(AtlasError, match="Tesla V100 has no native bfloat16.*use float16"):
        check_dtype(torch.bfloat16, CUDA)
    check_dtype(torch.float16, CUDA)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (5, 2))
    with pytest.raises(AtlasError, match="no float16 arithmetic"):
        check_dtype(torch.float16, CUDA)


def test_load_model_checks_the_dtype_before_loading(monkeypatch):
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Old GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    with pytest.raises(AtlasError, match="model 'tiny': dtype is bfloat16 but Old GPU"):
        load_model("tiny", {"tiny": tiny_entry("gpt2")}, device="cuda", dtype="bfloat16")


@pytest.mark.cuda
@needs_cuda
def test_auto_batch_fits_on_a_real_gpu(tmp_path):
    lm = load_model("tiny", {"tiny": tiny_entry("llama")}, device="cuda")
    seq = 128
    size = batch_size_for("auto", lm.device, lm.d_model, lm.n_layers, seq, torch.float32)
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    ids = torch.ones((min(size, 256), seq), dtype=torch.long, device="cuda")
    lm.model.base_model(input_ids=ids, use_cache=False)
    peak = torch.cuda.max_memory_allocated() - before
    per = batch_bytes_per_sentence(lm.d_model, lm.n_layers, seq, 4)
    assert peak <= per * ids.shape[0]
