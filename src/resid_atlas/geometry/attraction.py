"""The attraction score of every subject:attribute cell (definition: docs/geometry.md).

For a cell (s1, a1) and every other subject s2 != s1 and attribute a2 != a1, with sim(X, Y) the
similarity between the sentence sets of cells X and Y:

    d1 = sim(s1a2, s1a1) - sim(s1a2, s2a2)   s1a2 vs the cell sharing its subject / its attribute
    d2 = sim(s2a1, s2a2) - sim(s2a1, s1a1)   s2a1 vs the cell sharing its subject / its attribute

    score(s1, a1) = mean over (s2, a2) of (d1 + d2) / 2

Positive: shared subject pulls harder than shared attribute. A quadruple counts only if its four
cells are all present, so incomplete grids are handled; `n_terms` records how many counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resid_atlas.core.errors import AtlasError


@dataclass(frozen=True)
class Attraction:
    score: np.ndarray  # [S, A] subject_side - attribute_side; NaN for absent cells
    subject_side: np.ndarray  # [S, A] mean similarity to the cell sharing the subject
    attribute_side: np.ndarray  # [S, A] mean similarity to the cell sharing the attribute
    n_terms: np.ndarray  # [S, A] (s2, a2) quadruples averaged


def attraction_scores(
    sim: np.ndarray,
    present: np.ndarray,
    where: str = "grid",
    names: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> Attraction:
    """Scores from the [S*A, S*A] cell-similarity matrix (cell id = s * A + a).

    All (s1, a1, s2, a2) quadruples are evaluated at once by broadcast indexing into the 4-D view
    sim4[s, a, s', a'] of the similarity matrix; no Python loop.
    """
    n_s, n_a = present.shape
    if sim.shape != (n_s * n_a, n_s * n_a):
        raise ValueError(f"similarity matrix {sim.shape} does not match a {n_s}x{n_a} grid")
    sim4 = sim.reshape(n_s, n_a, n_s, n_a)
    s1 = np.arange(n_s)[:, None, None, None]
    a1 = np.arange(n_a)[None, :, None, None]
    s2 = np.arange(n_s)[None, None, :, None]
    a2 = np.arange(n_a)[None, None, None, :]
    valid = (
        (s1 != s2)
        & (a1 != a2)
        & present[s1, a1]
        & present[s1, a2]
        & present[s2, a2]
        & present[s2, a1]
    )
    same_subject = (sim4[s1, a2, s1, a1] + sim4[s2, a1, s2, a2]) / 2
    same_attribute = (sim4[s1, a2, s2, a2] + sim4[s2, a1, s1, a1]) / 2
    n_terms = valid.sum(axis=(2, 3))
    starved = present & (n_terms == 0)
    if starved.any():
        s, a = (int(i[0]) for i in np.nonzero(starved))
        cell = f"'{names[0][s]}:{names[1][a]}'" if names else f"(subject {s}, attribute {a})"
        raise AtlasError(
            f"{where}: pair {cell} has no other subject and attribute whose "
            "three partner cells are all present, so its attraction score is undefined; complete "
            "the subject x attribute grid or drop that pair."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        subject_side = np.where(valid, same_subject, 0.0).sum(axis=(2, 3)) / n_terms
        attribute_side = np.where(valid, same_attribute, 0.0).sum(axis=(2, 3)) / n_terms
    subject_side[~present] = np.nan
    attribute_side[~present] = np.nan
    return Attraction(
        score=subject_side - attribute_side,
        subject_side=subject_side,
        attribute_side=attribute_side,
        n_terms=n_terms,
    )


def attraction_loop(groups: dict[tuple[int, int], np.ndarray], n_s: int, n_a: int, set_sim):
    """The definition written out as loops over cells (reference for tests and the bench).

    `groups[(s, a)]` holds the vectors of one cell; `set_sim(X, Y)` is the set similarity.
    Returns the [S, A] score matrix (NaN for absent cells).
    """
    score = np.full((n_s, n_a), np.nan)
    for (s1, a1), x11 in groups.items():
        diffs = []
        for s2 in range(n_s):
            for a2 in range(n_a):
                keys = ((s1, a2), (s2, a2), (s2, a1))
                if s2 == s1 or a2 == a1 or any(k not in groups for k in keys):
                    continue
                x12, x22, x21 = (groups[k] for k in keys)
                d1 = set_sim(x12, x11) - set_sim(x12, x22)
                d2 = set_sim(x21, x22) - set_sim(x21, x11)
                diffs.append((d1 + d2) / 2)
        score[s1, a1] = np.mean(diffs)
    return score
