"""Interpolation paths between two activations and the sharpness of an output curve.

Sharpness (Janiak et al. 2024): with d(a) = ||h(a) - h(0)|| sampled at `steps` evenly spaced
points a = 0 .. 1 and normalised by d(1), sharpness = max_i (d_{i+1} - d_i) * (steps - 1). A
straight line gives 1; a curve that jumps in one step gives steps - 1, the cap for monotone curves
(a curve that overshoots d(1) can exceed it). Values are only comparable at equal step counts.
"""

from __future__ import annotations

import numpy as np
import torch

PATHS = ("linear", "arc")
ARCS = ("rescale", "slerp")


def alphas(steps: int) -> torch.Tensor:
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    return torch.linspace(0.0, 1.0, steps, dtype=torch.float64)


def linear_path(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """[steps, d]: x(t) = (1 - t) a + t b, computed in float64, returned in a's dtype."""
    t = alphas(steps)[:, None]
    return ((1 - t) * a.double() + t * b.double()).to(a.dtype)


def rescaled_arc(
    a: torch.Tensor, b: torch.Tensor, centre: torch.Tensor, steps: int
) -> torch.Tensor:
    """[steps, d]: the authors' arc (reometry `utils.arc_interpolation`): the linear interpolant
    x(t), moved so that ||x - centre|| = ||a - centre|| at every t. It starts at a and ends on
    the ray from the centre through b (at b itself only when the two radii are equal); the angle
    does not move evenly."""
    c = centre.double()
    offset = linear_path(a.double(), b.double(), steps) - c
    length = offset.norm(dim=-1, keepdim=True)
    if (length == 0).any():
        raise ValueError("the straight line from a to b passes through the centre; no arc")
    return (c + offset * ((a.double() - c).norm() / length)).to(a.dtype)


def arc_path(a: torch.Tensor, b: torch.Tensor, centre: torch.Tensor, steps: int) -> torch.Tensor:
    """[steps, d]: the great-circle arc around `centre` from a to b. The angle moves evenly
    (slerp of the centred directions) and the radius ||x - centre|| moves linearly from ||a - c||
    to ||b - c||, so it stays fixed when the two radii are equal."""
    t = alphas(steps)[:, None]
    c = centre.double()
    u, v = a.double() - c, b.double() - c
    ru, rv = u.norm(), v.norm()
    if ru == 0 or rv == 0:
        raise ValueError("an arc end point equals the centre; the arc is undefined")
    uh, vh = u / ru, v / rv
    theta = torch.arccos(torch.clamp(uh @ vh, -1.0, 1.0))
    if theta < 1e-7:
        direction = (1 - t) * uh + t * vh
        direction = direction / direction.norm(dim=-1, keepdim=True)
    elif torch.pi - theta < 1e-7:
        raise ValueError("the arc end points are antipodal around the centre; no unique arc")
    else:
        direction = (torch.sin((1 - t) * theta) * uh + torch.sin(t * theta) * vh) / torch.sin(theta)
    radius = (1 - t) * ru + t * rv
    return (c + radius * direction).to(a.dtype)


def path(kind: str, a, b, centre, steps: int, arc: str = "rescale") -> torch.Tensor:
    """The `linear` path, or the `arc` built the `arc` way: `rescale` (the authors') or `slerp`
    (even angle, radius moving linearly from ||a - centre|| to ||b - centre||)."""
    if kind == "linear":
        return linear_path(a, b, steps)
    if kind == "arc" and arc in ARCS:
        return (rescaled_arc if arc == "rescale" else arc_path)(a, b, centre, steps)
    raise ValueError(f"unknown path {kind!r} / arc {arc!r}; choose from {PATHS} / {ARCS}")


def normalise(curves: np.ndarray) -> np.ndarray:
    """[n, steps] curves divided by their last value (rows whose last value is 0 become NaN:
    the caller records them as degenerate)."""
    curves = np.asarray(curves, dtype=np.float64)
    end = curves[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(end > 0, curves / np.where(end > 0, end, 1.0), np.nan)


def sharpness(normalised: np.ndarray) -> np.ndarray:
    """[n] the largest finite-difference step of each normalised curve times (steps - 1)."""
    normalised = np.asarray(normalised, dtype=np.float64)
    steps = normalised.shape[1]
    return np.diff(normalised, axis=1).max(axis=1) * (steps - 1)


def is_monotone(curves: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """[n] whether each curve never decreases (beyond `tol` times its end value)."""
    curves = np.asarray(curves, dtype=np.float64)
    return (np.diff(curves, axis=1) >= -tol * np.abs(curves[:, -1:])).all(axis=1)
