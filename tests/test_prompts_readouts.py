import numpy as np
import polars as pl
import pytest
import torch

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.prompts import (
    WINDOW_SCHEMA,
    sentence_windows,
    stream_windows,
    text_file_lines,
)
from resid_atlas.models.readouts import cosine, kl_from_base, l2_distance
from resid_atlas.models.tokenizer import byte_tokenizer


def test_stream_windows_are_consecutive_cuts_of_the_text():
    tok = byte_tokenizer()
    windows = stream_windows(["abcdefgh", "ijk"], tok, length=4)
    flat = tok.decode(windows.reshape(-1).tolist())
    assert windows.shape == (3, 4) and flat == "abcdefgh\nijk"
    assert stream_windows(["abcdefgh"], tok, length=2, limit=2).shape == (2, 2)
    with_bos = stream_windows(["abcdefgh"], tok, length=4, prepend_bos=True)
    assert with_bos.shape == (2, 5) and (with_bos[:, 0] == tok.bos_token_id).all()
    with pytest.raises(AtlasError, match="fewer than 40 tokens"):
        stream_windows(["short"], tok, length=40)


def test_sentence_windows_keep_metadata():
    tok = byte_tokenizer()
    corpus = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "subject": ["s1", "s2", "s3"],
            "attribute": ["x", "y", "z"],
            "text": ["long enough", "no", "also long"],
        }
    )
    windows, meta = sentence_windows(corpus, tok, length=5)
    assert windows.shape == (2, 5) and meta["id"].to_list() == ["a", "c"]
    assert meta.schema == pl.Schema(WINDOW_SCHEMA)


def test_text_file_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("one\n\n two \n")
    assert text_file_lines(path) == ["one", "two"]
    with pytest.raises(AtlasError, match="not found"):
        text_file_lines(tmp_path / "none.txt")


def test_kl_is_zero_for_equal_logits_and_matches_definition():
    logits = torch.randn(3, 11)
    assert kl_from_base(logits[0], logits[:1]).item() == pytest.approx(0.0, abs=1e-12)
    p, q = torch.softmax(logits[0].double(), -1), torch.softmax(logits[1].double(), -1)
    want = float((p * (p / q).log()).sum())
    assert kl_from_base(logits[0], logits[1:2]).item() == pytest.approx(want, rel=1e-9)


def test_distances():
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0]])
    assert l2_distance(a, b).item() == 5.0
    assert cosine(a, a * 2).item() == pytest.approx(1.0)
    assert np.isclose(cosine(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])).item(), 0.0)
