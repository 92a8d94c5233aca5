"""Extraction: shards equal a direct computation, protocols differ where they should, and a
failure leaves no output behind."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from conftest import ROOT
from resid_atlas.activations.extract import INDEX_SCHEMA, batches, extract_shards
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.ingest import build_corpus
from resid_atlas.models.pooling import prompt_text
from resid_atlas.models.residual import find_blocks

SETTINGS = {
    "protocol": "seed",
    "centring": "mean",
    "prepend_bos": True,
    "dtype": "float32",
    "device": "cpu",
    "batch_size": 7,
    "max_tokens": 256,
}


def corpus_frame():
    return build_corpus(
        {
            "source": "csv",
            "path": str(ROOT / "tests/data/tiny_corpus.csv"),
            "test_fraction": 0.25,
            "split_seed": 42,
            "min_per_pair": 4,
        },
        "tiny",
    )


@pytest.fixture(scope="module")
def corpus():
    return corpus_frame()


def direct(lm, text, protocol, layer):
    tok = lm.tokenizer
    ids = [
        tok.bos_token_id,
        *tok(prompt_text(text, protocol), add_special_tokens=False)["input_ids"],
    ]
    hidden = lm.model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer + 1]
    return hidden[0, -1] - hidden[0, -1].mean()


def test_shards_match_direct_computation(tiny_lm, corpus, tmp_path):
    extract_shards(corpus, tiny_lm, SETTINGS, tmp_path)
    index = pl.read_parquet(tmp_path / "index.parquet")
    assert index.schema == pl.Schema(INDEX_SCHEMA)
    assert index["id"].to_list() == corpus["id"].to_list()
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["protocol"] == "seed" and meta["n_layers"] == 3 and meta["n_sentences"] == 48
    for layer in range(tiny_lm.n_layers - 1):  # the last hidden state is normed by HF
        shard = np.load(tmp_path / f"layer_{layer}.npy")
        assert shard.shape == (48, tiny_lm.d_model) and shard.dtype == np.float32
        for row in (0, 17, 47):
            want = direct(tiny_lm, corpus["text"][row], "seed", layer)
            np.testing.assert_allclose(shard[row], want.numpy(), atol=2e-5)
    assert not list(tmp_path.glob(".*tmp*"))


def test_protocols_differ_and_centring_is_optional(tiny_lm, corpus, tmp_path):
    extract_shards(
        corpus, tiny_lm, {**SETTINGS, "centring": "none"}, tmp_path / "raw", protocol="last"
    )
    extract_shards(corpus, tiny_lm, SETTINGS, tmp_path / "seed")
    raw = np.load(tmp_path / "raw" / "layer_1.npy")
    seed = np.load(tmp_path / "seed" / "layer_1.npy")
    assert np.abs(raw.mean(1)).max() > 1e-3  # uncentred
    assert np.abs(seed.mean(1)).max() < 1e-5
    np.testing.assert_allclose(
        raw[0] - raw[0].mean(), direct(tiny_lm, corpus["text"][0], "last", 1), atol=2e-5
    )


def test_batches_group_by_length_longest_first_within_a_token_budget():
    # budget = 2 sentences of median length 5 = 10 padded tokens per batch
    groups = batches(np.array([3, 9, 1, 7, 5]), 2)
    assert [g.tolist() for g in groups] == [[1], [3], [4, 0], [2]]
    lengths = np.random.default_rng(0).integers(4, 120, 500)
    groups = batches(lengths, 16)
    assert sorted(np.concatenate(groups).tolist()) == list(range(500))
    assert max(len(g) * lengths[g].max() for g in groups) <= 16 * np.median(lengths)


def test_non_finite_activations_fail_without_output(tiny_lm, corpus, tmp_path):
    block = find_blocks(tiny_lm.model)[1]
    handle = block.register_forward_hook(lambda m, a, out: out * float("nan"))
    try:
        with pytest.raises(
            AtlasError, match=r"non-finite activation .* blocks\.1\.hook_resid_post"
        ):
            extract_shards(corpus, tiny_lm, SETTINGS, tmp_path)
    finally:
        handle.remove()
    assert list(tmp_path.iterdir()) == []
