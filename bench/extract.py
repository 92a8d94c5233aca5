"""Extraction throughput on SmolLM2-135M: resid-atlas's path against the studies' own way.

Baseline ("studies' way"), measured in the same run: the full model with its LM head,
`output_hidden_states=True`, batches of 20 in corpus order, right padding, then the last-token
vector picked from every hidden state. Ours: sentences sorted by length, the base model without
the LM head, pooled inside forward hooks, batches of at most 64 median-length sentences in
padded tokens.
Also: tokens/s as a fraction of this machine's GEMM throughput measured now in the same dtype
(the model's matmul FLOPs per token / measured FLOP/s), and bf16's fidelity against float32.

Usage: python bench/extract.py [--sentences N (0: all)] [--device cpu|cuda] [--batch-size 64|auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.activations.extract import extract_shards  # noqa: E402
from resid_atlas.core.config import load_config  # noqa: E402
from resid_atlas.corpus.ingest import build_corpus  # noqa: E402
from resid_atlas.models.loading import load_model  # noqa: E402
from resid_atlas.models.pooling import prompt_text  # noqa: E402


def gemm_flops(dtype: torch.dtype, n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """Measured FLOP/s of an n x n matmul in `dtype` on `device` (GPU: n=8192 is a fairer peak)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    a @ b
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def matmul_flops_per_token(model) -> float:
    """2 x the weights of every Linear (and GPT-2's Conv1D) in the base model: its matmul work."""
    from transformers.pytorch_utils import Conv1D

    total = sum(
        m.weight.numel()
        for m in model.base_model.modules()
        if isinstance(m, (torch.nn.Linear, Conv1D))
    )
    return 2.0 * total


def studies_way(lm, texts: list[str], settings: dict) -> tuple[float, int, list[np.ndarray]]:
    tok = lm.tokenizer
    bos = [tok.bos_token_id] if settings["prepend_bos"] else []
    rows = [bos + tok(prompt_text(t, "seed"), add_special_tokens=False)["input_ids"] for t in texts]
    n_tokens = sum(map(len, rows))
    layers = [[] for _ in range(lm.n_layers)]
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(rows), 20):
            batch = rows[i : i + 20]
            width = max(map(len, batch))
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for j, r in enumerate(batch):
                ids[j, : len(r)] = torch.tensor(r)
                mask[j, : len(r)] = 1
            ids, mask = ids.to(lm.device), mask.to(lm.device)
            hidden = lm.model(
                input_ids=ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states
            last = mask.sum(1) - 1
            for layer in range(lm.n_layers):
                h = hidden[layer + 1][torch.arange(len(batch), device=lm.device), last].float()
                layers[layer].append((h - h.mean(-1, keepdim=True)).cpu().numpy())
    return time.perf_counter() - start, n_tokens, [np.concatenate(x) for x in layers]


def ours(lm, corpus: pl.DataFrame, settings: dict, out: Path) -> tuple[float, int]:
    start = time.perf_counter()
    extract_shards(corpus, lm, settings, out)
    seconds = time.perf_counter() - start
    return seconds, int(pl.read_parquet(out / "index.parquet")["n_tokens"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=600, help="0: the whole corpus")
    parser.add_argument("--out", default="/tmp/resid-atlas-bench-extract")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bench/gpu.sh)")
    parser.add_argument("--batch-size", default="64", help="ours: a number, or auto (GPU)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = load_config(ROOT / "config" / "config.yaml")
    corpus = build_corpus(config["datasets"]["corpus"], "corpus")
    if args.sentences:  # 0: the whole corpus, as the default run extracts it
        corpus = corpus.sample(args.sentences, seed=0, shuffle=True)
    settings = config["extraction"]
    out = Path(args.out)
    results = {}
    for dtype in ("float32", "bfloat16"):
        lm = load_model("smollm2-135m", config["models"], device=args.device, dtype=dtype)
        size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
        s = {**settings, "dtype": dtype, "batch_size": size, "device": args.device}
        seconds, tokens = ours(lm, corpus, s, out / dtype)
        peak = gemm_flops(
            lm.model.dtype, 8192 if args.device == "cuda" else 2048, device=args.device
        )
        roofline = peak / matmul_flops_per_token(lm.model)
        results[dtype] = tokens / seconds
        print(
            f"[{dtype}] ours: {tokens} tokens in {seconds:.1f} s = "
            f"{tokens / seconds:,.0f} tokens/s; "
            f"GEMM {peak / 1e9:,.0f} GFLOP/s -> roofline {roofline:,.0f} tokens/s; "
            f"ours = {tokens / seconds / roofline:.0%} of roofline"
        )
        if dtype == "float32":
            base_s, base_tokens, base_layers = studies_way(lm, corpus["text"].to_list(), settings)
            base_rate = base_tokens / base_s
            print(
                f"[float32] studies' way (LM head, output_hidden_states, batch 20, corpus order): "
                f"{base_tokens} tokens in {base_s:.1f} s = {base_rate:,.0f} tokens/s"
            )
            print(f"[float32] speed-up over the studies' way: {tokens / seconds / base_rate:.2f}x")
            shard = np.load(out / "float32" / "layer_5.npy")
            print(
                f"[float32] agreement with the studies' way, layer 5: max |diff| "
                f"{np.abs(shard - base_layers[5]).max():.2e}"
            )
    print(
        "bf16 fidelity against float32, per layer: max|diff| over the layer's sd and over its "
        "largest |value| (massive activations make sd a small yardstick), the 99.9th percentile "
        "of |diff|/sd, and the KS distance between the two value distributions"
    )
    worst = {"sd": 0.0, "max": 0.0, "p999": 0.0, "ks": 0.0}
    for layer in range(lm.n_layers):
        a = np.load(out / "float32" / f"layer_{layer}.npy")
        b = np.load(out / "bfloat16" / f"layer_{layer}.npy")
        diff = np.abs(a - b)
        row = {
            "sd": float(diff.max() / a.std()),
            "max": float(diff.max() / np.abs(a).max()),
            "p999": float(np.quantile(diff, 0.999) / a.std()),
            "ks": float(ks_2samp(a.ravel(), b.ravel()).statistic),
        }
        worst = {k: max(worst[k], v) for k, v in row.items()}
        print(
            f"  layer {layer:2d}: max/sd {row['sd']:.3f}  max/max|x| {row['max']:.4f}  "
            f"p99.9/sd {row['p999']:.4f}  KS {row['ks']:.4f}"
        )
    print(
        f"worst layer: max|diff|/sd {worst['sd']:.3f}, max|diff|/max|x| {worst['max']:.4f}, "
        f"p99.9 |diff|/sd {worst['p999']:.4f}, KS {worst['ks']:.4f}; "
        f"bf16 speed-up over float32 {results['bfloat16'] / results['float32']:.2f}x"
    )


if __name__ == "__main__":
    main()
