"""Similarity between sets of sentence vectors, for every pair of sets at once.

Mean pairwise cosine between sets A and B = mean over a in A, b in B of cos(a, b)
= (sum of unit vectors of A) . (sum of unit vectors of B) / (|A| |B|): one matrix product over
the per-set sums of normalised vectors replaces the loop over sentence pairs. The centroid
cosine is cos(mean(A), mean(B)). `mean_pairwise_cosine_loop` is the straightforward loop, kept as
the reference for tests and the baseline for bench/geometry.py.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from resid_atlas.core.errors import AtlasError

METHODS = ("pairwise", "centroid")


def unit_rows(x: np.ndarray, where: str) -> np.ndarray:
    """Rows scaled to unit length (float64); a zero or non-finite row is an AtlasError."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        row = int(np.nonzero(~np.isfinite(x).all(axis=1))[0][0])
        raise AtlasError(f"{where}: non-finite value in row {row}; re-run the extraction.")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        row = int(np.nonzero(norms == 0)[0][0])
        raise AtlasError(
            f"{where}: row {row} is the zero vector, so its cosine is undefined; check the "
            "extraction (an empty prompt?) or drop the sentence."
        )
    return x / norms[:, None]


def group_sums(values: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """[n_groups, d] sums of `values` rows by label (a sparse one-hot product)."""
    n = len(labels)
    onehot = sparse.csr_matrix(
        (np.ones(n), (labels, np.arange(n))), shape=(n_groups, n), dtype=np.float64
    )
    return np.asarray(onehot @ np.asarray(values, dtype=np.float64))


def set_similarity(
    x: np.ndarray, labels: np.ndarray, n_groups: int, method: str, where: str = "vectors"
) -> np.ndarray:
    """[n_groups, n_groups] similarity between the row sets of each label.

    pairwise: mean cosine over all (a, b) with a in set i, b in set j; on the diagonal the mean
    over distinct pairs within the set (NaN for a set of one). centroid: cosine of the set means.
    Absent labels give NaN rows and columns.
    """
    if method not in METHODS:
        raise AtlasError(f"geometry.similarity is {method!r}; use one of {METHODS}.")
    counts = np.bincount(labels, minlength=n_groups).astype(np.float64)
    present = counts > 0
    safe = np.where(present, counts, 1.0)
    if method == "pairwise":
        sums = group_sums(unit_rows(x, where), labels, n_groups)
        means = sums / safe[:, None]
        sim = means @ means.T
        sq = np.einsum("ij,ij->i", sums, sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            within = np.where(counts > 1, (sq - counts) / (counts * (counts - 1)), np.nan)
        np.fill_diagonal(sim, within)
    else:
        centroids = group_sums(x, labels, n_groups) / safe[:, None]
        centroids[present] = unit_rows(centroids[present], f"{where} (set centroids)")
        sim = centroids @ centroids.T
    sim[~present, :] = np.nan
    sim[:, ~present] = np.nan
    return sim


def mean_pairwise_cosine_loop(a: np.ndarray, b: np.ndarray) -> float:
    """The baseline: mean cosine over every (sentence of a, sentence of b), one pair at a time."""
    total = 0.0
    for u in a:
        nu = float(np.sqrt(u @ u))
        for v in b:
            total += float(u @ v) / (nu * float(np.sqrt(v @ v)))
    return total / (len(a) * len(b))
