"""Scoring speed of the likelihood classifier: layer_scores (a fused numba kernel) against the
straightforward per-sentence loop (for each test sentence, pair and layer: np.interp on the
scipy-Scott KDE grid, log, then the all / tails / std<k> reductions), measured in the same run
on the same densities, with identical predictions asserted.

Data: the default run's shards (results/activations/corpus/smollm2-135m/seed) when present, else
synthetic Student-t vectors of the same width. The loop is timed on a subset (pairs x layers x
sentences) and both sides score exactly that subset. The kernel is compiled (or loaded from numba's
on-disk cache) by one untimed warm-up call first: a one-off per process, not part of the timings.

Usage: python bench/classify.py [--activations DIR] [--pairs 24] [--layers 4] [--sentences 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.classifier.density import fit_densities  # noqa: E402
from resid_atlas.classifier.score import layer_scores, layer_scores_loop  # noqa: E402

RULES = ["all", "tails", "std2", "std3"]


def real_data(acts: Path, n_pairs: int, n_layers: int, n_sent: int):
    index = pl.read_parquet(acts / "index.parquet").sort("row")
    pairs = sorted(index["pair"].unique().to_list())[:n_pairs]
    total = len(list(acts.glob("layer_*.npy")))
    layers = np.linspace(0, total - 1, n_layers).round().astype(int).tolist()
    train = index.filter(pl.col("split") == "train")
    test = index.filter((pl.col("split") == "test") & pl.col("pair").is_in(pairs)).head(n_sent)
    tr, te = [], []
    for layer in layers:
        shard = np.load(acts / f"layer_{layer}.npy", mmap_mode="r")
        tr.append(
            [np.asarray(shard[train.filter(pl.col("pair") == p)["row"].to_numpy()]) for p in pairs]
        )
        te.append(np.asarray(shard[test["row"].to_numpy()], dtype=np.float64))
    return pairs, layers, tr, te, f"{acts} (layers {layers})"


def synthetic(n_pairs: int, n_layers: int, n_sent: int, d: int = 576, n_train: int = 86):
    rng = np.random.default_rng(0)
    pairs = [f"s{p // 12}:a{p % 12}" for p in range(n_pairs)]
    scale = 1 + 0.1 * rng.random((n_pairs, n_layers))
    tr = [
        [rng.standard_t(4, (n_train, d)) * scale[p, li] for p in range(n_pairs)]
        for li in range(n_layers)
    ]
    truth = rng.integers(0, n_pairs, n_sent)
    te = [rng.standard_t(4, (n_sent, d)) * scale[truth, li][:, None] for li in range(n_layers)]
    return pairs, list(range(n_layers)), tr, te, f"synthetic Student-t(4), d={d}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--activations", default=str(ROOT / "results/activations/corpus/smollm2-135m/seed")
    )
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--sentences", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    acts = Path(args.activations)
    if (acts / "index.parquet").is_file():
        pairs, layers, tr, te, source = real_data(acts, args.pairs, args.layers, args.sentences)
    else:
        pairs, layers, tr, te, source = synthetic(args.pairs, args.layers, args.sentences)
    models = fit_densities(tr, pairs, layers)
    n, d = te[0].shape
    print(f"data: {source}; {n} sentences x {len(pairs)} pairs x {len(layers)} layers x d {d}")
    print(f"rules: {', '.join(RULES)}; both extrapolations timed")
    start = time.perf_counter()
    layer_scores([x[:1] for x in te], models, RULES)  # compiles the kernel (or loads its cache)
    warm_s = time.perf_counter() - start
    print(f"kernel warm-up (compile or disk-cache load, one-off, untimed): {warm_s:.2f} s")
    for extrapolation in ("edge", "zero"):
        start = time.perf_counter()
        ref = layer_scores_loop(te, models, RULES, extrapolation=extrapolation)
        loop_s = time.perf_counter() - start
        timings = {}
        for threads in sorted({1, args.threads}):
            best = np.inf
            for _ in range(3):
                start = time.perf_counter()
                ours = layer_scores(te, models, RULES, extrapolation=extrapolation, threads=threads)
                best = min(best, time.perf_counter() - start)
            timings[threads] = best
            for rule in RULES:
                same = (ours[rule].sum(2).argmax(1) == ref[rule].sum(2).argmax(1)).all()
                assert same, f"{rule}: predictions differ from the loop"
            diff = max(float(np.abs(ours[r] - ref[r]).max()) for r in RULES)
        print(f"[{extrapolation}] baseline per-sentence np.interp loop: {loop_s:.3f} s")
        for threads, seconds in timings.items():
            print(
                f"[{extrapolation}] numba kernel, {threads} thread(s): {seconds:.4f} s  "
                f"ratio {loop_s / seconds:.1f}x  (identical predictions; max |dLL| {diff:.1e})"
            )
    per_el = timings[max(timings)] / (n * len(pairs) * len(layers) * d)
    full = 2640 * 120 * 30 * 576 * per_el
    print(f"extrapolated default run (2640 x 120 x 30 x 576 values, 4 rules): ~{full:.0f} s")


if __name__ == "__main__":
    main()
