"""Centring follows the norm type: mean-centred reads for LayerNorm models (what TransformerLens'
centred writing weights give), raw reads for RMSNorm models (where TransformerLens does not
centre); decided by probing the loaded model; the plateaus vectors follow the same rule."""

import json

import numpy as np
import pytest
import torch

from conftest import tiny_entry
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.loading import load_model
from resid_atlas.models.norms import norm_type, resolve_centring, subtracts_mean
from resid_atlas.models.residual import find_final_norm, hook_name
from resid_atlas.plateaus.conditions import parse
from resid_atlas.plateaus.perturb import Vectors
from resid_atlas.plateaus.statistics import reference_statistics, site_activations

KIND = {"gpt2": "layernorm", "gpt_neox": "layernorm", "llama": "rmsnorm"}


def _lm(arch: str):
    torch.set_num_threads(1)
    return load_model(f"tiny-{arch}", {f"tiny-{arch}": tiny_entry(arch)}, device="cpu")


def test_norm_type_is_read_from_the_modules(tiny_lm):
    arch = tiny_lm.name.removeprefix("tiny-")
    info = norm_type(tiny_lm.model)
    assert info.kind == KIND[arch]
    assert type(find_final_norm(tiny_lm.model)).__name__ in info.reason
    applied = resolve_centring("auto", tiny_lm.model)
    assert applied["centring"] == ("mean" if KIND[arch] == "layernorm" else "none")
    assert applied["centring_rule"] == "auto" and applied["norm_type"] == KIND[arch]
    # explicit choices stay what they say, whatever the norm
    assert resolve_centring("mean", tiny_lm.model)["centring"] == "mean"
    assert resolve_centring("none", tiny_lm.model)["centring"] == "none"


def test_probe_does_not_trust_class_names():
    class Plain(torch.nn.Module):  # an unnamed mean-subtracting norm, and an unnamed RMS one
        def __init__(self, rms: bool):
            super().__init__()
            self.rms = rms

        def forward(self, x):
            if not self.rms:
                x = x - x.mean(-1, keepdim=True)
            return x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()

    assert subtracts_mean(Plain(rms=False), 16) is True
    assert subtracts_mean(Plain(rms=True), 16) is False
    # GPT-2's LayerNorm relabelled as an "RMSNorm" class is still a LayerNorm
    renamed = type("FakeRMSNorm", (torch.nn.LayerNorm,), {})(16)
    assert subtracts_mean(renamed, 16) is True


def test_a_norm_the_probe_cannot_read_is_an_error():
    lm = _lm("llama")
    final = find_final_norm(lm.model)
    with torch.no_grad():
        final.weight.zero_()  # output identically zero: nothing to compare
    with pytest.raises(AtlasError, match="set extraction.centring"):
        norm_type(lm.model)


def _centre_writes_like_transformerlens(model) -> None:
    """TransformerLens' center_writing_weights, done independently on HF GPT-2: every weight and
    bias that writes to the residual (token and position embeddings, attention and MLP output
    projections) minus its mean over d_model."""
    t = model.transformer
    with torch.no_grad():
        for emb in (t.wte.weight, t.wpe.weight):
            emb -= emb.mean(-1, keepdim=True)
        for block in t.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):  # Conv1D: weight [d_in, d_model]
                proj.weight -= proj.weight.mean(-1, keepdim=True)
                proj.bias -= proj.bias.mean()


def test_mean_centring_equals_transformerlens_centred_writes_on_layernorm():
    lm = _lm("gpt2")
    ids = torch.randint(0, 250, (3, 9), generator=torch.Generator().manual_seed(0))
    raw = lm.model(ids, output_hidden_states=True).hidden_states
    _centre_writes_like_transformerlens(lm.model)
    out = lm.model(ids, output_hidden_states=True)
    for layer in range(lm.n_layers - 1):  # the last HF hidden state is after the final norm
        h = raw[layer + 1]
        torch.testing.assert_close(
            out.hidden_states[layer + 1], h - h.mean(-1, keepdim=True), atol=1e-5, rtol=1e-5
        )
    # and the model's output is unchanged: the norms removed the mean anyway
    torch.testing.assert_close(out.logits, lm.model(ids).logits)


