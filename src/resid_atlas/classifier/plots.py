"""Figures: confusion matrices (pair, subject, attribute), F1 per subject and attribute, and macro
F1 by single layer."""

from __future__ import annotations

import numpy as np
import polars as pl

from resid_atlas.classifier.metrics import classes, confusion
from resid_atlas.core.plotting import plt, save_figure


def plot_confusion(pred: pl.DataFrame, pairs: list[str], title: str, path) -> None:
    fig, axes = plt.subplots(
        1, 3, figsize=(17, 6), gridspec_kw={"width_ratios": [2.2, 1, 1]}, layout="constrained"
    )
    for ax, level in zip(axes, ("pair", "subject", "attribute"), strict=True):
        matrix = confusion(pred, pairs, level).astype(np.float64)
        rows = matrix.sum(1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
        im = ax.imshow(share, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        names = classes(pairs, level)
        ax.set_title(f"{level} (row share)")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if len(names) <= 30:
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.7, label="share of the true class's test sentences")
    fig.suptitle(title)
    save_figure(fig, path)


def plot_f1(metrics: pl.DataFrame, title: str, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for ax, level in zip(axes, ("subject", "attribute"), strict=True):
        part = metrics.filter((pl.col("level") == level) & (pl.col("class") != "macro")).sort(
            "f1", descending=True, nulls_last=True
        )
        macro = metrics.filter((pl.col("level") == level) & (pl.col("class") == "macro"))["f1"]
        ax.barh(part["class"].to_list()[::-1], part["f1"].fill_null(0).to_list()[::-1])
        ax.axvline(float(macro[0]), color="black", ls="--", lw=1, label="macro F1")
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1")
        ax.set_title(level)
        ax.legend(loc="lower right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_layer_sweep(sweep: pl.DataFrame, title: str, path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=True, layout="constrained")
    for ax, level in zip(axes, ("pair", "subject", "attribute"), strict=True):
        for rule in sweep["rule"].unique(maintain_order=True):
            part = sweep.filter(pl.col("rule") == rule).sort("layer")
            ax.plot(part["layer"], part[f"macro_f1_{level}"], marker=".", label=rule)
        ax.set_xlabel("layer (scored alone)")
        ax.set_title(f"macro F1, {level}")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
