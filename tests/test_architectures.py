"""The architecture matrix: tiny random-init models of every decoder family in FAMILIES, built
from transformers' own config classes, pass the residual-stream checks the studies rely on:
blocks and final norm found, reads equal hidden_states (the last one raw), writing the clean
vector back changes nothing, the prefix-cached write equals a full re-run, the norm type is
detected, and one extraction writes shards. UNSUPPORTED families fail at load with the reason.

README.md's "Supported architectures" table is generated from FAMILIES:
    python tests/test_architectures.py      # rewrite the table in README.md
and `test_readme_table_lists_the_tested_families` fails when the two differ.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import needs_cuda  # noqa: E402

# The byte tokenizer's vocabulary (models/tokenizer.py): 256 bytes, then bos, eos, pad.
VOCAB, BOS, EOS, PAD = 259, 256, 257, 258
SPECIALS = {"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD}
# Llama-style keyword names, shared by most families; the others spell their own.
LLAMA_STYLE = {
    "num_hidden_layers": 3,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "intermediate_size": 64,
    "vocab_size": VOCAB,
    "max_position_embeddings": 256,
    **SPECIALS,
}
GPT2_STYLE = {
    "n_layer": 3,
    "n_embd": 32,
    "n_head": 4,
    "vocab_size": VOCAB,
    "n_positions": 256,
    **SPECIALS,
}
MOE = {"num_local_experts": 4, "num_experts_per_tok": 2}


@dataclass(frozen=True)
class Family:
    name: str  # as people call it
    model_type: str  # transformers' model_type (the `architecture` of a random-init entry)
    norm: str  # "layernorm" or "rmsnorm"
    config: dict = field(default_factory=lambda: dict(LLAMA_STYLE))


FAMILIES = [
    Family("GPT-2", "gpt2", "layernorm", dict(GPT2_STYLE)),
    Family(
        "GPT-Neo",
        "gpt_neo",
        "layernorm",
        {
            "num_layers": 3,
            "hidden_size": 32,
            "num_heads": 4,
            "vocab_size": VOCAB,
            "max_position_embeddings": 256,
            "window_size": 8,
            "attention_types": [[["global", "local"], 1], [["global"], 1]],
        },
    ),
    Family("GPT-J", "gptj", "layernorm", {**GPT2_STYLE, "rotary_dim": 4}),
    Family("GPT-NeoX / Pythia", "gpt_neox", "layernorm"),
    Family("GPT-BigCode / StarCoder", "gpt_bigcode", "layernorm", dict(GPT2_STYLE)),
    Family("CodeGen", "codegen", "layernorm", {**GPT2_STYLE, "n_ctx": 256, "rotary_dim": 4}),
    Family("CTRL", "ctrl", "layernorm", {**GPT2_STYLE, "dff": 64}),
    Family(
        "OPT",
        "opt",
        "layernorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "num_attention_heads": 4,
            "ffn_dim": 64,
            "word_embed_proj_dim": 32,
            "vocab_size": VOCAB,
            "max_position_embeddings": 256,
            **SPECIALS,
        },
    ),
    Family(
        "BLOOM",
        "bloom",
        "layernorm",
        {
            "n_layer": 3,
            "hidden_size": 32,
            "n_head": 4,
            "vocab_size": VOCAB,
            **SPECIALS,
        },
    ),
    Family(
        "Falcon",
        "falcon",
        "layernorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "num_attention_heads": 4,
            "vocab_size": VOCAB,
            **SPECIALS,
        },
    ),
    Family(
        "MPT",
        "mpt",
        "layernorm",
        {
            "n_layers": 3,
            "d_model": 32,
            "n_heads": 4,
            "vocab_size": VOCAB,
            "max_seq_len": 256,
        },
    ),
    Family(
        "XGLM",
        "xglm",
        "layernorm",
        {
            "num_layers": 3,
            "d_model": 32,
            "attention_heads": 4,
            "ffn_dim": 64,
            "vocab_size": VOCAB,
            "max_position_embeddings": 256,
        },
    ),  # its default pad id (1) offsets the sinusoidal positions: a high one overflows them
    Family(
        "BioGPT",
        "biogpt",
        "layernorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "vocab_size": VOCAB,
            **SPECIALS,
        },
    ),
    Family("Llama", "llama", "rmsnorm"),
    Family("Mistral", "mistral", "rmsnorm"),
    Family("Ministral", "ministral", "rmsnorm"),
    Family("Mixtral", "mixtral", "rmsnorm", {**LLAMA_STYLE, **MOE}),
    Family("Qwen2", "qwen2", "rmsnorm"),
    Family(
        "Qwen2-MoE",
        "qwen2_moe",
        "rmsnorm",
        {
            **LLAMA_STYLE,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 16,
            "shared_expert_intermediate_size": 32,
        },
    ),
    Family("Qwen3", "qwen3", "rmsnorm"),
    Family(
        "Qwen3-MoE",
        "qwen3_moe",
        "rmsnorm",
        {
            **LLAMA_STYLE,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 16,
        },
    ),
    Family("Gemma", "gemma", "rmsnorm"),
    Family("Gemma 2", "gemma2", "rmsnorm"),
    Family("Gemma 3 (text)", "gemma3_text", "rmsnorm"),
    Family("VaultGemma", "vaultgemma", "rmsnorm"),
    Family("Phi (1, 1.5, 2)", "phi", "layernorm"),
    Family("Phi-3", "phi3", "rmsnorm"),
    Family("Phi-MoE", "phimoe", "layernorm", {**LLAMA_STYLE, **MOE}),
    Family("OLMo", "olmo", "layernorm"),
    Family("OLMo 2", "olmo2", "rmsnorm"),
    Family("OLMo 3", "olmo3", "rmsnorm"),
    Family(
        "OLMoE", "olmoe", "rmsnorm", {**LLAMA_STYLE, "num_experts": 4, "num_experts_per_tok": 2}
    ),
    Family("StableLM", "stablelm", "layernorm"),
    Family("Cohere (Command R)", "cohere", "layernorm"),
    Family("Cohere 2", "cohere2", "layernorm"),
    Family("Granite", "granite", "rmsnorm"),
    Family("Granite-MoE", "granitemoe", "rmsnorm", {**LLAMA_STYLE, **MOE}),
    Family("StarCoder2", "starcoder2", "layernorm"),
    Family("SmolLM3", "smollm3", "rmsnorm"),
    Family("Persimmon", "persimmon", "layernorm"),
    Family("Nemotron", "nemotron", "layernorm"),
    Family("GLM", "glm", "rmsnorm"),
    Family("GLM-4", "glm4", "rmsnorm"),
    Family("Helium", "helium", "rmsnorm"),
    Family("EXAONE 4", "exaone4", "rmsnorm"),
    Family("InternLM3", "internlm3", "rmsnorm"),
    Family("Seed-OSS", "seed_oss", "rmsnorm"),
    Family("Apertus", "apertus", "rmsnorm"),
    Family("Arcee (AFM)", "arcee", "rmsnorm"),
    Family("gpt-oss", "gpt_oss", "rmsnorm", {**LLAMA_STYLE, **MOE}),
    Family("JetMoE", "jetmoe", "rmsnorm"),
    Family("Hunyuan (dense)", "hunyuan_v1_dense", "rmsnorm"),
    Family("ERNIE 4.5", "ernie4_5", "rmsnorm"),
    Family("BitNet", "bitnet", "rmsnorm"),
    Family("DiffLlama", "diffllama", "rmsnorm"),
]

# Families known not to work, with their tiny shapes: each must stop at load with the reason
# given in src/resid_atlas/models/architectures.py (UNSUPPORTED).
REFUSED = [
    Family(
        "Mamba",
        "mamba",
        "rmsnorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "state_size": 4,
            "vocab_size": VOCAB,
        },
    ),
    Family(
        "Falcon-Mamba",
        "falcon_mamba",
        "rmsnorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "state_size": 4,
            "vocab_size": VOCAB,
        },
    ),
    Family(
        "RWKV",
        "rwkv",
        "layernorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "attention_hidden_size": 32,
            "intermediate_size": 64,
            "vocab_size": VOCAB,
            "context_length": 128,
        },
    ),
    Family(
        "RecurrentGemma",
        "recurrent_gemma",
        "rmsnorm",
        {
            "num_hidden_layers": 3,
            "hidden_size": 32,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "intermediate_size": 64,
            "lru_width": 32,
            "vocab_size": VOCAB,
            "attention_window_size": 16,
            "block_types": ["recurrent", "recurrent", "attention"],
        },
    ),
    Family("LFM2", "lfm2", "rmsnorm"),
    Family("GPT-1", "openai-gpt", "layernorm", dict(GPT2_STYLE)),
]


def entry(family: Family, seed: int = 0) -> dict:
    """A random-init entry of the family, with the shared style keys its config class knows
    (the catalog refuses a key the class would ignore, e.g. head_dim for GPT-NeoX)."""
    from transformers import AutoConfig

    config_class = type(AutoConfig.for_model(family.model_type))
    known = set(config_class().to_dict()) | set(config_class.attribute_map)
    return {
        "source": "random-init",
        "architecture": family.model_type,
        "seed": seed,
        "config": {k: v for k, v in family.config.items() if k in known},
    }


def hf_class(model_type: str) -> str:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]


BEGIN, END = "<!-- architectures:begin -->", "<!-- architectures:end -->"


def readme_table() -> str:
    """The README block: one row per tested family, then the refused ones with the reason."""
    from resid_atlas.models.architectures import UNSUPPORTED

    rows = [
        "| family | `architecture` (model_type) | transformers class | final norm |",
        "|---|---|---|---|",
        *(
            f"| {f.name} | `{f.model_type}` | `{hf_class(f.model_type)}` | {f.norm} |"
            for f in FAMILIES
        ),
        "",
        "Refused at load with one error naming the reason (also tested):",
        "",
        "| family | `architecture` | why |",
        "|---|---|---|",
        *(f"| {f.name} | `{f.model_type}` | {UNSUPPORTED[f.model_type]} |" for f in REFUSED),
    ]
    return "\n".join([BEGIN, *rows, END])


def write_readme() -> None:
    path = ROOT / "README.md"
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block to fill")
    path.write_text(pattern.sub(lambda _: readme_table(), text))


# ---------------------------------------------------------------- the matrix


@pytest.fixture(scope="module")
def corpus():
    from resid_atlas.corpus.ingest import build_corpus

    spec = {
        "source": "csv",
        "path": str(ROOT / "tests/data/tiny_corpus.csv"),
        "test_fraction": 0.25,
        "split_seed": 42,
        "min_per_pair": 4,
    }
    return build_corpus(spec, "tiny").head(6)


def load(family: Family):
    from resid_atlas.models.loading import load_model

    torch.set_num_threads(1)
    name = f"tiny-{family.model_type}"
    return load_model(name, {name: entry(family)}, device="cpu")


def prompt(length=9, batch=2):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_family(family, corpus, tmp_path):
    from resid_atlas.activations.extract import extract_shards
    from resid_atlas.models.matrices import pieces
    from resid_atlas.models.norms import norm_type, resolve_centring
    from resid_atlas.models.residual import PrefixCache, ResidualStream

    lm = load(family)  # passes the load-time check (models/architectures.py)
    assert lm.model.config.model_type == family.model_type
    stream = ResidualStream(lm.model)
    assert stream.n_layers == 3 and all(isinstance(b, torch.nn.Module) for b in stream.blocks)
    inside = {id(m) for m in stream.blocks.modules()}
    assert id(stream.final_norm) not in inside

    # Reads equal hidden_states[1:]; the last one raw (before the final norm).
    ids = prompt()
    reads = stream.read(ids)
    hidden = lm.model(ids, output_hidden_states=True).hidden_states
    assert len(hidden) == 4
    for layer in range(2):
        # GPT-J, GPT-Neo and CodeGen differ by ~1e-9 (their attention runs with the cache on).
        torch.testing.assert_close(reads[layer], hidden[layer + 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(stream.final_norm(reads[-1]), hidden[-1], rtol=0, atol=1e-6)
    assert (reads[-1] - hidden[-1]).abs().max() > 1e-3

    # Writing the clean vector back changes nothing.
    one = ids[0]
    clean = stream.read(one[None])
    base = lm.model(one[None]).logits[0, -1]
    for layer in range(3):
        for position in (3, len(one) - 1):
            vec = clean[layer][0, position][None].expand(2, -1)
            out = stream.run_patched(one, layer, position, vec, read_layers=(2,))
            assert (out.logits - base).abs().max() <= 1e-5
            assert (out.resid[2] - clean[2][0, -1]).abs().max() <= 1e-5

    # The prefix-cached last-position write equals a full re-run, and a write does change things.
    vectors = torch.randn(3, stream.d_model, generator=torch.Generator().manual_seed(2)) * 3
    cache = PrefixCache(stream, one)
    for layer in range(3):
        full = stream.run_patched(one, layer, len(one) - 1, vectors, read_layers=(2,))
        fast = cache.run(layer, vectors, read_layers=(2,))
        torch.testing.assert_close(fast.logits, full.logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast.resid[2], full.resid[2], rtol=1e-5, atol=1e-5)
    assert (full.logits - base).abs().max() > 1e-4

    # The norm type and the centring `auto` picks from it (mean-centred for LayerNorm only).
    assert norm_type(lm.model).kind == family.norm
    applied = resolve_centring("auto", lm.model)["centring"]
    assert applied == ("mean" if family.norm == "layernorm" else "none")

    check_pieces(family, pieces(lm.model), stream.d_model)

    # One extraction writes a shard per block, equal to the raw read at the last token.
    settings = {
        "protocol": "last",
        "centring": "none",
        "prepend_bos": True,
        "dtype": "float32",
        "device": "cpu",
        "batch_size": 4,
        "max_tokens": 200,
    }
    extract_shards(corpus, lm, settings, tmp_path)
    for layer in range(3):
        shard = np.load(tmp_path / f"layer_{layer}.npy")
        assert shard.shape == (corpus.height, stream.d_model) and np.isfinite(shard).all()
    text = corpus["text"][0]
    row = [BOS, *lm.tokenizer(text, add_special_tokens=False)["input_ids"]]
    want = stream.read(torch.tensor([row]), pool=lambda h: h[:, -1])
    for layer in range(3):
        got = np.load(tmp_path / f"layer_{layer}.npy")[0]
        np.testing.assert_allclose(got, want[layer][0].numpy(), rtol=1e-4, atol=1e-4)
    assert (tmp_path / "index.parquet").is_file() and (tmp_path / "meta.json").is_file()


# Families whose attention input or MLP matrices keep a layout of their own (fused per kv group or
# mp rank, MoE experts): their pieces stay "other" (src/resid_atlas/models/matrices.py).
ATTENTION_UNNAMED = {"falcon", "codegen", "ctrl", "jetmoe"}
MLP_UNNAMED = {"ctrl", "jetmoe", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "granitemoe"}
MLP_UNNAMED |= {"phimoe", "gpt_oss"}


def check_pieces(family: Family, found: list, d: int) -> None:
    """Roles named per block, in the [out, in] orientation and with consistent split sizes."""
    assert {p.layer for p, _ in found if p.layer >= 0} == {0, 1, 2}
    weights = {p.role: t.shape for p, t in found if p.layer == 0 and p.kind == "weight"}
    if family.model_type not in ATTENTION_UNNAMED:
        assert {"attn_q", "attn_k", "attn_v", "attn_out"} <= set(weights)
        assert weights["attn_q"][1] == weights["attn_k"][1] == weights["attn_v"][1] == d
        assert weights["attn_k"] == weights["attn_v"]
        assert weights["attn_out"] == (d, weights["attn_q"][0])
    if family.model_type not in MLP_UNNAMED:
        assert {"mlp_in", "mlp_out"} <= set(weights)
        assert weights["mlp_in"][1] == d and weights["mlp_out"] == (d, weights["mlp_in"][0])
        if "mlp_gate" in weights:
            assert weights["mlp_gate"] == weights["mlp_in"]


def test_matrix_covers_thirty_families():
    types = [f.model_type for f in FAMILIES]
    assert len(set(types)) == len(types) >= 30
    assert not set(types) & {f.model_type for f in REFUSED}


@pytest.mark.parametrize("family", REFUSED, ids=lambda f: f.model_type)
def test_unsupported_family_is_refused_at_load(family):
    from resid_atlas.core.errors import AtlasError
    from resid_atlas.models.architectures import UNSUPPORTED

    with pytest.raises(AtlasError) as info:
        load(family)
    message = str(info.value)
    assert f"architecture '{family.model_type}' is not supported" in message
    assert UNSUPPORTED[family.model_type] in message


@pytest.mark.parametrize("family", REFUSED, ids=lambda f: f.model_type)
def test_the_generic_load_check_refuses_them_without_the_list(family, monkeypatch):
    """UNSUPPORTED only words the message: the checks themselves catch every refused family."""
    from resid_atlas.core.errors import AtlasError
    from resid_atlas.models import architectures

    monkeypatch.setattr(architectures, "UNSUPPORTED", {})
    with pytest.raises(AtlasError, match=f"architecture '{family.model_type}' is not supported"):
        load(family)


def test_readme_table_lists_the_tested_families():
    text = (ROOT / "README.md").read_text()
    assert readme_table() in text, "README.md is stale: run `python tests/test_architectures.py`"


if __name__ == "__main__":
    write_readme()


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_family_on_cuda(family):
    """The matrix on a GPU in float32 (load check, reads, prefix cache against a full re-run),
    and the load check in bfloat16. Looser than on the CPU: GPU kernels for one cached token and
    for the whole prompt sum in different orders."""
    from resid_atlas.models.loading import load_model
    from resid_atlas.models.residual import PrefixCache, ResidualStream

    name = f"tiny-{family.model_type}"
    lm = load_model(name, {name: entry(family)}, device="cuda")
    stream = ResidualStream(lm.model)
    ids = prompt().cuda()
    reads = stream.read(ids)
    hidden = lm.model(ids, output_hidden_states=True).hidden_states
    for layer in range(2):
        torch.testing.assert_close(reads[layer], hidden[layer + 1], rtol=1e-5, atol=1e-5)
    vectors = torch.randn(3, stream.d_model, generator=torch.Generator().manual_seed(2)).cuda()
    cache = PrefixCache(stream, ids[0])
    for layer in range(3):
        full = stream.run_patched(ids[0], layer, ids.shape[1] - 1, vectors)
        torch.testing.assert_close(
            cache.run(layer, vectors).logits, full.logits, rtol=1e-4, atol=1e-4
        )
    load_model(name, {name: entry(family)}, device="cuda", dtype="bfloat16")
