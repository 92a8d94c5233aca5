import torch

from resid_atlas.models.pooling import centre, pool, prompt_text


def test_seed_protocol_drops_the_last_word_only_where_there_are_spaces():
    assert prompt_text("The cat sat on the mat.", "seed") == "The cat sat on the"
    assert prompt_text("Two words  ", "seed") == "Two"
    assert prompt_text("日本語の文です。", "seed") == "日本語の文です。"
    assert prompt_text("Single", "seed") == "Single"
    assert prompt_text("The cat sat.", "last") == "The cat sat."


def test_last_and_mean_pooling_respect_padding():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    lengths = torch.tensor([4, 2])
    last = pool(hidden, lengths, "last", skip_first=False)
    torch.testing.assert_close(last, torch.stack([hidden[0, 3], hidden[1, 1]]))
    mean = pool(hidden, lengths, "mean", skip_first=True)
    torch.testing.assert_close(mean[0], hidden[0, 1:4].mean(0))
    torch.testing.assert_close(mean[1], hidden[1, 1])
    only_bos = pool(hidden, torch.tensor([1, 1]), "mean", skip_first=True)
    torch.testing.assert_close(only_bos, hidden[:, 0])


def test_centring_matches_transformerlens_convention():
    x = torch.randn(5, 16) + 3.0
    c = centre(x, "mean")
    torch.testing.assert_close(c.mean(-1), torch.zeros(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(c, x - x.mean(-1, keepdim=True))
    assert centre(x, "none") is x
