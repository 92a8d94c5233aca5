"""Base activations, perturbation directions, and the straight and sphere paths between them.

Random draws come from one generator per (seed, curve, stream), so conditions that share a base
or a random target share the very same vectors: `real.random.straight` and
`cov-random.random.straight` perturb towards the same cov-random target on curve i.
"""

from __future__ import annotations

import numpy as np

from resid_atlas.plateaus.conditions import Condition
from resid_atlas.plateaus.statistics import Reference

# Independent random streams per curve.
_BASE_COV, _BASE_ISO, _TARGET, _TARGET_2, _ISO_DIR, _TARGET_3 = range(6)


def _rng(seed: int, curve: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, curve, stream])


class Vectors:
    """The vectors one model's conditions draw on: real site activations of the base prompts and
    of the real-other prompts, and the reference statistics. With centring `mean` (the applied
    value of plateaus.centring) every drawn base, target and direction is mean-centred over
    d_model like the real activations, so all vectors live where TransformerLens' would; with
    `none` all stay raw."""

    def __init__(
        self,
        base_acts: np.ndarray,
        other_acts: np.ndarray,
        ref: Reference,
        seed: int,
        centring: str = "mean",
    ):
        self.base_acts = base_acts
        self.other_acts = other_acts
        self.ref = ref
        self.seed = seed
        self.centring = centring

    def _c(self, v: np.ndarray) -> np.ndarray:
        return centred(v, self.centring)

    def base(self, kind: str, curve: int) -> np.ndarray:
        if kind == "real":
            return self.base_acts[curve]
        if kind == "cov-random":
            return self._c(self.ref.sample(_rng(self.seed, curve, _BASE_COV))[0])
        if kind == "isotropic":
            return self._c(self.ref.isotropic(_rng(self.seed, curve, _BASE_ISO))[0])
        raise ValueError(f"unknown base {kind!r}")

    def cov_random_target(self, curve: int, which: int = 0) -> np.ndarray:
        return self._c(self.ref.sample(_rng(self.seed, curve, (_TARGET, _TARGET_2)[which]))[0])

    def extra_target(self, curve: int) -> np.ndarray:
        """A third cov-random target (the top corner of the all-random triangle)."""
        return self._c(self.ref.sample(_rng(self.seed, curve, _TARGET_3))[0])

    def direction(self, kind: str, base: np.ndarray, curve: int) -> np.ndarray:
        if kind == "random":
            return self.cov_random_target(curve) - base
        if kind == "real-other":
            return self.other_acts[curve] - base
        if kind == "isotropic":
            return self._c(_rng(self.seed, curve, _ISO_DIR).standard_normal(base.shape[0]))
        if kind == "cov-random-mixture":
            return self.cov_random_target(curve, 0) - self.cov_random_target(curve, 1)
        raise ValueError(f"unknown direction {kind!r}")

    def curve(self, condition: Condition, curve: int, steps: int):
        """(vectors [steps, d], sizes [steps], base [d]) of one curve of a condition."""
        base = self.base(condition.base, curve)
        direction = self.direction(condition.direction, base, curve)
        return (*path(condition.mode, base, direction, steps, self.centring), base)


def centred(v: np.ndarray, centring: str = "mean") -> np.ndarray:
    """Subtract the mean over d_model (the last axis) under centring `mean` (the TransformerLens
    convention the study follows for GPT-2); `none` returns v unchanged."""
    if centring == "mean":
        return v - v.mean(-1, keepdims=True)
    if centring == "none":
        return v
    raise ValueError(f"centring must be mean or none here, got {centring!r}")


def straight(base: np.ndarray, direction: np.ndarray, steps: int, centring: str = "mean"):
    """x(a) = base + a * dir for a in linspace(0, 1, steps), dir centred (under `mean`) and
    scaled to ||base||. Returns (vectors [steps, d], a [steps])."""
    unit = _unit(centred(direction, centring))
    alphas = np.linspace(0.0, 1.0, steps)
    return base + alphas[:, None] * (np.linalg.norm(base) * unit), alphas


def sphere(base: np.ndarray, direction: np.ndarray, steps: int, centring: str = "mean"):
    """Rotate base towards the direction (centred under `mean`) at constant norm, angle in
    linspace(0, pi, steps): x(t) = ||base|| (cos t * u + sin t * v), u = base / ||base||, v the
    unit part of dir orthogonal to u. Returns (vectors [steps, d], angles [steps])."""
    radius = np.linalg.norm(base)
    u = base / radius
    d = centred(direction, centring)
    v = _unit(d - (d @ u) * u)
    angles = np.linspace(0.0, np.pi, steps)
    return radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v), angles


def path(mode: str, base: np.ndarray, direction: np.ndarray, steps: int, centring: str = "mean"):
    if mode == "straight":
        return straight(base, direction, steps, centring)
    if mode == "sphere":
        return sphere(base, direction, steps, centring)
    raise ValueError(f"unknown mode {mode!r}")


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError("a perturbation direction has zero length (or is parallel to the base)")
    return v / norm


def barycentric_grid(resolution: int) -> np.ndarray:
    """[(r+1)(r+2)/2, 3] weights (top, left, right) on a triangle grid, each row summing to 1."""
    rows = [
        (i / resolution, j / resolution, (resolution - i - j) / resolution)
        for i in range(resolution, -1, -1)
        for j in range(resolution - i, -1, -1)
    ]
    return np.asarray(rows)
