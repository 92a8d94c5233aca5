"""Scoring: per-layer log-likelihood of each test sentence under each pair's densities.

For a sentence x (one d-vector per layer), pair p and layer l, with p_pl the linearly interpolated
grid density and eps = 1e-6:
- `all`:    sum_j log(p_pl(x_j) + eps)
- `tails`:  d * mean of log(p_pl(x_j) + eps) over the tail values (x_j beyond the (p, l)
            density-walk cutoffs); fewer than `min_tail` tail values gives d * log(eps)
- `std<k>`: the same with tail values |x_j - mean_pl| > k * sd_pl.
Outside the training range the density is the edge density (`edge`, the study) or 0 (`zero`).

`layer_scores` is the vectorised implementation: each row of a layer is sorted once, so every
pair's tail values are a prefix and a suffix of it (counts by one searchsorted per row for all pairs
and rules, sums from one cumulative sum per pair); the interpolation is a table look-up in grid
coordinates; `all` takes one log per 16 values (of their product), the tail rules log only the
prefix and suffix they sum. `layer_scores_loop` is the straightforward per-sentence loop over
np.interp on the same grids: the reference the tests and bench/classify.py compare against.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from resid_atlas.classifier.density import DensityModels

RULE = re.compile(r"^(all|tails|std(\d+(?:\.\d+)?))$")
EXTRAPOLATIONS = ("edge", "zero")
CHUNK_VALUES = 1 << 16  # values per block: keeps the working arrays in cache


def std_k(rule: str) -> float | None:
    m = RULE.match(rule)
    if m is None:
        raise ValueError(f"unknown scoring rule {rule!r}")
    return float(m.group(2)) if m.group(2) else None


def tail_bounds(models: DensityModels, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """[P, L] lower and upper bounds: tail values are x < lower or x > upper."""
    if rule == "tails":
        return models.cut_lo, models.cut_hi
    k = std_k(rule)
    return models.mean - k * models.sd, models.mean + k * models.sd


def _tables(models: DensityModels, p: int, li: int, eps: float, extrapolation: str):
    """Shifted look-up tables in grid coordinates t1 = (x - lo) / h + 1: cell 0 is left of the
    grid, cell j + 1 the interval [g_j, g_{j+1}), cell G right of it. v = A[k] + B[k] * t1."""
    d = models.density[p, li]
    g = d.size
    j = np.arange(g - 1)
    slope = np.diff(d)
    a = np.empty(g + 1)
    b = np.zeros(g + 1)
    a[1:g] = d[:-1] - slope * (j + 1) + eps
    b[1:g] = slope
    edge = extrapolation == "edge"
    a[0] = (d[0] if edge else 0.0) + eps
    a[g] = (d[-1] if edge else 0.0) + eps
    return a, b


def layer_scores(
    test: list[np.ndarray],
    models: DensityModels,
    rules: list[str],
    eps: float = 1e-6,
    extrapolation: str = "edge",
    min_tail: int = 3,
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """test[li]: [n, d] test vectors at layer models.layers[li]. Returns rule -> [n, P, L].
    threads > 1 splits the pairs over threads (numpy releases the GIL in these loops)."""
    if extrapolation not in EXTRAPOLATIONS:
        raise ValueError(f"extrapolation must be one of {EXTRAPOLATIONS}")
    n_pairs, n_layers = models.lo.shape
    n, d = test[0].shape
    g = models.n_grid
    floor = d * np.log(eps)
    out = {rule: np.empty((n, n_pairs, n_layers)) for rule in rules}
    tail_rules = [r for r in rules if r != "all"]
    bounds = {r: tail_bounds(models, r) for r in tail_rules}
    rows_per_block = max(1, CHUNK_VALUES // d)
    for li in range(n_layers):
        # each sentence's values sorted: every pair's tail values are a prefix and a suffix
        xs = np.sort(np.asarray(test[li], dtype=np.float64), axis=1)
        c_lo = np.zeros((len(tail_rules), n, n_pairs), dtype=np.intp)
        c_hi = np.zeros_like(c_lo)
        if tail_rules:
            lower = np.stack([bounds[r][0][:, li] for r in tail_rules])
            upper = np.stack([bounds[r][1][:, li] for r in tail_rules])
            for i in range(n):
                c_lo[:, i] = np.searchsorted(xs[i], lower, side="left")
                c_hi[:, i] = d - np.searchsorted(xs[i], upper, side="right")
        tables = [_tables(models, p, li, eps, extrapolation) for p in range(n_pairs)]
        inv_h = (g - 1) / (models.hi[:, li] - models.lo[:, li])
        offset = models.lo[:, li] * inv_h - 1.0
        work = [
            (start, p_part)
            for start in range(0, n, rows_per_block)
            for p_part in np.array_split(np.arange(n_pairs), threads)
        ]

        def run(
            item, li=li, xs=xs, c_lo=c_lo, c_hi=c_hi, tables=tables, inv_h=inv_h, offset=offset
        ):
            start, p_part = item
            block = xs[start : start + rows_per_block]
            stop = start + block.shape[0]
            t = np.empty_like(block)
            k = np.empty(block.shape, dtype=np.intp)
            v = np.empty_like(block)
            w = np.empty_like(block)
            lo_n, hi_n = c_lo[:, start:stop], c_hi[:, start:stop]
            for p in p_part:
                a, b = tables[p]
                np.multiply(block, inv_h[p], out=t)
                np.subtract(t, offset[p], out=t)
                # truncation toward 0 is the floor for t >= 0; any t < 1 (left of the grid) and
                # any t >= g (right of it) lands in the outside cells 0 and g by clipping
                np.copyto(k, t, casting="unsafe")
                np.take(b, k, out=v, mode="clip")  # B = 0 in the outside cells
                np.multiply(v, t, out=v)
                np.take(a, k, out=w, mode="clip")
                np.add(v, w, out=v)  # density + eps, the argument of every log
                if "all" in out:
                    out["all"][start:stop, p, li] = _sum_log(v)
                if not tail_rules:
                    continue
                sums = _edge_sums(v, lo_n[:, :, p], hi_n[:, :, p])
                count = lo_n[:, :, p] + hi_n[:, :, p]
                with np.errstate(invalid="ignore", divide="ignore"):
                    score = np.where(count >= min_tail, d * sums / count, floor)
                for r_i, rule in enumerate(tail_rules):
                    out[rule][start:stop, p, li] = score[r_i]

        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, work))
        else:
            for item in work:
                run(item)
    return out


def _sum_log(v: np.ndarray) -> np.ndarray:
    """Per row, the sum of log(v) as the sum of the logs of products of 16 values: one log per
    16 values (the log is the costliest step), the products by four halvings of strided
    views (numpy's reduce over a short inner axis is slower than the logs it saves). Values lie
    in [eps, a density], so a product of 16 stays in float64's range; a block where one does
    not (a density above ~1e19) falls back to one log per value."""
    q = v.shape[1] - v.shape[1] % 16
    prods = v[:, :q]
    with np.errstate(over="ignore", under="ignore"):
        for _ in range(4):
            prods = prods[:, 0::2] * prods[:, 1::2]
    if not (np.all(np.isfinite(prods)) and np.all(prods > 0)):
        return np.log(v).sum(axis=1)
    return np.log(prods).sum(axis=1) + np.log(v[:, q:]).sum(axis=1)


def _edge_sums(v: np.ndarray, n_lo: np.ndarray, n_hi: np.ndarray) -> np.ndarray:
    """Per rule r and row i: the sum of log(v[i, :n_lo[r, i]]) plus that of its last n_hi[r, i]
    values, from partial cumulative sums (and logs) only as wide as the largest count."""
    m, d = v.shape
    rows = np.arange(m)
    k_lo, k_hi = int(n_lo.max()), int(n_hi.max())
    head = np.zeros((m, k_lo + 1))
    np.cumsum(np.log(v[:, :k_lo]), axis=1, out=head[:, 1:])
    tail = np.zeros((m, k_hi + 1))
    np.cumsum(np.log(v[:, d - k_hi :][:, ::-1]), axis=1, out=tail[:, 1:])
    return head[rows, n_lo] + tail[rows, n_hi]


def layer_scores_loop(
    test: list[np.ndarray],
    models: DensityModels,
    rules: list[str],
    eps: float = 1e-6,
    extrapolation: str = "edge",
    min_tail: int = 3,
) -> dict[str, np.ndarray]:
    """The straightforward reference: for each sentence, pair and layer, np.interp on the grid."""
    n_pairs, n_layers = models.lo.shape
    n, d = test[0].shape
    grids = [[models.grid(p, li) for li in range(n_layers)] for p in range(n_pairs)]
    fill = {} if extrapolation == "edge" else {"left": 0.0, "right": 0.0}
    bounds = {r: tail_bounds(models, r) for r in rules if r != "all"}
    out = {rule: np.empty((n, n_pairs, n_layers)) for rule in rules}
    for i in range(n):
        for p in range(n_pairs):
            for li in range(n_layers):
                x = test[li][i].astype(np.float64)
                lp = np.log(np.interp(x, grids[p][li], models.density[p, li], **fill) + eps)
                for rule in rules:
                    if rule == "all":
                        out[rule][i, p, li] = lp.sum()
                        continue
                    lower, upper = bounds[rule]
                    tail = lp[(x < lower[p, li]) | (x > upper[p, li])]
                    out[rule][i, p, li] = (
                        d * tail.mean() if tail.size >= min_tail else d * np.log(eps)
                    )
    return out
