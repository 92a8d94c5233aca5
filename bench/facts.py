"""Streaming activation statistics against collecting every token and calling scipy/numpy.

Baseline ("collect-then-scipy"), measured in the same run on the same sentences: one forward pass
with `output_hidden_states=True`, every real token's residual (position 0 dropped) of every layer
kept in memory as float64 arrays, then per layer `scipy.stats.skew`, `scipy.stats.kurtosis`,
`np.histogram`, `np.cov` and the per-dimension share of |x - mean| > k sd on the whole array.
Ours: `facts.passes.activation_pass` (the same forward pass, `LayerStream` updates inside the hooks:
running sums, fixed-bin histogram, Gram matrix, exceedance counts, top-k, Bernoulli subsample).
Both times include the forward pass, which both need. Printed: seconds, the speed ratio, the
peak memory of the kept activations (baseline) against the streams' state (ours), and the largest
difference in kurtosis and covariance between the two.

Usage: python bench/facts.py [--model smollm2-135m] [--sentences 96] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.core.config import load_config  # noqa: E402
from resid_atlas.corpus.ingest import build_corpus  # noqa: E402
from resid_atlas.facts.passes import activation_pass, padded, sample_corpus, tokenize  # noqa: E402
from resid_atlas.facts.run import stream_settings  # noqa: E402
from resid_atlas.models.loading import load_model  # noqa: E402


def baseline(lm, ids: list[list[int]], batch_size: int, k: float, bins: int) -> tuple[dict, int]:
    layers = [[] for _ in range(lm.n_layers + 1)]
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            rows = np.arange(start, min(start + batch_size, len(ids)))
            input_ids, mask = padded(ids, rows)
            hidden = lm.model.base_model(
                input_ids=input_ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states
            keep = mask.bool().clone()
            keep[:, 0] = False
            for layer, h in enumerate(hidden):
                layers[layer].append(h[keep].double().numpy())
    arrays = [np.concatenate(x) for x in layers]
    kept_bytes = sum(a.nbytes for a in arrays)
    out = {}
    for layer, x in enumerate(arrays):
        flat = x.ravel()
        mean, sd = flat.mean(), flat.std()
        out[layer - 1] = {
            "skew": stats.skew(flat),
            "excess_kurtosis": stats.kurtosis(flat),
            "hist": np.histogram((flat - mean) / sd, bins=bins, range=(-12, 12))[0],
            "covariance": np.cov(x.T, bias=True),
            "share": (np.abs(x - mean) > k * sd).mean(0),
        }
    return out, kept_bytes


def state_bytes(stream) -> int:
    tensors = (stream.hist, stream.exceed, stream.bucket_tokens, stream.gram, stream.dim_sum)
    return sum(t.numel() * t.element_size() for t in tensors) + sum(
        s.nbytes for s in stream.samples
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--sentences", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(ROOT / "config" / "config.yaml")
    settings = config["facts"]
    dataset = config["datasets"][settings["dataset"]]
    dataset = {**dataset, "path": str(ROOT / dataset["path"])}
    corpus = build_corpus(dataset, settings["dataset"])
    lm = load_model(args.model, config["models"], device="cpu")
    sample = sample_corpus(corpus, args.sentences, settings["seed"])
    ids = tokenize(lm.tokenizer, sample["text"].to_list(), settings["max_tokens"], True)
    # the baseline runs in corpus order; warm up both paths once
    n_values = sum(len(r) - 1 for r in ids) * lm.d_model
    stream_cfg = stream_settings(settings, n_values)
    activation_pass(lm, ids[:4], 4, True, stream_cfg, 0)

    start = time.perf_counter()
    streams = activation_pass(lm, ids, settings["batch_size"], True, stream_cfg, 0)
    finished = {layer: s.finish() for layer, s in streams.items()}
    ours = time.perf_counter() - start
    ours_bytes = sum(state_bytes(s) for s in streams.values())

    start = time.perf_counter()
    base, base_bytes = baseline(lm, ids, settings["batch_size"], settings["outlier_k"], 480)
    base_time = time.perf_counter() - start

    # Hugging Face norms its last hidden state; the hooks read the raw residual: compare the rest
    same = {la: b for la, b in base.items() if la < lm.n_layers - 1}
    kurt = max(
        abs(finished[la]["excess_kurtosis"] - b["excess_kurtosis"]) for la, b in same.items()
    )
    cov = max(
        float(
            np.abs(finished[la]["covariance"] - b["covariance"]).max()
            / np.abs(b["covariance"]).max()
        )
        for la, b in same.items()
    )
    tokens = sum(len(r) - 1 for r in ids)
    print(
        pl.DataFrame(
            {
                "path": ["ours: streaming LayerStream", "baseline: collect-then-scipy"],
                "seconds": [ours, base_time],
                "tokens_per_s": [tokens / ours, tokens / base_time],
                "memory_MB": [ours_bytes / 2**20, base_bytes / 2**20],
            }
        )
    )
    print(
        f"model {args.model}, {len(ids)} sentences, {tokens} tokens, {lm.n_layers + 1} layers, "
        f"{args.threads} threads"
    )
    print(f"speed ratio (baseline / ours): {base_time / ours:.2f}x")
    print(f"memory ratio (baseline / ours): {base_bytes / ours_bytes:.1f}x")
    print(f"max |excess kurtosis difference| {kurt:.2e}; max relative covariance diff. {cov:.2e}")


if __name__ == "__main__":
    main()
