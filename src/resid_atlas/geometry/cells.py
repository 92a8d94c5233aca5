"""The subject x attribute grid of one dataset: which activation rows belong to which cell.

A cell is one subject:attribute pair. Subjects and attributes keep their order of first
appearance in the index (the corpus order), so tables and heatmaps read the same way every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError, remake

ROW_CHOICES = ("all", "train", "test")


@dataclass(frozen=True)
class CellGrid:
    subjects: tuple[str, ...]
    attributes: tuple[str, ...]
    rows: np.ndarray  # [n] activation rows used, ascending
    labels: np.ndarray  # [n] cell id = subject_index * n_attributes + attribute_index
    counts: np.ndarray  # [n_subjects, n_attributes] sentences per cell (0 = absent)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.subjects), len(self.attributes)

    @property
    def n_cells(self) -> int:
        return len(self.subjects) * len(self.attributes)

    @property
    def present(self) -> np.ndarray:
        return self.counts > 0

    @property
    def subject_labels(self) -> np.ndarray:
        return self.labels // len(self.attributes)

    @property
    def attribute_labels(self) -> np.ndarray:
        return self.labels % len(self.attributes)


def _first_seen(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def cell_grid(index: pl.DataFrame, rows: str, min_per_pair: int, where: str) -> CellGrid:
    """Rows of `index` (an activations index.parquet) selected by split, grouped into cells.

    Raises AtlasError naming the file and the pair when the index lacks a column, a split leaves
    nothing, a pair has fewer than `min_per_pair` sentences, or the grid has fewer than two
    subjects or two attributes (the score compares across both).
    """
    missing = {"row", "subject", "attribute", "split"} - set(index.columns)
    if missing:
        raise AtlasError(f"{where}: index lacks column(s) {sorted(missing)}; {remake(where)}.")
    if rows not in ROW_CHOICES:
        raise AtlasError(f"geometry.rows is {rows!r}; use one of {ROW_CHOICES}.")
    if not (index["row"].to_numpy() == np.arange(index.height)).all():
        raise AtlasError(
            f"{where}: column 'row' is not 0..n-1 in order; the index does not belong to these "
            f"shards: {remake(where)}."
        )
    picked = index if rows == "all" else index.filter(pl.col("split") == rows)
    if picked.height == 0:
        raise AtlasError(f"{where}: no rows with split '{rows}'; set geometry.rows to 'all'.")
    subjects = _first_seen(picked["subject"].to_list())
    attributes = _first_seen(picked["attribute"].to_list())
    if len(subjects) < 2 or len(attributes) < 2:
        raise AtlasError(
            f"{where}: {len(subjects)} subject(s) x {len(attributes)} attribute(s) in the "
            f"'{rows}' rows; the attraction score compares across subjects and attributes and "
            "needs at least 2 of each."
        )
    s_of = {s: i for i, s in enumerate(subjects)}
    a_of = {a: i for i, a in enumerate(attributes)}
    s_idx = np.array([s_of[s] for s in picked["subject"].to_list()], dtype=np.int64)
    a_idx = np.array([a_of[a] for a in picked["attribute"].to_list()], dtype=np.int64)
    labels = s_idx * len(attributes) + a_idx
    counts = np.bincount(labels, minlength=len(subjects) * len(attributes))
    counts = counts.reshape(len(subjects), len(attributes))
    low = [
        (subjects[s], attributes[a], int(counts[s, a]))
        for s, a in zip(*np.nonzero((counts > 0) & (counts < min_per_pair)), strict=True)
    ]
    if low:
        listed = ", ".join(f"'{s}:{a}' ({n})" for s, a, n in low[:5])
        more = f" and {len(low) - 5} more" if len(low) > 5 else ""
        raise AtlasError(
            f"{where}: pair(s) with fewer than geometry.min_per_pair={min_per_pair} sentences in "
            f"the '{rows}' rows: {listed}{more}. Add sentences to those pairs, drop them from "
            "the corpus, or lower geometry.min_per_pair."
        )
    return CellGrid(
        subjects=subjects,
        attributes=attributes,
        rows=picked["row"].to_numpy().astype(np.int64),
        labels=labels,
        counts=counts,
    )
