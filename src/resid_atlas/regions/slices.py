"""2-D slices through three real activations: the plane through x1, x2, x3 at the write site,
sampled on a square grid and written into the first anchor's prompt context. Each grid point's
read-site output h is compared with the outputs h_k at the three anchors:

    similarity_k = clip(1 - ||h - h_k|| / D, 0, 1),   D = mean pairwise distance of the h_k,

so an anchor is pure red, green or blue, stable regions are areas of one solid colour, and a
boundary is a sharp change of colour.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from resid_atlas.models.readouts import l2_distance
from resid_atlas.models.residual import PrefixCache, ResidualStream

SLICE_SCHEMA = {
    "model": pl.String,
    "slice": pl.Int32,
    "ix": pl.Int32,  # column of the grid (u axis)
    "iy": pl.Int32,  # row of the grid (v axis)
    "u": pl.Float64,  # coordinate along e1 (x2 - x1 direction), write-site units
    "v": pl.Float64,  # coordinate along e2 (orthogonal, towards x3)
    "sim_r": pl.Float64,  # similarity to anchor 0's output
    "sim_g": pl.Float64,  # ... anchor 1
    "sim_b": pl.Float64,  # ... anchor 2
    "nearest": pl.Int8,  # anchor whose output is closest
}


def plane(anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Origin (the anchors' centroid) and orthonormal e1, e2 spanning the anchors' plane."""
    x = anchors.double()
    origin = x.mean(0)
    e1 = x[1] - x[0]
    if e1.norm() == 0:
        raise ValueError("two slice anchors are identical; choose distinct prompts")
    e1 = e1 / e1.norm()
    e2 = x[2] - x[0]
    e2 = e2 - (e2 @ e1) * e1
    if e2.norm() <= 1e-9 * (x[2] - x[0]).norm():
        raise ValueError("the three slice anchors are collinear; choose other prompts")
    return origin, e1, e2 / e2.norm()


def grid_points(anchors: torch.Tensor, grid: int, margin: float):
    """Grid coordinates u [G], v [G], the anchors' (u, v) [3, 2] and the points [G*G, d] (row iy,
    column ix order) covering the anchors with `margin` times the span on every side."""
    origin, e1, e2 = plane(anchors)
    centred = anchors.double() - origin
    uv = torch.stack([centred @ e1, centred @ e2], dim=1)
    lo, hi = uv.min(0).values, uv.max(0).values
    half = (hi - lo).max() * (0.5 + margin)
    mid = (lo + hi) / 2
    u = torch.linspace(float(mid[0] - half), float(mid[0] + half), grid, dtype=torch.float64)
    v = torch.linspace(float(mid[1] - half), float(mid[1] + half), grid, dtype=torch.float64)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    points = origin + uu.reshape(-1, 1) * e1 + vv.reshape(-1, 1) * e2
    return u, v, uv, points.to(anchors.dtype)


@torch.no_grad()
def slice_outputs(
    stream: ResidualStream,
    context: torch.Tensor,
    points: torch.Tensor,
    write: int,
    read: int,
    batch: int,
    post=None,
) -> torch.Tensor:
    """Read-site values [N, d] for points written at the last position of `context` (`post`
    maps the block output to the read site, e.g. the final norm; default: the output itself)."""
    cache = PrefixCache(stream, context)
    out = []
    for i in range(0, points.shape[0], batch):
        chunk = points[i : i + batch].to(stream.model.device)
        h = cache.run(write, chunk, read_layers=(read,), logits=False).resid[read]
        out.append(post(h) if post is not None else h)
    return torch.cat(out)


def similarities(
    outputs: torch.Tensor, anchor_outputs: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """[N, 3] clip(1 - ||h - h_k|| / D, 0, 1) with D the mean pairwise anchor distance."""
    dist = l2_distance(outputs[:, None, :], anchor_outputs[None, :, :])
    pair = l2_distance(anchor_outputs[:, None, :], anchor_outputs[None, :, :])
    scale = pair.sum() / 6.0
    if not scale > 0:
        raise ValueError("the three anchors give identical outputs; the slice has no colours")
    return (1.0 - dist / scale).clamp(0.0, 1.0).cpu().numpy(), dist.argmin(1).cpu().numpy()


def slice_through(
    stream: ResidualStream,
    context: torch.Tensor,
    anchors: torch.Tensor,
    write: int,
    read: int,
    grid: int,
    margin: float = 0.25,
    batch: int = 1024,
    post=None,
) -> dict:
    """One slice: grid axes, anchor coordinates, RGB image [G, G, 3] and nearest anchor [G, G]."""
    u, v, uv, points = grid_points(anchors, grid, margin)
    outputs = slice_outputs(stream, context, points, write, read, batch, post)
    if not torch.isfinite(outputs).all():
        raise ValueError("non-finite outputs in the slice")
    anchor_out = slice_outputs(stream, context, anchors, write, read, batch, post)
    sims, nearest = similarities(outputs, anchor_out)
    return {
        "u": u.numpy(),
        "v": v.numpy(),
        "anchor_uv": uv.numpy(),
        "rgb": sims.reshape(grid, grid, 3),
        "nearest": nearest.reshape(grid, grid),
    }


def slice_frame(model: str, index: int, result: dict) -> pl.DataFrame:
    grid = len(result["u"])
    iy, ix = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    rgb = result["rgb"].reshape(-1, 3)
    return pl.DataFrame(
        {
            "model": model,
            "slice": index,
            "ix": ix.ravel(),
            "iy": iy.ravel(),
            "u": result["u"][ix.ravel()],
            "v": result["v"][iy.ravel()],
            "sim_r": rgb[:, 0],
            "sim_g": rgb[:, 1],
            "sim_b": rgb[:, 2],
            "nearest": result["nearest"].ravel(),
        },
        schema=SLICE_SCHEMA,
    )
