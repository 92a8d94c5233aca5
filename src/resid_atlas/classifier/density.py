"""Density models: one Gaussian KDE (Scott bandwidth) per (pair, layer) over all training values,
tabulated on an evenly spaced grid between the training min and max, plus the study's tail cutoffs
(density walk) and the training mean and sd (for the std<k> tails)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resid_atlas.core.errors import AtlasError
from resid_atlas.stats.kde import kde_on_grid

NO_MODE = ("edge", "none")  # a side of the walk without a minor mode: see tail_cutoffs
WALKS = ("study", "steps")  # where a minor mode starts: see tail_cutoffs


def kde_grid(values: np.ndarray, lo: float, hi: float, n_grid: int) -> np.ndarray:
    """Scott-bandwidth Gaussian KDE of `values` on np.linspace(lo, hi, n_grid).

    The one place the KDE is chosen: resid_atlas.stats.kde's binned FFT KDE, proven against
    scipy.stats.gaussian_kde in tests/test_distributions.py (and for this use in
    tests/test_classifier.py);
    `scipy.stats.gaussian_kde(values)(np.linspace(lo, hi, n_grid))` is the one-line swap back."""
    return kde_on_grid(values, (lo, hi, n_grid))[1]


@dataclass
class DensityModels:
    """Per (pair, layer): grid ends lo/hi [P, L], densities [P, L, G], training mean/sd [P, L],
    tail cutoffs cut_lo/cut_hi [P, L] (where the walk finds no minor mode: the grid end under
    `edge`, -inf/+inf under `none`), and the number of training values [P]."""

    pairs: list[str]
    layers: list[int]
    lo: np.ndarray
    hi: np.ndarray
    density: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    cut_lo: np.ndarray
    cut_hi: np.ndarray
    n_values: np.ndarray

    @property
    def n_grid(self) -> int:
        return self.density.shape[-1]

    def grid(self, p: int, li: int) -> np.ndarray:
        return np.linspace(self.lo[p, li], self.hi[p, li], self.n_grid)


def tail_cutoffs(
    grid: np.ndarray,
    density: np.ndarray,
    below: float = 1e-4,
    window: int = 4,
    rising: int = 3,
    no_mode: str = "edge",
    walk: str = "study",
) -> tuple[float, float]:
    """The density walk. From the grid point nearest 0, walk outward; the first point whose
    density is below `below` and where a minor mode starts is the cutoff on that side.

    A minor mode starts (`walk: study`, good-epic/activation-tails
    `ActivationDistribution.set_tail_cutoffs`) where, of the points in the study's look-ahead
    slice, at least `rising` after the first lie above the first: on the right the slice is the
    point and the `window` points beyond it; on the left the `window` points beyond it, nearest
    first, without the point itself (the study's slicing: the left side compares the next
    window - 1 points with the neighbour). A slice shorter than rising + 1 (at the grid's end)
    starts nothing. Under `walk: steps`, at least `rising` of the next `window` steps (moving
    further out) rise.

    A side without such a point: under `edge` (the study's walk runs on to the grid's last point)
    the cutoff is the grid end, so values beyond the training range are that side's tail; under
    `none` the side has no tail (cutoff -inf / +inf)."""
    if no_mode not in NO_MODE:
        raise ValueError(f"no_mode must be one of {NO_MODE}, not {no_mode!r}")
    if walk not in WALKS:
        raise ValueError(f"walk must be one of {WALKS}, not {walk!r}")
    start = int(np.argmin(np.abs(grid)))
    n = len(grid)
    edge = no_mode == "edge"
    cut_lo = float(grid[0]) if edge else -np.inf
    cut_hi = float(grid[-1]) if edge else np.inf
    if walk == "study":

        def starts(pts: np.ndarray) -> bool:
            return pts.size >= rising + 1 and int((pts[1:] > pts[0]).sum()) >= rising

        for i in range(start, n - 1):
            if density[i] < below and starts(density[i : i + window + 1]):
                cut_hi = float(grid[i])
                break
        for i in range(start, 0, -1):
            if density[i] < below and starts(density[max(0, i - window) : i][::-1]):
                cut_lo = float(grid[i])
                break
        return cut_lo, cut_hi
    up = np.diff(density) > 0  # up[i]: density rises from i to i+1
    for i in range(start, n - window):
        if density[i] < below and up[i : i + window].sum() >= rising:
            cut_hi = float(grid[i])
            break
    for i in range(start, window - 1, -1):
        # moving left, a rise from i to i-1 is a fall from i-1 to i
        if density[i] < below and (~up[i - window : i]).sum() >= rising:
            cut_lo = float(grid[i])
            break
    return cut_lo, cut_hi


def fit_densities(
    train: list[np.ndarray],
    pairs: list[str],
    layers: list[int],
    n_grid: int = 1000,
    tail_density: float = 1e-4,
    tail_window: int = 4,
    tail_rising: int = 3,
    tail_no_mode: str = "edge",
    tail_walk: str = "study",
) -> DensityModels:
    """train[li][p]: the training vectors [n_p, d] of pair p at layer layers[li]."""
    n_pairs, n_layers = len(pairs), len(layers)
    shape = (n_pairs, n_layers)
    lo, hi, mean, sd = (np.zeros(shape) for _ in range(4))
    cut_lo, cut_hi = np.full(shape, -np.inf), np.full(shape, np.inf)
    density = np.zeros((*shape, n_grid))
    n_values = np.zeros(n_pairs, dtype=np.int64)
    for li, per_pair in enumerate(train):
        for p, vectors in enumerate(per_pair):
            values = np.asarray(vectors, dtype=np.float64).ravel()
            where = f"pair '{pairs[p]}', layer {layers[li]}"
            if values.size < 2:
                raise AtlasError(
                    f"classifier: {where} has {values.size} training value(s); every pair needs "
                    "training sentences: lower datasets.<name>.test_fraction or add sentences."
                )
            lo[p, li], hi[p, li] = values.min(), values.max()
            if not hi[p, li] > lo[p, li]:
                raise AtlasError(
                    f"classifier: {where}: all training values equal {lo[p, li]}; a density "
                    "needs spread (a constant shard means a broken extraction: rebuild it)."
                )
            mean[p, li], sd[p, li] = values.mean(), values.std()
            dens = kde_grid(values, lo[p, li], hi[p, li], n_grid)
            if not np.all(np.isfinite(dens)):
                raise AtlasError(f"classifier: non-finite KDE density for {where}.")
            density[p, li] = dens
            grid = np.linspace(lo[p, li], hi[p, li], n_grid)
            cut_lo[p, li], cut_hi[p, li] = tail_cutoffs(
                grid, dens, tail_density, tail_window, tail_rising, tail_no_mode, tail_walk
            )
            n_values[p] = values.size
    return DensityModels(pairs, layers, lo, hi, density, mean, sd, cut_lo, cut_hi, n_values)
