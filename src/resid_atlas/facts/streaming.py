"""Bounded-memory statistics of one layer's token activations, updated batch by batch.

What one `LayerStream` keeps, whatever the number of tokens:
- power sums of (x - c0)/s0 (accumulated in float64) for mean, sd, skew and excess kurtosis,
  and min/max of x;
- a fixed-bin histogram of (x - c0)/s0 over [-hist_range, hist_range] plus under/overflow counts;
- per (position bucket, dimension) the number of tokens with |x - c0| > k s0 (outlier dimensions);
- sum of (x - mu0)(x - mu0)^T and of x - mu0 (covariance, per-dimension means and variances);
- the sum and sum of squares of each token's L2 norm (residual norm);
- the `top_n` tokens with the largest |x|, with sentence, position and dimension (massive
  activations);
- a uniform subsample of about `sample_prob` x the values for the distribution fits.
c0, s0 (scalars) and mu0 (per dimension) are calibrated on the first batch: the layer's mean and
sd there. They fix the histogram bins and the outlier threshold, and keep the running sums free of
cancellation; the final moments do not depend on them.

Tokens are "counted" (moments, histogram, covariance, norm, subsample) when they are real tokens at
a position >= `first` (1 drops position 0 / BOS); the outlier counts and the massive-activation
scan see every real token, position 0 included, with its position recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from resid_atlas.facts.stats import moments_from_sums


@dataclass(frozen=True)
class StreamSettings:
    hist_bins: int = 480
    hist_range: float = 12.0
    outlier_k: float = 5.0
    n_buckets: int = 8
    top_n: int = 20
    sample_prob: float = 0.01


def position_buckets(positions: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """0 for position 0, then powers of two: 1 -> 1, 2-3 -> 2, 4-7 -> 3, ... capped at n-1."""
    safe = positions.clamp(min=1).float()
    bucket = torch.floor(torch.log2(safe)).long() + 1
    bucket = torch.where(positions == 0, torch.zeros_like(bucket), bucket)
    return bucket.clamp(max=n_buckets - 1)


def bucket_label(bucket: int, n_buckets: int) -> str:
    if bucket == 0:
        return "0"
    lo = 2 ** (bucket - 1)
    return f"{lo}+" if bucket == n_buckets - 1 else f"{lo}-{2 * lo - 1}"


class LayerStream:
    def __init__(self, d: int, settings: StreamSettings, seed: int):
        self.d = d
        self.s = settings
        self.generator = torch.Generator().manual_seed(seed)
        self.calibrated = False
        self.n_tokens = 0
        self.sums = np.zeros(5)  # n, s1..s4 of x - c0
        self.x_min, self.x_max = math.inf, -math.inf
        self.hist = torch.zeros(settings.hist_bins, dtype=torch.float64)
        self.under = self.over = 0
        self.exceed = torch.zeros(settings.n_buckets, d, dtype=torch.float64)
        self.bucket_tokens = torch.zeros(settings.n_buckets, dtype=torch.float64)
        self.gram = torch.zeros(d, d, dtype=torch.float64)
        self.dim_sum = torch.zeros(d, dtype=torch.float64)
        self.norm_sums = np.zeros(2)
        self.top: list[tuple] = []  # (abs, value, row, position, dim)
        self.samples: list[np.ndarray] = []

    def _calibrate(self, x: torch.Tensor) -> None:
        self.c0 = float(x.mean())
        self.s0 = float(x.std()) or 1.0
        self.mu0 = x.mean(0)
        self.calibrated = True

    def update(
        self,
        hidden: torch.Tensor,
        valid: torch.Tensor,
        counted: torch.Tensor,
        buckets: torch.Tensor,
        rows: torch.Tensor,
    ) -> None:
        """hidden [B, T, d]; valid, counted [B, T] bool; buckets [B, T] long; rows [B] the
        sentences' row numbers (kept with the massive activations)."""
        h = hidden.detach().float().cpu()
        x = h[counted]
        if not self.calibrated:
            if x.shape[0] == 0:
                return
            self._calibrate(x)
        self._massive(h, valid, rows)
        self._exceed(h, valid, buckets)
        if x.shape[0] == 0:
            return
        self.n_tokens += x.shape[0]
        z = (x - self.c0) / self.s0  # float32; the sums accumulate in float64
        z2 = z * z
        f64 = torch.float64
        self.sums += [
            float(z.numel()),
            float(z.sum(dtype=f64)),
            float(z2.sum(dtype=f64)),
            float((z2 * z).sum(dtype=f64)),
            float((z2 * z2).sum(dtype=f64)),
        ]
        lo, hi = torch.aminmax(x)
        self.x_min, self.x_max = min(self.x_min, float(lo)), max(self.x_max, float(hi))
        r = self.s.hist_range
        counts = torch.histc(z, self.s.hist_bins, -r, r).double()
        self.hist += counts
        outside = z.numel() - int(counts.sum())
        if outside:
            under = int((z < -r).sum())
            self.under += under
            self.over += outside - under
        xc = x - self.mu0
        self.gram += (xc.T @ xc).double()
        self.dim_sum += xc.sum(0, dtype=f64)
        norms = x.norm(dim=1).double()
        self.norm_sums += [float(norms.sum()), float((norms * norms).sum())]
        # about sample_prob x the values, drawn uniformly with replacement (stochastic rounding)
        expected = self.s.sample_prob * x.numel()
        n_pick = int(expected) + int(torch.rand((), generator=self.generator) < expected % 1)
        pick = torch.randint(x.numel(), (n_pick,), generator=self.generator)
        self.samples.append(x.reshape(-1)[pick].numpy().astype(np.float64))

    def _massive(self, h: torch.Tensor, valid: torch.Tensor, rows: torch.Tensor) -> None:
        """The top_n tokens by their largest |x| (one entry per token: its largest dimension)."""
        peak, dims = h.abs().max(dim=-1)
        peak = peak.masked_fill(~valid, -1.0).reshape(-1)
        values, index = torch.topk(peak, min(self.s.top_n, peak.numel()))
        t = h.shape[1]
        for v, i in zip(values.tolist(), index.tolist(), strict=True):
            if v < 0:
                break
            b, pos = divmod(i, t)
            dim = int(dims[b, pos])
            self.top.append((v, float(h[b, pos, dim]), int(rows[b]), pos, dim))
        self.top = sorted(self.top, key=lambda e: -e[0])[: self.s.top_n]

    def _exceed(self, h: torch.Tensor, valid: torch.Tensor, buckets: torch.Tensor) -> None:
        over = ((h - self.c0).abs() > self.s.outlier_k * self.s0) & valid[..., None]
        onehot = torch.nn.functional.one_hot(buckets, self.s.n_buckets).float()
        onehot = onehot * valid[..., None]
        flat = onehot.reshape(-1, self.s.n_buckets)
        self.exceed += (flat.T @ over.reshape(-1, self.d).float()).double()
        self.bucket_tokens += flat.sum(0).double()

    def finish(self) -> dict:
        """The layer's statistics (see the module doc); NaN where no token was counted."""
        n, s1, s2, s3, s4 = self.sums
        mom = moments_from_sums(n, s1, s2, s3, s4)
        if not self.calibrated or n == 0:
            return {"n_tokens": 0, "n_values": 0, **mom}
        mom["mean"] = self.c0 + self.s0 * mom["mean"]
        mom["sd"] = self.s0 * mom["sd"]
        sd = mom["sd"]
        nt = self.n_tokens
        mean_dev = self.dim_sum / nt
        cov = self.gram / nt - torch.outer(mean_dev, mean_dev)
        norm_mean = self.norm_sums[0] / nt
        r = self.s.hist_range
        u_edges = np.linspace(-r, r, self.s.hist_bins + 1)
        z_edges = (u_edges * self.s0 + self.c0 - mom["mean"]) / sd if sd > 0 else u_edges
        sample = np.concatenate(self.samples) if self.samples else np.zeros(0)
        return {
            "n_tokens": nt,
            "n_values": int(n),
            **mom,
            "min": self.x_min,
            "max": self.x_max,
            "max_abs": max(abs(self.x_min), abs(self.x_max)),
            "max_abs_z": max(self.x_max - mom["mean"], mom["mean"] - self.x_min) / sd
            if sd > 0
            else math.nan,
            "calib_centre": self.c0,
            "calib_sd": self.s0,
            "hist_counts": self.hist.numpy(),
            "hist_z_edges": z_edges,
            "hist_underflow": self.under,
            "hist_overflow": self.over,
            "exceed": self.exceed.numpy(),
            "bucket_tokens": self.bucket_tokens.numpy(),
            "dim_mean": (mean_dev + self.mu0.double()).numpy(),
            "covariance": cov.numpy(),
            "norm_mean": norm_mean,
            "norm_sd": math.sqrt(max(self.norm_sums[1] / nt - norm_mean**2, 0.0)),
            "top": list(self.top),
            "sample": sample,
        }
