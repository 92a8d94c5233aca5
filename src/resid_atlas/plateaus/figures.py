"""Figures of one model: KL (or read-out L2) against perturbation size per condition, threshold
histograms, and the interpolation triangles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.plotting import plt, save_figure
from resid_atlas.plateaus.crossings import censored_sizes

# The two experiments of the study: vary the base (random direction), vary the direction (real
# base).
PANELS = {
    "plateaus: base varies, random direction": ("base", "random", "direction"),
    "sensitive directions: real base": ("direction", "real", "base"),
}
COLOURS = {
    "real": "tab:orange",
    "cov-random": "tab:blue",
    "isotropic": "tab:purple",
    "random": "tab:blue",
    "real-other": "tab:orange",
    "cov-random-mixture": "tab:green",
}
LABELS = {"kl": "KL(P_base || P) [nats]", "l2": "read-out L2 distance"}


def _x(mode: str, sizes: np.ndarray) -> np.ndarray:
    return np.degrees(sizes) if mode == "sphere" else sizes


def _xlabel(mode: str) -> str:
    return "angle [deg]" if mode == "sphere" else "a (perturbation / ||base||)"


def _panel_rows(frame: pl.DataFrame, vary: str, fixed_value: str, fixed: str, mode: str):
    sub = frame.filter((pl.col("mode") == mode) & (pl.col(fixed) == fixed_value))
    return sub.partition_by(vary, as_dict=True, maintain_order=True)


def curves_figure(
    curves: pl.DataFrame, metric: str, threshold: float | None, model: str, path: str | Path
) -> None:
    modes = [m for m in ("straight", "sphere") if m in set(curves["mode"])]
    fig, axes = plt.subplots(
        len(PANELS), max(len(modes), 1), figsize=(5.5 * max(len(modes), 1), 7), squeeze=False
    )
    for r, (title, (vary, fixed_value, fixed)) in enumerate(PANELS.items()):
        for col, mode in enumerate(modes):
            ax = axes[r, col]
            for (key,), rows in _panel_rows(curves, vary, fixed_value, fixed, mode).items():
                n_steps = rows["step"].n_unique()
                values = rows.sort("curve", "step")[metric].to_numpy().reshape(-1, n_steps)
                x = _x(mode, rows.sort("curve", "step")["size"].to_numpy()[:n_steps])
                q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75], axis=0)
                colour = COLOURS.get(key)
                ax.plot(x, med, color=colour, label=f"{key} (n={values.shape[0]})")
                ax.fill_between(x, q1, q3, color=colour, alpha=0.25, linewidth=0)
            if threshold is not None and metric == "kl":
                ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
            ax.set_title(f"{title} — {mode}", fontsize=9)
            ax.set_xlabel(_xlabel(mode))
            ax.set_ylabel(LABELS[metric])
            ax.legend(fontsize=7)
    fig.suptitle(f"{model}: median and quartiles over curves", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def thresholds_figure(
    thresholds: pl.DataFrame, threshold: float, model: str, path: str | Path
) -> None:
    modes = [m for m in ("straight", "sphere") if m in set(thresholds["mode"])]
    fig, axes = plt.subplots(
        len(PANELS), max(len(modes), 1), figsize=(5.5 * max(len(modes), 1), 7), squeeze=False
    )
    for r, (title, (vary, fixed_value, fixed)) in enumerate(PANELS.items()):
        for col, mode in enumerate(modes):
            ax = axes[r, col]
            groups = _panel_rows(thresholds, vary, fixed_value, fixed, mode)
            if not groups:
                ax.set_axis_off()
                continue
            end = max(float(rows["beyond_size"][0]) for rows in groups.values())
            bins = np.linspace(0, _x(mode, np.array(end)), 26)
            for (key,), rows in groups.items():
                x = _x(mode, censored_sizes(rows))
                crossed = int(rows["crossed"].sum())
                ax.hist(
                    x, bins=bins, alpha=0.5, color=COLOURS.get(key),
                    label=f"{key} ({crossed}/{rows.height} crossed)",
                )  # fmt: skip
            ax.set_title(f"{title} — {mode}", fontsize=9)
            ax.set_xlabel(f"{_xlabel(mode)} where KL first > {threshold}")
            ax.set_ylabel("curves")
            ax.legend(fontsize=7)
    fig.suptitle(f"{model}: threshold crossings (the last bin: never crossed)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def triangle_figure(crossings: pl.DataFrame, threshold: float, model: str, path: str | Path):
    kinds = [k for k in ("random", "real-other") if k in set(crossings["triangle"])]
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(5 * max(len(kinds), 1), 4.3))
    axes = np.atleast_1d(axes)
    corners = np.array([[0.5, np.sqrt(3) / 2], [0.0, 0.0], [1.0, 0.0]])
    points = []
    for kind in kinds:
        rows = crossings.filter(pl.col("triangle") == kind)
        med = (
            rows.with_columns(value=pl.Series(censored_sizes(rows)))
            .group_by("point", "w_top", "w_left", "w_right")
            .agg(pl.col("value").median())
            .sort("point")
        )
        points.append((kind, med))
    values = np.concatenate([m["value"].to_numpy() for _, m in points]) if points else [0.0]
    unit = crossings["mode"][0] if crossings.height else "sphere"
    vmin, vmax = np.min(_x(unit, np.asarray(values))), np.max(_x(unit, np.asarray(values)))
    for ax, (kind, med) in zip(axes, points, strict=False):
        w = med.select("w_top", "w_left", "w_right").to_numpy()
        xy = w @ corners
        sc = ax.scatter(
            xy[:, 0], xy[:, 1], c=_x(unit, med["value"].to_numpy()), s=260, cmap="viridis",
            vmin=vmin, vmax=vmax,
        )  # fmt: skip
        top = "real-other" if kind == "real-other" else "random"
        for (cx, cy), label in zip(corners, (top, "random", "random"), strict=True):
            ax.annotate(label, (cx, cy), textcoords="offset points", xytext=(0, 12), ha="center")
        ax.set_title(f"{kind} triangle", fontsize=9)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.15, 1.05)
        ax.set_axis_off()
        fig.colorbar(sc, ax=ax, label=f"median {_xlabel(unit)} where KL > {threshold}")
    fig.suptitle(f"{model}: sensitivity between interpolated directions", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
