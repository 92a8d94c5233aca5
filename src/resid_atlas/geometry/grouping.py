"""The standard view: does a layer group sentences more by subject or by attribute?

For one labelling (subjects, or attributes) of unit vectors u_i:
    within  = mean cos(u_i, u_j) over ordered pairs i != j with the same label
    between = mean cos(u_i, u_j) over pairs with different labels
both from per-label sums G_c and the total T (sum_{i != j, same} u_i.u_j = sum_c |G_c|^2 - n_c),
plus scikit-learn's silhouette score of the labelling.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score

from resid_atlas.geometry.similarity import group_sums


def within_between(unit: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(within, between) mean pairwise cosine of unit-length rows under `labels`."""
    n_groups = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=n_groups).astype(np.float64)
    sums = group_sums(unit, labels, n_groups)
    sq_groups = float(np.einsum("ij,ij->", sums, sums))
    total = sums.sum(axis=0)
    n = float(len(labels))
    n_within = float((counts * (counts - 1)).sum())
    n_between = n * n - float((counts * counts).sum())
    within = (sq_groups - n) / n_within if n_within else float("nan")
    between = (float(total @ total) - sq_groups) / n_between if n_between else float("nan")
    return within, between


def silhouette(x: np.ndarray, labels: np.ndarray, metric: str, sample: int, seed: int) -> float:
    """sklearn's silhouette score, on a seeded random subset of `sample` rows if 0 < sample < n."""
    size = sample if 0 < sample < len(labels) else None
    return float(silhouette_score(x, labels, metric=metric, sample_size=size, random_state=seed))
