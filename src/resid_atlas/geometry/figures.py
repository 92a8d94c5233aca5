"""Figures of the geometry stage: score heatmaps (all layers on one shared colour scale, and an
animated GIF across layers), distinctiveness by relative depth with the published reference,
the subject/attribute grouping view, and the mode-correlation heatmap."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
from PIL import Image

from resid_atlas.core.atomic import atomic_path
from resid_atlas.core.plotting import plt, save_figure
from resid_atlas.core.tables import read_table
from resid_atlas.geometry.published import reference_depth

CMAP = "RdBu_r"  # red: the subject attracts more, blue: the attribute does


def score_matrices(scores: pl.DataFrame, variant: str):
    """(layers, subjects, attributes, [n_layers, S, A] scores) in first-seen order."""
    part = scores.filter(pl.col("variant") == variant)
    subjects = list(dict.fromkeys(part["subject"].to_list()))
    attributes = list(dict.fromkeys(part["attribute"].to_list()))
    layers = sorted(part["layer"].unique().to_list())
    cube = np.full((len(layers), len(subjects), len(attributes)), np.nan)
    s_of = {s: i for i, s in enumerate(subjects)}
    a_of = {a: i for i, a in enumerate(attributes)}
    l_of = {v: i for i, v in enumerate(layers)}
    for layer, s, a, v in part.select("layer", "subject", "attribute", "score").iter_rows():
        cube[l_of[layer], s_of[s], a_of[a]] = v
    return layers, subjects, attributes, cube


def _limit(cube: np.ndarray) -> float:
    vmax = float(np.nanmax(np.abs(cube))) if np.isfinite(cube).any() else 1.0
    return vmax if vmax > 0 else 1.0


def _short(labels: list[str]) -> list[str]:
    return [lab.removeprefix("about ").removeprefix("in ") for lab in labels]


def heatmap_grid(scores: pl.DataFrame, variant: str, model: str, path: str | Path) -> None:
    """Every layer's subject x attribute score matrix, one panel each, one colour scale."""
    layers, subjects, attributes, cube = score_matrices(scores, variant)
    vmax = _limit(cube)
    ncols = min(6, len(layers))
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.3 * ncols + 2.5, 2.1 * nrows + 2.2), squeeze=False
    )
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= len(layers):
            ax.axis("off")
            continue
        image = ax.imshow(cube[k], cmap=CMAP, vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(f"layer {layers[k]}  mean|s| {np.nanmean(np.abs(cube[k])):.3f}", fontsize=7)
        col = k % ncols
        ax.set_yticks(range(len(subjects)))
        ax.set_yticklabels(_short(subjects) if col == 0 else [], fontsize=5)
        ax.set_xticks(range(len(attributes)))
        last_row = k + ncols >= len(layers)
        ax.set_xticklabels(_short(attributes) if last_row else [], fontsize=5, rotation=90)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attraction score (+ subject, - attribute)")
    fig.suptitle(f"{model}: attraction scores by layer ({variant}, shared colour scale)")
    save_figure(fig, path)


def heatmap_gif(
    scores: pl.DataFrame, variant: str, model: str, path: str | Path, frame_ms: int
) -> None:
    """Animated GIF of the annotated heatmap across layers (shared colour scale). One figure is
    drawn once and updated per layer (image data, cell labels, title)."""
    layers, subjects, attributes, cube = score_matrices(scores, variant)
    vmax = _limit(cube)
    fig, ax = plt.subplots(figsize=(8.5, 6.2))
    image = ax.imshow(cube[0], cmap=CMAP, vmin=-vmax, vmax=vmax, aspect="auto")
    labels = {
        (i, j): ax.text(j, i, "", ha="center", va="center", fontsize=6)
        for i in range(len(subjects))
        for j in range(len(attributes))
    }
    ax.set_yticks(range(len(subjects)), subjects, fontsize=7)
    ax.set_xticks(range(len(attributes)), attributes, fontsize=7, rotation=45, ha="right")
    fig.colorbar(image, ax=ax, label="attraction score (+ subject, - attribute)")
    ax.set_title(f"{model} ({variant}), layer 0: mean |score| 0.0000")  # room for the title
    fig.tight_layout()
    frames = []
    for k, layer in enumerate(layers):
        image.set_data(cube[k])
        for (i, j), text in labels.items():
            v = cube[k, i, j]
            text.set_text(f"{v:.2f}" if np.isfinite(v) else "")
        ax.set_title(
            f"{model} ({variant}), layer {layer}: mean |score| {np.nanmean(np.abs(cube[k])):.4f}"
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        buf.seek(0)
        frames.append(Image.open(buf).convert("RGB"))
    plt.close(fig)
    with atomic_path(path) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
        )


def depth_figure(summary: pl.DataFrame, model: str, path: str | Path) -> None:
    """Mean |score| by relative depth per variant, with the published GPT2-small PCA series;
    right panel: each curve divided by its layer-0 value."""
    fig, (ax, axn) = plt.subplots(1, 2, figsize=(11, 4.2))
    ref = np.array(reference_depth())
    for variant, part in summary.sort("layer").group_by("variant", maintain_order=True):
        part = part.sort("layer")
        x, y = part["rel_depth"].to_numpy(), part["mean_abs_score"].to_numpy()
        ax.plot(x, y, marker="o", ms=3, label=f"{model} {variant[0]}")
        axn.plot(x, y / y[0] if y[0] > 0 else y, marker="o", ms=3, label=f"{model} {variant[0]}")
    for a, y in ((ax, ref[:, 1]), (axn, ref[:, 1] / ref[0, 1])):
        a.plot(ref[:, 0], y, "k--", marker="s", ms=3, label="GPT2-small PCA (published)")
        a.set_xlabel("relative depth (layer / (n_layers - 1))")
        a.grid(alpha=0.3)
    ax.set_ylabel("mean |attraction score|")
    axn.set_ylabel("mean |score| / layer-0 value")
    ax.set_yscale("log")
    axn.set_yscale("log")
    ax.legend(fontsize=8)
    fig.suptitle(f"{model}: subject/attribute distinctiveness through the layers")
    save_figure(fig, path)


def grouping_figure(grouping: pl.DataFrame, model: str, path: str | Path) -> None:
    """Silhouette and within-minus-between cosine per layer, subjects vs attributes as classes."""
    variants = list(dict.fromkeys(grouping.sort("variant")["variant"].to_list()))
    fig, axes = plt.subplots(2, len(variants), figsize=(4.2 * len(variants), 6), squeeze=False)
    for j, variant in enumerate(variants):
        part = grouping.filter(pl.col("variant") == variant).sort("layer")
        for kind, style in (("subject", "-o"), ("attribute", "-s")):
            g = part.filter(pl.col("grouping") == kind)
            axes[0, j].plot(g["layer"], g["silhouette"], style, ms=3, label=f"by {kind}")
            axes[1, j].plot(g["layer"], g["gap"], style, ms=3, label=f"by {kind}")
        axes[0, j].set_title(variant)
        axes[0, j].set_ylabel("silhouette")
        axes[1, j].set_ylabel("within - between cosine")
        axes[1, j].set_xlabel("layer")
        for ax in axes[:, j]:
            ax.axhline(0, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{model}: do sentences group by subject or by attribute?")
    save_figure(fig, path)


def modes_figure(table: pl.DataFrame, model: str, path: str | Path, alpha: float = 0.05) -> None:
    """Correlation r per (mode characteristic, layer): one panel per variant and target."""
    variants = list(dict.fromkeys(table.sort("variant")["variant"].to_list()))
    targets = ("score", "abs_score")
    layers = sorted(table["layer"].unique().to_list())
    chars = list(dict.fromkeys(table["characteristic"].to_list()))
    fig, axes = plt.subplots(
        len(targets),
        len(variants),
        figsize=(0.32 * len(layers) * len(variants) + 3.5, 2.9 * len(targets) + 0.8),
        squeeze=False,
    )
    image = None
    for i, target in enumerate(targets):
        for j, variant in enumerate(variants):
            part = table.filter((pl.col("variant") == variant) & (pl.col("target") == target))
            r = np.full((len(chars), len(layers)), np.nan)
            q = np.full_like(r, np.nan)
            c_of = {c: k for k, c in enumerate(chars)}
            l_of = {v: k for k, v in enumerate(layers)}
            for c, layer, rv, qv in part.select(
                "characteristic", "layer", "r", "q_value"
            ).iter_rows():
                r[c_of[c], l_of[layer]] = rv
                q[c_of[c], l_of[layer]] = qv
            ax = axes[i, j]
            cmap = matplotlib.colormaps["PuOr_r"].with_extremes(bad="0.85")  # grey: no test
            image = ax.imshow(np.ma.masked_invalid(r), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
            yy, xx = np.nonzero(q < alpha)
            ax.scatter(xx, yy, s=6, c="k", marker="o")
            ax.set_yticks(range(len(chars)), chars if j == 0 else [], fontsize=7)
            ax.set_xticks(range(len(layers)), layers, fontsize=6)
            ax.set_title(
                f"{variant}: r with {'|score|' if target == 'abs_score' else 'score'}", fontsize=8
            )
            if i == len(targets) - 1:
                ax.set_xlabel("layer")
    fig.colorbar(
        image, ax=axes, shrink=0.7, label=f"correlation across pairs (dot: q < {alpha}; grey: none)"
    )
    fig.suptitle(f"{model}: mode characteristics vs attraction scores")
    save_figure(fig, path)


def heatmaps(scores: list[str], variant: str, settings: dict, grid: str, gif: str) -> None:
    """Step `geometry heatmaps`: the heatmap grid and GIF of one score variant across layers."""
    table = pl.concat([read_table(p) for p in scores])
    model = table["model"][0]
    heatmap_grid(table, variant, model, grid)
    heatmap_gif(table, variant, model, gif, settings["gif_frame_ms"])