def _raw_reads(lm, ids):
    """hidden_states[L + 1] for every block, the last one read before the final norm (a
    pre-hook on the norm), as TransformerLens' hook_resid_post."""
    got = {}
    handle = find_final_norm(lm.model).register_forward_pre_hook(
        lambda module, args: got.__setitem__("last", args[0])
    )
    try:
        hidden = lm.model(ids, output_hidden_states=True).hidden_states
    finally:
        handle.remove()
    return [*hidden[1:-1], got["last"]]


@pytest.mark.parametrize("arch", sorted(KIND))
def test_auto_shards_are_centred_for_layernorm_and_raw_for_rmsnorm(arch, tmp_path):
    from test_extract import SETTINGS, corpus_frame

    from resid_atlas.activations.extract import extract_shards
    from resid_atlas.models.pooling import prompt_text

    lm = _lm(arch)
    corpus = corpus_frame()
    extract_shards(corpus, lm, {**SETTINGS, "centring": "auto"}, tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    want_mean = KIND[arch] == "layernorm"
    assert meta["centring"] == ("mean" if want_mean else "none")
    assert meta["centring_rule"] == "auto" and meta["norm_type"] == KIND[arch]
    assert meta["centring_reason"].startswith("auto: final norm")
    tok = lm.tokenizer
    for row in (0, 31):
        text = prompt_text(corpus["text"][row], "seed")
        ids = torch.tensor([[tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]]])
        reads = _raw_reads(lm, ids)
        for layer in range(lm.n_layers):
            h = reads[layer][0, -1]
            want = h - h.mean() if want_mean else h
            shard = np.load(tmp_path / f"layer_{layer}.npy")
            np.testing.assert_allclose(
                shard[row], want.detach().numpy(), atol=2e-5, err_msg=hook_name(layer)
            )
    if not want_mean:  # raw reads of an RMSNorm model keep their mean
        assert np.abs(np.load(tmp_path / "layer_1.npy").mean(1)).max() > 1e-3


@pytest.mark.parametrize("centring", ["mean", "none"])
def test_plateaus_vectors_follow_the_centring(centring):
    from resid_atlas.models.residual import ResidualStream
    from resid_atlas.plateaus.perturb import centred

    lm = _lm("gpt2")
    stream = ResidualStream(lm.model)
    windows = np.random.default_rng(0).integers(0, 250, size=(40, 10))
    acts = centred(site_activations(stream, windows, 0), centring)
    ref = reference_statistics(acts[6:])
    vectors = Vectors(acts[:3], acts[3:6], ref, 0, centring)
    drawn = [
        vectors.base("cov-random", 1),
        vectors.base("isotropic", 1),
        vectors.cov_random_target(1, 1),
        vectors.extra_target(1),
        vectors.direction("isotropic", acts[0], 1),
    ]
    curves = [
        vectors.curve(parse(f"{b}.{d}.{m}"), 2, 5)[0]
        for b in ("real", "cov-random")
        for d in ("random", "real-other", "isotropic")
        for m in ("straight", "sphere")
    ]
    means = np.abs(np.concatenate([np.ravel(v.mean(-1)) for v in drawn + curves]))
    if centring == "mean":
        assert np.abs(ref.mean.mean()) < 1e-10  # reference mean and covariance of centred acts
        assert np.abs(ref.cov.sum(0)).max() < 1e-4 * ref.eigvals[-1]
        assert means.max() < 1e-9
    else:
        assert np.abs(ref.mean.mean()) > 1e-3 and means.min() > 1e-6
        np.testing.assert_allclose(vectors.base("real", 0), site_activations(stream, windows, 0)[0])
