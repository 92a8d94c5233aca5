"""Spectra and their power-law exponents.

A spectrum v_1 >= v_2 >= ... >= v_n (singular values of a weight matrix, eigenvalues of a
covariance) follows a power law v_i ~ C i^-alpha over a rank range when log v is linear in
log i there. `power_law` fits it by least squares of log v on log i over the ranks
[max(1, ceil(lo n)), floor(hi n)] (the `rank_range` fractions; the default 0.01-0.5 leaves out
the few leading directions and the fall-off at the end of the spectrum), reporting alpha, the
intercept and the R^2 of that line. Non-positive values are dropped before the fit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats


def singular_values(matrix: torch.Tensor) -> np.ndarray:
    """Singular values, largest first (float64 SVD of a float32 copy)."""
    m = matrix.detach().to(torch.float64).cpu()
    if m.ndim != 2:
        raise ValueError(f"singular values need a matrix, got shape {tuple(m.shape)}")
    if m.shape[0] > 4 * m.shape[1]:  # tall (embeddings): the Gram matrix is far smaller
        eig = torch.linalg.eigvalsh(m.T @ m).clamp(min=0).sqrt()
        return np.sort(eig.numpy())[::-1].copy()
    return torch.linalg.svdvals(m).numpy()


def covariance_eigenvalues(cov: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric covariance, largest first, tiny negatives clipped to 0."""
    eig = np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64))
    return np.clip(eig[::-1], 0.0, None)


def power_law(values: np.ndarray, rank_range: tuple[float, float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    lo = max(1, math.ceil(rank_range[0] * n))
    hi = min(n, math.floor(rank_range[1] * n))
    ranks = np.arange(lo, hi + 1)
    seg = v[lo - 1 : hi]
    ok = seg > 0
    out = {
        "n": int(n),
        "rank_lo": int(lo),
        "rank_hi": int(hi),
        "alpha": math.nan,
        "intercept": math.nan,
        "r2": math.nan,
    }
    if ok.sum() < 3:
        return out
    fit = stats.linregress(np.log(ranks[ok]), np.log(seg[ok]))
    out.update(alpha=float(-fit.slope), intercept=float(fit.intercept), r2=float(fit.rvalue**2))
    return out


def effective_rank(values: np.ndarray) -> float:
    """exp of the entropy of the normalised spectrum (Roy & Vetterli): how many directions carry
    the variance."""
    v = np.asarray(values, dtype=np.float64)
    v = v[v > 0]
    if v.size == 0:
        return math.nan
    p = v / v.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
