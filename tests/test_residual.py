"""Residual access: reads, writes and the prefix cache, on GPT-2, GPT-NeoX and Llama shapes."""

import torch

from resid_atlas.models.residual import PrefixCache, ResidualStream, hook_name


def prompt(lm, length=9, batch=2):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, lm.model.config.vocab_size, (batch, length), generator=g)


def test_reads_equal_hidden_states(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    ids = prompt(tiny_lm)
    reads = stream.read(ids)
    hidden = tiny_lm.model(ids, output_hidden_states=True).hidden_states
    assert len(reads) == stream.n_layers == len(hidden) - 1
    for layer in range(stream.n_layers - 1):
        torch.testing.assert_close(reads[layer], hidden[layer + 1], rtol=0, atol=0)
    # Hugging Face normalises its last hidden state; we keep the raw residual (as TransformerLens).
    torch.testing.assert_close(stream.final_norm(reads[-1]), hidden[-1], rtol=0, atol=1e-6)


def test_read_with_pool_and_subset(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    ids = prompt(tiny_lm)
    full = stream.read(ids)
    pooled = stream.read(ids, pool=lambda h: h[:, -1], layers=[0, 2])
    torch.testing.assert_close(pooled[0], full[0][:, -1])
    torch.testing.assert_close(pooled[1], full[2][:, -1])


def test_writing_the_clean_vector_changes_nothing(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    ids = prompt(tiny_lm, batch=1)[0]
    clean = stream.read(ids[None])
    base_logits = tiny_lm.model(ids[None]).logits[0, -1]
    for layer in range(stream.n_layers):
        for position in (3, len(ids) - 1):
            vec = clean[layer][0, position][None].expand(2, -1)
            out = stream.run_patched(ids, layer, position, vec, read_layers=(stream.n_layers - 1,))
            assert (out.logits - base_logits).abs().max() <= 1e-5
            late = clean[-1][0, -1]
            assert (out.resid[stream.n_layers - 1] - late).abs().max() <= 1e-5


def test_writing_changes_later_layers_only(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    ids = prompt(tiny_lm, batch=1)[0]
    clean = stream.read(ids[None])
    vec = torch.randn(1, stream.d_model) * 5
    out = stream.run_patched(ids, 1, len(ids) - 1, vec, read_layers=(0, 1, 2), logits=False)
    assert out.logits is None
    torch.testing.assert_close(out.resid[0][0], clean[0][0, -1])
    torch.testing.assert_close(out.resid[1][0], vec[0])
    assert (out.resid[2][0] - clean[2][0, -1]).abs().max() > 1e-3


def test_cached_last_position_write_equals_full_rerun(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    ids = prompt(tiny_lm, batch=1)[0]
    vectors = torch.randn(5, stream.d_model)
    cache = PrefixCache(stream, ids)
    for layer in range(stream.n_layers):
        full = stream.run_patched(ids, layer, len(ids) - 1, vectors, read_layers=(0, 2))
        fast = cache.run(layer, vectors, read_layers=(0, 2))
        torch.testing.assert_close(fast.logits, full.logits, rtol=1e-5, atol=1e-5)
        for at in (0, 2):
            torch.testing.assert_close(fast.resid[at], full.resid[at], rtol=1e-5, atol=1e-5)
    # The cache is reusable: a second sweep with another batch size gives the same answer.
    again = cache.run(0, vectors[:2])
    torch.testing.assert_close(again.logits, cache.run(0, vectors).logits[:2], rtol=1e-5, atol=1e-5)


def test_hook_names_follow_transformerlens():
    assert hook_name(0) == "blocks.0.hook_resid_post"
