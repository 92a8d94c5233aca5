"""Figures of the stable-regions stage: curves per model, slice images, sharpness across models."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from resid_atlas.core.plotting import save_figure

ANCHOR_COLOURS = ("red", "lime", "blue")


def plot_curves(curves: pl.DataFrame, pairs: pl.DataFrame, path: str | Path, shown: int = 40):
    """One panel per (pairing, path): `shown` normalised curves, their median, a straight line."""
    groups = pairs.select("pairing", "path").unique(maintain_order=True).rows()
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, (pairing, kind) in zip(axes[0], groups, strict=True):
        sub = curves.filter((pl.col("pairing") == pairing) & (pl.col("path") == kind))
        steps = int(sub["step"].max()) + 1
        wide = sub.sort("pair", "step")["distance_norm"].to_numpy().reshape(-1, steps)
        alpha = sub["alpha"][:steps].to_numpy()
        for row in wide[:shown]:
            ax.plot(alpha, row, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(alpha, np.nanmedian(wide, axis=0), color="black", lw=2, label="median")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="straight line")
        sharp = pairs.filter(
            (pl.col("pairing") == pairing) & (pl.col("path") == kind) & (pl.col("status") == "ok")
        )["sharpness"]
        ax.set_title(f"{pairing}, {kind}: median sharpness {sharp.median():.2f}", fontsize=9)
        ax.set_xlabel("interpolation a")
        ax.set_ylabel("d(a) / d(1)")
        ax.legend(fontsize=7, loc="upper left")
    model = curves["model"][0] if curves.height else ""
    fig.suptitle(f"{model}: output change along the interpolation ({steps} steps)", fontsize=10)
    save_figure(fig, path)


def plot_slices(slices: list[dict], anchors: pl.DataFrame, model: str, path: str | Path):
    n = max(len(slices), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.4), squeeze=False)
    for ax, (index, result) in zip(axes[0], enumerate(slices), strict=False):
        u, v = result["u"], result["v"]
        ax.imshow(
            result["rgb"],
            origin="lower",
            extent=(u[0], u[-1], v[0], v[-1]),
            interpolation="nearest",
        )
        for k, (au, av) in enumerate(result["anchor_uv"]):
            ax.scatter([au], [av], s=90, facecolors="none", edgecolors="white", linewidths=2.5)
            ax.scatter([au], [av], s=60, facecolors="none", edgecolors=ANCHOR_COLOURS[k], lw=1.5)
        rows = anchors.filter(pl.col("slice") == index).sort("anchor")
        ax.set_title(
            "\n".join(f"{c[0]}: {t[:38]!r}" for c, t in zip("RGB", rows["text"], strict=False)),
            fontsize=7,
        )
        ax.set_xlabel("u (write-site units)")
        ax.set_ylabel("v")
    if not slices:
        axes[0][0].set_axis_off()
    fig.suptitle(
        f"{model}: 2-D slices, colour = output similarity to each anchor", fontsize=10, y=1.08
    )
    save_figure(fig, path)


def plot_summary(summary: pl.DataFrame, path: str | Path):
    """Median sharpness with quartile bars: per model, and against size and training step."""
    base = summary.filter(pl.col("path") == summary["path"][0]).sort("n_parameters")
    pairings = base["pairing"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for j, pairing in enumerate(pairings):
        sub = base.filter(pl.col("pairing") == pairing)
        x = np.arange(sub.height) + 0.15 * j
        med, q25, q75 = (sub[c].to_numpy() for c in ("median", "q25", "q75"))
        axes[0].errorbar(x, med, yerr=[med - q25, q75 - med], fmt="o", capsize=3, label=pairing)
        axes[0].set_xticks(np.arange(sub.height), sub["model"].to_list(), rotation=30, ha="right")
        trained = sub.filter(pl.col("trained"))
        for ax, col in ((axes[1], "n_parameters"), (axes[2], "training_step")):
            pts = trained.filter(pl.col(col).is_not_null() & (pl.col(col) > 0))
            if pts.height:
                m = pts["median"].to_numpy()
                ax.errorbar(
                    pts[col].to_numpy(),
                    m,
                    yerr=[m - pts["q25"].to_numpy(), pts["q75"].to_numpy() - m],
                    fmt="o",
                    capsize=3,
                    label=pairing,
                )
                ax.set_xscale("log")
    steps = int(base["steps"][0]) if base.height else 0
    axes[0].set_ylabel(f"sharpness ({steps} steps), median and quartiles")
    axes[0].axhline(1.0, ls="--", color="grey", lw=1)
    axes[1].set_xlabel("parameters (trained models)")
    axes[2].set_xlabel("training step (checkpoints)")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"boundary sharpness by model ({base['path'][0] if base.height else ''} path)")
    save_figure(fig, path)
