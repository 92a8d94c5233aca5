"""Cross-model figures: relative depth on the x axis and one line per model where layers apply."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import polars as pl

from resid_atlas.core.plotting import save_figure


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: not run", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _lines(ax, df: pl.DataFrame, y: str, label: str) -> None:
    for (dataset, model), part in df.sort("rel_depth").group_by(
        ["dataset", "model"], maintain_order=True
    ):
        ax.plot(part["rel_depth"], part[y], marker="o", ms=3, label=f"{model} ({dataset})")
    ax.set_xlabel("relative depth (layer + 1) / n_layers")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def depth_figure(tails: pl.DataFrame, attraction: pl.DataFrame, path: str | Path) -> None:
    """Tail exponent, minor-mode counts and mean |attraction| against relative depth."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if tails.is_empty() or "tail_a_median" not in tails.columns:
        _empty(axes[0], "distribution fits")
        _empty(axes[1], "mode catalogs")
    else:
        _lines(axes[0], tails, "tail_a_median", "tail exponent a (2 Gaussian, 1 exponential)")
        axes[0].axhline(2, color="grey", ls=":")
        axes[0].axhline(1, color="grey", ls=":")
        _lines(axes[1], tails, "left_modes", "minor modes left of the main mode (mean)")
        axes[0].legend(fontsize=7)
    if attraction.is_empty() or "mean_abs_score" not in attraction.columns:
        _empty(axes[2], "geometry")
    else:
        pca = attraction.filter(pl.col("variant") == "pca")
        _lines(
            axes[2],
            pca if not pca.is_empty() else attraction,
            "mean_abs_score",
            "mean |attraction score| (PCA 90%)",
        )
    fig.suptitle("Across models, by relative depth")
    save_figure(fig, path)


def family_shares_figure(shares: pl.DataFrame, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, criterion in zip(axes, ("sse", "aic"), strict=True):
        part = (
            shares.filter(pl.col("criterion") == criterion)
            if "criterion" in shares.columns
            else shares.clear()
        )
        if part.is_empty():
            _empty(ax, f"best family ({criterion})")
            continue
        wide = part.pivot(on="family", index="model", values="share").fill_null(0.0)
        bottom = [0.0] * wide.height
        for family in sorted(c for c in wide.columns if c != "model"):
            ax.bar(wide["model"], wide[family], bottom=bottom, label=family)
            bottom = [b + v for b, v in zip(bottom, wide[family], strict=True)]
        ax.set_title(f"best family by {criterion.upper()}")
        ax.set_ylabel("share of (layer, pair) samples")
        ax.tick_params(axis="x", rotation=30)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="center right")
    save_figure(fig, path)


def classifier_figure(f1: pl.DataFrame, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    for ax, level in zip(axes, ("subject", "attribute"), strict=True):
        part = (
            f1.filter((pl.col("level") == level) & (pl.col("protocol") == "seed"))
            if "level" in f1.columns
            else f1.clear()
        )
        if part.is_empty():
            _empty(ax, f"classifier ({level})")
            continue
        variants = sorted(part["variant"].unique())
        models = sorted(part["model"].unique())
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            rows = {
                r["variant"]: r["macro_f1"]
                for r in part.filter(pl.col("model") == model).iter_rows(named=True)
            }
            ax.bar(
                [j + i * width for j in range(len(variants))],
                [rows.get(v, 0.0) for v in variants],
                width,
                label=model,
            )
        ax.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(variants))], variants, rotation=30, fontsize=7
        )
        ax.set_title(f"macro F1, {level}")
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


def plateau_figure(thresholds: pl.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(12, 4.5))
    if thresholds.is_empty() or "crossing_median" not in thresholds.columns:
        _empty(ax, "plateaus")
    else:
        part = thresholds.filter(pl.col("mode") == "straight").sort("condition")
        conditions = sorted(part["condition"].unique())
        models = sorted(part["model"].unique())
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            rows = {
                r["condition"]: r
                for r in part.filter(pl.col("model") == model).iter_rows(named=True)
            }
            xs = [j + i * width for j in range(len(conditions))]
            med = [rows[c]["crossing_median"] if c in rows else float("nan") for c in conditions]
            lo = [
                m - rows[c]["crossing_ci_low"] if c in rows else 0
                for c, m in zip(conditions, med, strict=True)
            ]
            hi = [
                rows[c]["crossing_ci_high"] - m if c in rows else 0
                for c, m in zip(conditions, med, strict=True)
            ]
            ax.errorbar(xs, med, yerr=[lo, hi], fmt="o", capsize=3, label=model)
        ax.set_xticks(range(len(conditions)), conditions, rotation=30, fontsize=7)
        ax.set_ylabel("perturbation size where KL first > threshold (median, 95% CI)")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def sharpness_figure(sharp: pl.DataFrame, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    if sharp.is_empty() or "median" not in sharp.columns:
        _empty(axes[0], "stable regions")
        _empty(axes[1], "stable regions")
        save_figure(fig, path)
        return
    for (pairing, route), part in sharp.sort("n_parameters").group_by(
        ["pairing", "path"], maintain_order=True
    ):
        axes[0].plot(part["n_parameters"], part["median"], marker="o", label=f"{pairing}, {route}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("parameters")
    axes[0].set_ylabel("median sharpness (1 = straight line)")
    axes[0].legend(fontsize=7)
    trained = sharp.filter(pl.col("training_step").is_not_null())
    if trained["training_step"].n_unique() > 1:
        for (pairing, route), part in trained.sort("training_step").group_by(
            ["pairing", "path"], maintain_order=True
        ):
            axes[1].plot(
                part["training_step"] + 1, part["median"], marker="o", label=f"{pairing}, {route}"
            )
        axes[1].set_xscale("log")
        axes[1].set_xlabel("training step + 1")
        axes[1].set_ylabel("median sharpness")
    else:
        _empty(axes[1], "sharpness by checkpoint (needs several checkpoints)")
    save_figure(fig, path)
