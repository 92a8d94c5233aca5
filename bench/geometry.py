"""Attraction scores: resid-atlas's vectorised computation against two baselines, same run.

Data: synthetic sentence vectors with planted subject and attribute directions, shaped like the
default run (10 subjects x 12 attributes x 108 sentences, d_model 576), one BLAS thread.

Ours: per-cell sums of unit vectors, one [120 x 120] matrix product for every set similarity, and
the score of every cell by broadcast indexing (resid_atlas.geometry).

Baseline "sentence-pair loop": the definition as written, a Python loop over cells and over
sentence pairs (mean_pairwise_cosine_loop for each set similarity, recomputed per quadruple).
Hours at full size, so it runs on a sub-grid (--loop-grid subjects x attributes x sentences)
and ours is timed on the same sub-grid for the ratio; the full-size cost is extrapolated from
the count of cosine evaluations.
Baseline "per-pair numpy": the sensible hand-written way at full size: sklearn cosine_similarity
for each of the 120 x 120 cell pairs, cached, then a Python loop over the quadruples.
Both baselines must agree with ours to 1e-9.

Usage: python bench/geometry.py [--subjects 10 --attributes 12 --per 108 --dim 576]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics.pairwise import cosine_similarity
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.geometry.attraction import attraction_loop, attraction_scores  # noqa: E402
from resid_atlas.geometry.similarity import (  # noqa: E402
    mean_pairwise_cosine_loop,
    set_similarity,
)


def planted(n_s: int, n_a: int, per: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=(n_s, d)), rng.normal(size=(n_a, d))
    labels = np.repeat(np.arange(n_s * n_a), per)
    s, a = labels // n_a, labels % n_a
    x = u[s] + 1.3 * v[a] + rng.normal(size=(len(labels), d)) * 2.0
    return x.astype(np.float32), labels


def ours(x, labels, n_s, n_a):
    sim = set_similarity(x, labels, n_s * n_a, "pairwise")
    return attraction_scores(sim, np.ones((n_s, n_a), dtype=bool)).score


def groups_of(x, labels, n_s, n_a):
    return {(c // n_a, c % n_a): x[labels == c].astype(np.float64) for c in range(n_s * n_a)}


def per_pair_numpy(x, labels, n_s, n_a):
    groups = groups_of(x, labels, n_s, n_a)
    cache = {}

    def sim(key_a, key_b):
        key = (key_a, key_b) if key_a <= key_b else (key_b, key_a)
        if key not in cache:
            cache[key] = float(cosine_similarity(groups[key[0]], groups[key[1]]).mean())
        return cache[key]

    score = np.zeros((n_s, n_a))
    for s1 in range(n_s):
        for a1 in range(n_a):
            diffs = []
            for s2 in range(n_s):
                for a2 in range(n_a):
                    if s2 == s1 or a2 == a1:
                        continue
                    d1 = sim((s1, a2), (s1, a1)) - sim((s1, a2), (s2, a2))
                    d2 = sim((s2, a1), (s2, a2)) - sim((s2, a1), (s1, a1))
                    diffs.append((d1 + d2) / 2)
            score[s1, a1] = np.mean(diffs)
    return score


def timed(fn, *args, repeats=1):
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--attributes", type=int, default=12)
    parser.add_argument("--per", type=int, default=108)
    parser.add_argument("--dim", type=int, default=576)
    parser.add_argument("--loop-grid", type=int, nargs=3, default=(3, 4, 12))
    args = parser.parse_args()
    threadpool_limits(1)
    n_s, n_a, per, d = args.subjects, args.attributes, args.per, args.dim
    x, labels = planted(n_s, n_a, per, d)
    print(f"full size: {n_s} x {n_a} cells x {per} sentences, d={d}, one BLAS thread")

    t_ours, s_ours = timed(ours, x, labels, n_s, n_a, repeats=5)
    t_np, s_np = timed(per_pair_numpy, x, labels, n_s, n_a)
    assert np.allclose(s_ours, s_np, atol=1e-9), "per-pair numpy disagrees"
    print(f"  ours (vectorised)            {t_ours * 1e3:10.1f} ms")
    print(f"  baseline per-pair numpy      {t_np * 1e3:10.1f} ms   ratio {t_np / t_ours:8.1f}x")

    ls, la, lp = args.loop_grid
    xs, ls_labels = planted(ls, la, lp, d, seed=1)
    t_small, s_small = timed(ours, xs, ls_labels, ls, la, repeats=5)
    t_loop, s_loop = timed(
        attraction_loop, groups_of(xs, ls_labels, ls, la), ls, la, mean_pairwise_cosine_loop
    )
    assert np.allclose(s_small, s_loop, atol=1e-9), "sentence-pair loop disagrees"
    print(f"sub-grid: {ls} x {la} cells x {lp} sentences, d={d}")
    print(f"  ours (vectorised)            {t_small * 1e3:10.2f} ms")
    print(
        f"  baseline sentence-pair loop  {t_loop * 1e3:10.1f} ms   ratio {t_loop / t_small:8.0f}x"
    )

    def cosines(n_s_, n_a_, per_):
        return n_s_ * n_a_ * (n_s_ - 1) * (n_a_ - 1) * 4 * per_ * per_

    full_loop = t_loop * cosines(n_s, n_a, per) / cosines(ls, la, lp)
    print(
        f"  sentence-pair loop extrapolated to full size: {full_loop / 3600:.1f} h "
        f"(ratio ~{full_loop / t_ours:.0e}x)"
    )


if __name__ == "__main__":
    main()
