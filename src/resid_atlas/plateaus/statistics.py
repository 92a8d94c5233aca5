"""Real activations at the perturbation site and the statistics the random baselines draw from.

The site is the residual after block `layer` at the last position of each prompt. Reading it
stops the forward pass right after that block (an exception raised in the read hook), so 700
reference prompts cost one block each, not the whole model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.residual import ResidualStream, hook_name

log = logging.getLogger(__name__)

# Eigenvalues below this fraction of the largest are raised to it (positive-definite repair).
EIGEN_FLOOR = 1e-6


class _Stop(Exception):
    """Raised inside the read hook once the site is read: the later blocks are not needed."""


@torch.no_grad()
def site_activations(
    stream: ResidualStream, windows: np.ndarray, layer: int, batch_size: int = 64
) -> np.ndarray:
    """[n, d_model] float64 residual after block `layer` at the last position of each window
    (equal-length token windows, so no padding)."""
    device = next(stream.model.parameters()).device
    out = []
    for start in range(0, len(windows), batch_size):
        ids = torch.as_tensor(windows[start : start + batch_size], device=device)
        got = {}

        def keep(hidden, got=got):
            got["x"] = hidden[:, -1, :].double().cpu()
            raise _Stop

        try:
            with stream.hooks(read={layer: keep}):
                stream.model.base_model(input_ids=ids, use_cache=False)
        except _Stop:
            pass
        out.append(got["x"].numpy())
    acts = np.concatenate(out)
    bad = ~np.isfinite(acts)
    if bad.any():
        row = int(np.nonzero(bad)[0][0])
        raise AtlasError(
            f"non-finite activation at {hook_name(layer)} for prompt window {row}; use dtype "
            "float32 or another site layer."
        )
    return acts


@dataclass
class Reference:
    """Mean and (repaired) covariance of real site activations, with the eigen-decomposition
    used to sample from N(mean, cov)."""

    mean: np.ndarray  # [d]
    cov: np.ndarray  # [d, d], positive definite after repair
    eigvals: np.ndarray  # [d] of the repaired covariance, ascending
    eigvecs: np.ndarray  # [d, d]
    n_prompts: int
    n_clipped: int  # eigenvalues raised to the floor
    min_eigenvalue_raw: float

    @property
    def repaired(self) -> bool:
        return self.n_clipped > 0

    @property
    def total_variance(self) -> float:
        return float(np.trace(self.cov))

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """[n, d] draws from N(mean, cov) (cov-random activations)."""
        z = rng.standard_normal((n, self.mean.shape[0]))
        return self.mean + (z * np.sqrt(self.eigvals)) @ self.eigvecs.T

    def isotropic(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """[n, d] draws from N(mean, s^2 I) with s^2 = trace(cov) / d: the real mean and total
        variance, without the covariance's shape."""
        d = self.mean.shape[0]
        return self.mean + rng.standard_normal((n, d)) * np.sqrt(self.total_variance / d)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "cov": self.cov}

    def describe(self) -> dict:
        return {
            "n_prompts": self.n_prompts,
            "d_model": int(self.mean.shape[0]),
            "repaired": self.repaired,
            "n_clipped_eigenvalues": self.n_clipped,
            "min_eigenvalue_raw": self.min_eigenvalue_raw,
            "min_eigenvalue": float(self.eigvals[0]),
            "max_eigenvalue": float(self.eigvals[-1]),
            "eigen_floor": EIGEN_FLOOR,
            "mean_norm": float(np.linalg.norm(self.mean)),
            "total_variance": self.total_variance,
        }


def positive_definite(cov: np.ndarray, floor: float = EIGEN_FLOOR):
    """Symmetrise and raise eigenvalues below floor * max to that value.
    Returns (repaired cov, eigvals, eigvecs, n_clipped, raw minimum eigenvalue)."""
    sym = (cov + cov.T) / 2
    vals, vecs = np.linalg.eigh(sym)
    top = max(float(vals[-1]), np.finfo(float).tiny)
    low = floor * top
    clipped = vals < low
    fixed = np.where(clipped, low, vals)
    repaired = (vecs * fixed) @ vecs.T if clipped.any() else sym
    return repaired, fixed, vecs, int(clipped.sum()), float(vals[0])


def reference_statistics(acts: np.ndarray) -> Reference:
    """Mean and covariance (denominator n - 1) of [n, d] activations, repaired to be positive
    definite when n <= d or the spectrum is degenerate."""
    if acts.shape[0] < 2:
        raise AtlasError(
            "plateaus.statistics_prompts: at least 2 prompts are needed for a covariance; "
            "raise reference_prompts."
        )
    mean = acts.mean(0)
    cov = np.cov(acts, rowvar=False)
    cov, vals, vecs, n_clipped, raw_min = positive_definite(cov)
    if n_clipped:
        log.info(
            "covariance of %d activations (d=%d) repaired: %d eigenvalues raised to %.3g",
            acts.shape[0],
            acts.shape[1],
            n_clipped,
            vals[0],
        )
    return Reference(mean, cov, vals, vecs, acts.shape[0], n_clipped, raw_min)
