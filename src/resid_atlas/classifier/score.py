"""Scoring: per-layer log-likelihood of each test sentence under each pair's densities.

For a sentence x (one d-vector per layer), pair p and layer l, with p_pl the linearly interpolated
grid density and eps = 1e-6:
- `all`:    sum_j log(p_pl(x_j) + eps)
- `tails`:  d * mean of log(p_pl(x_j) + eps) over the tail values (x_j beyond the (p, l)
            density-walk cutoffs); fewer than `min_tail` tail values gives d * log(eps)
- `std<k>`: the same with tail values |x_j - mean_pl| > k * sd_pl.
Outside the training range the density is the edge density (`edge`, the study) or 0 (`zero`).

`layer_scores` sorts each row of a layer once, so every pair's tail values are a prefix and a
suffix of it (counts by one searchsorted per row for all pairs and rules), stacks the pairs'
density tables into [P, G + 1] arrays (the interpolation as a table look-up in grid
coordinates), and scores with one fused numba kernel (`_score_block`, compiled on the first call
and cached on disk) per block of rows and pairs: per value two exact range checks, an affine map
to grid coordinates, two table look-ups and a multiply-add; `all` takes one log per product of
16 values (one log per value in a block whose product is not finite and > 0), the tail rules log
only the longest prefix and suffix any rule needs and read each rule's sums off at its own
counts. threads > 1 splits the pairs over threads (the kernel releases the GIL).
`layer_scores_loop` is the straightforward per-sentence loop over
np.interp on the same grids: the reference the tests and bench/classify.py compare against.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from resid_atlas.classifier.density import DensityModels

RULE = re.compile(r"^(all|tails|std(\d+(?:\.\d+)?))$")
EXTRAPOLATIONS = ("edge", "zero")
CHUNK_VALUES = 1 << 16  # values per kernel call: the block of rows stays in cache over the pairs


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


def _tables(models: DensityModels, li: int, eps: float, extrapolation: str):
    """[P, G + 2] look-up tables of layer li in grid coordinates t = (x - lo) / h + 1: cell 0 is
    left of the grid, cell j + 1 the interval [g_j, g_{j+1}), cell G the last interval again
    (t rounds to G or past it at x = hi), cell G + 1 right of the grid; the density plus eps is
    A[p, k] + B[p, k] * t (B = 0 in the outside cells)."""
    d = models.density[:, li]
    n_pairs, g = d.shape
    j = np.arange(g - 1)
    slope = np.diff(d, axis=1)
    a = np.empty((n_pairs, g + 2))
    b = np.zeros((n_pairs, g + 2))
    a[:, 1:g] = d[:, :-1] - slope * (j + 1) + eps
    b[:, 1:g] = slope
    a[:, g], b[:, g] = a[:, g - 1], b[:, g - 1]
    edge = extrapolation == "edge"
    a[:, 0] = (d[:, 0] if edge else 0.0) + eps
    a[:, g + 1] = (d[:, -1] if edge else 0.0) + eps
    return a, b


@numba.njit(cache=True, nogil=True)
def _inside(x, a, b, inv_h, offset, last):
    """Density plus eps at an x within the training range [lo, hi] from one pair's tables
    (last = G + 1, the right outside cell): t clamped to [1, G] keeps rounding at the ends
    (x = lo or hi exactly) in the grid's first or last interval, and sends a NaN to t = 1: the
    index is always in range. The clamps compile to branch-free min/max."""
    t = x * inv_h - offset
    t = t if t > 1.0 else 1.0
    t = t if t < last - 1 else float(last - 1)
    k = int(t)
    return a[k] + b[k] * t


@numba.njit(cache=True, nogil=True)
def _density(x, a, b, inv_h, offset, lo, hi, last):
    """Density plus eps at any x: outside [lo, hi] by exact comparison, as np.interp decides it
    (a value equal to an end is inside), the outside cells 0 and G + 1."""
    v = _inside(x, a, b, inv_h, offset, last)
    v = v if x >= lo else a[0]
    return v if x <= hi else a[last]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _score_block(
    xs,
    start,
    stop,
    pairs,
    a,
    b,
    inv_h,
    offset,
    lo,
    hi,
    c_lo,
    c_hi,
    with_all,
    min_tail,
    floor,
    out_all,
    out_tail,
):
    """Rows start..stop of the sorted xs [n, d] against the given pairs: out_all[i, p] the sum
    of the logs (one log per product of 16 values; a block whose product is not finite and > 0
    takes one log per value), out_tail[r, i, p] rule r's tail score from the log sums over the
    first c_lo[r, i, p] and the last c_hi[r, i, p] values of the row."""
    d = xs.shape[1]
    last = a.shape[1] - 1
    n_rules = c_lo.shape[0]
    head = np.zeros(d + 1)
    tail = np.zeros(d + 1)
    for p in pairs:
        ap, bp, ih, off, lo_p, hi_p = a[p], b[p], inv_h[p], offset[p], lo[p], hi[p]
        for i in range(start, stop):
            x = xs[i]
            if with_all:
                # the row is sorted: the values outside [lo, hi] are a prefix and a suffix,
                # each contributing its outside cell's log; the rest in products of 16
                begin = np.searchsorted(x, lo_p, side="left")
                end = np.searchsorted(x, hi_p, side="right")
                total = begin * np.log(ap[0]) + (d - end) * np.log(ap[last])
                q = end - (end - begin) % 16
                for s in range(begin, q, 16):
                    p0 = p1 = p2 = p3 = 1.0  # four independent products of four values
                    for j in range(s, s + 16, 4):
                        p0 *= _inside(x[j], ap, bp, ih, off, last)
                        p1 *= _inside(x[j + 1], ap, bp, ih, off, last)
                        p2 *= _inside(x[j + 2], ap, bp, ih, off, last)
                        p3 *= _inside(x[j + 3], ap, bp, ih, off, last)
                    prod = (p0 * p1) * (p2 * p3)
                    if prod > 0.0 and prod < np.inf:
                        total += np.log(prod)
                    else:
                        for j in range(s, s + 16):
                            total += np.log(_inside(x[j], ap, bp, ih, off, last))
                for j in range(q, end):
                    total += np.log(_inside(x[j], ap, bp, ih, off, last))
                out_all[i, p] = total
            if n_rules == 0:
                continue
            m_lo = 0
            m_hi = 0
            for r in range(n_rules):
                m_lo = max(m_lo, c_lo[r, i, p])
                m_hi = max(m_hi, c_hi[r, i, p])
            acc = 0.0
            for j in range(m_lo):  # head[c]: the sum over the first c values
                acc += np.log(_density(x[j], ap, bp, ih, off, lo_p, hi_p, last))
                head[j + 1] = acc
            acc = 0.0
            for j in range(m_hi):  # tail[c]: the sum over the last c values
                acc += np.log(_density(x[d - 1 - j], ap, bp, ih, off, lo_p, hi_p, last))
                tail[j + 1] = acc
            for r in range(n_rules):
                n_lo = c_lo[r, i, p]
                n_hi = c_hi[r, i, p]
                count = n_lo + n_hi
                if count >= min_tail:
                    out_tail[r, i, p] = d * (head[n_lo] + tail[n_hi]) / count
                else:
                    out_tail[r, i, p] = floor


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
    threads > 1 splits the pairs over threads (the kernel releases the GIL)."""
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
    out_all = np.zeros((n, n_pairs))
    out_tail = np.zeros((len(tail_rules), n, n_pairs))
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
        a, b = _tables(models, li, eps, extrapolation)
        lo, hi = np.ascontiguousarray(models.lo[:, li]), np.ascontiguousarray(models.hi[:, li])
        inv_h = (g - 1) / (hi - lo)
        offset = lo * inv_h - 1.0
        args = (a, b, inv_h, offset, lo, hi, c_lo, c_hi, "all" in out, min_tail, floor)
        args += (out_all, out_tail)
        work = [
            (start, min(n, start + rows_per_block), p_part)
            for start in range(0, n, rows_per_block)
            for p_part in np.array_split(np.arange(n_pairs), threads)
        ]

        def run(item, xs=xs, args=args):
            _score_block(xs, *item, *args)

        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, work))
        else:
            for item in work:
                run(item)
        if "all" in out:
            out["all"][:, :, li] = out_all
        for r_i, rule in enumerate(tail_rules):
            out[rule][:, :, li] = out_tail[r_i]
    return out


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
