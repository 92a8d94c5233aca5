"""The facts figures, one function per PNG, each from the tables alone."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from resid_atlas.core.plotting import plt, save_figure

ROLE_COLOURS = {
    "attn_q": "tab:blue",
    "attn_k": "tab:cyan",
    "attn_v": "tab:purple",
    "attn_out": "tab:red",
    "mlp_in": "tab:green",
    "mlp_gate": "tab:olive",
    "mlp_out": "tab:orange",
    "embedding": "black",
    "unembedding": "grey",
    "position_embedding": "brown",
}


def _pick_layers(layers: list[int]) -> list[int]:
    blocks = [layer for layer in layers if layer >= 0]
    if not blocks:
        return layers[:1]
    picks = [-1, blocks[0], blocks[len(blocks) // 2], blocks[-1]]
    return [layer for i, layer in enumerate(picks) if layer in layers and layer not in picks[:i]]


def activations_figure(model: str, t: dict, path) -> None:
    acts = t["activations"].filter(pl.col("status") == "ok").sort("layer")
    hist = t["histograms"]
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    z = np.linspace(-12, 12, 400)
    for layer in _pick_layers(acts["layer"].to_list()):
        h = hist.filter(pl.col("layer") == layer)
        ax[0, 0].plot(h["z"], h["density"], ".", ms=2, label=f"layer {layer}")
    ax[0, 0].plot(z, stats.norm.pdf(z), "k--", lw=1, label="N(0,1)")
    ax[0, 0].plot(z, stats.logistic.pdf(z, scale=np.sqrt(3) / np.pi), "k:", lw=1, label="logistic")
    ax[0, 0].set(yscale="log", ylim=(1e-7, 2), xlabel="z = (x - mean)/sd", ylabel="density")
    ax[0, 0].set_title("log-density of token activations")
    ax[0, 0].legend(fontsize=7)
    ax[0, 1].plot(acts["layer"], acts["excess_kurtosis"], "o-", label="excess kurtosis")
    ax[0, 1].plot(acts["layer"], acts["max_abs_z"], "s-", label="max |x-mean|/sd")
    ax[0, 1].set(yscale="symlog", xlabel="layer (-1 = embeddings)", title="tails by layer")
    ax[0, 1].legend(fontsize=8)
    fits = t["fits"].filter(pl.col("source") == "activation")
    if fits.height:
        aic = fits.pivot(on="family", index="layer", values="aic").sort("layer")
        for family in ("logistic", "laplace", "t"):
            if family in aic.columns:
                ax[1, 0].plot(aic["layer"], aic[family] - aic["normal"], "o-", label=family)
    ax[1, 0].axhline(0, color="k", lw=0.5)
    ax[1, 0].set(
        yscale="symlog", xlabel="layer", ylabel="AIC - AIC(normal)", title="fits (lower is better)"
    )
    ax[1, 0].legend(fontsize=8)
    ax[1, 1].plot(acts["layer"], acts["tail_exponent"], "o-")
    ax[1, 1].axhline(2, color="k", ls="--", lw=0.8)
    ax[1, 1].axhline(1, color="k", ls=":", lw=0.8)
    ax[1, 1].set(
        xlabel="layer", ylabel="c in log p = a - b|z|^c", title="tail exponent (2 Gauss, 1 exp.)"
    )
    fig.suptitle(f"{model}: activations")
    save_figure(fig, path)


def outliers_figure(model: str, t: dict, path) -> None:
    out = t["outlier_dims"]
    acts = t["activations"].filter(pl.col("status") == "ok").sort("layer")
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    top = (
        out.group_by("dim")
        .agg(pl.col("share").max())
        .sort("share", descending=True)
        .head(12)["dim"]
        .to_list()
    )
    if top:
        grid = out.filter(pl.col("dim").is_in(top)).pivot(on="dim", index="layer", values="share")
        grid = grid.sort("layer")
        cols = [str(d) for d in top]
        im = ax[0].imshow(grid.select(cols).to_numpy().T, aspect="auto", cmap="viridis")
        ax[0].set_yticks(range(len(cols)), cols)
        ax[0].set_xticks(range(grid.height), grid["layer"].to_list(), fontsize=6)
        fig.colorbar(im, ax=ax[0], label="share of tokens above k sd")
    ax[0].set(xlabel="layer", ylabel="dimension", title="most outlying dimensions")
    jac = t["outlier_jaccard"].filter(pl.col("axis") == "layer")
    layers = acts["layer"].to_list()
    if jac.height and layers:
        index = {layer: i for i, layer in enumerate(layers)}
        m = np.full((len(layers), len(layers)), np.nan)
        for a, b, j in jac.select("a", "b", "jaccard").iter_rows():
            if int(a) in index and int(b) in index:
                m[index[int(a)], index[int(b)]] = m[index[int(b)], index[int(a)]] = j
        np.fill_diagonal(m, 1.0)
        im = ax[1].imshow(m, vmin=0, vmax=1, cmap="magma")
        fig.colorbar(im, ax=ax[1], label="Jaccard")
    ax[1].set(title="outlier sets across layers", xlabel="layer index", ylabel="layer index")
    massive = t["massive"].filter(pl.col("rank") == 0).sort("layer")
    ax[2].plot(massive["layer"], massive["abs_value"], "o-", label="max |x| (all positions)")
    ax[2].plot(acts["layer"], acts["sd"], "s-", label="sd (positions counted)")
    ax[2].set(yscale="log", xlabel="layer", title="massive activations")
    ax[2].legend(fontsize=8)
    fig.suptitle(f"{model}: outlier dimensions and massive activations")
    save_figure(fig, path)


def weights_figure(model: str, t: dict, path) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for i, (source, frame_) in enumerate(
        (("weights", t["weights"]), ("gradients", t["gradients"]))
    ):
        mats = frame_.filter((pl.col("kind") != "bias") & (pl.col("status") == "ok"))
        for role, part in mats.group_by("role", maintain_order=True):
            role = role[0]
            ax[i].plot(
                part["layer"],
                part["excess_kurtosis"],
                "o",
                ms=3,
                color=ROLE_COLOURS.get(role, "magenta"),
                label=role,
            )
        ax[i].set(yscale="symlog", xlabel="layer", ylabel="excess kurtosis", title=source)
    ax[0].legend(fontsize=6, ncol=2)
    norms = t["norms"].filter(pl.col("role").is_in(["reading", "writing"]).not_())
    for role, part in norms.group_by("role", maintain_order=True):
        part = part.sort("layer")
        ax[2].plot(
            part["layer"],
            part["frobenius"],
            "-o" if part["group"][0] == "writing" else "--.",
            ms=3,
            color=ROLE_COLOURS.get(role[0], "magenta"),
            label=role[0],
        )
    ax[2].set(
        yscale="log", xlabel="layer", ylabel="Frobenius norm", title="writing (solid) vs reading"
    )
    ax[2].legend(fontsize=6, ncol=2)
    fig.suptitle(f"{model}: weights, gradients and norms")
    save_figure(fig, path)


def spectra_figure(model: str, t: dict, path) -> None:
    spec = t["spectra"]
    laws = t["powerlaw"]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    sv = spec.filter(pl.col("source") == "weight-sv")
    for _name, part in sv.group_by("name", maintain_order=True):
        role = part["role"][0]
        ax[0].plot(part["rank"], part["value"], lw=0.6, color=ROLE_COLOURS.get(role, "magenta"))
    ax[0].set(xscale="log", yscale="log", xlabel="rank", ylabel="singular value", title="weights")
    cov = spec.filter(pl.col("source") != "weight-sv")
    layers = sorted(set(cov["layer"].to_list()))
    cmap = plt.get_cmap("viridis")
    for i, layer in enumerate(layers):
        part = cov.filter(pl.col("layer") == layer)
        colour = "red" if layer < 0 else cmap(i / max(len(layers) - 1, 1))
        ax[1].plot(part["rank"], part["value"], lw=0.8 if layer >= 0 else 1.5, color=colour)
    ax[1].set(
        xscale="log",
        yscale="log",
        xlabel="rank",
        ylabel="eigenvalue",
        title="activation covariance (red: embeddings)",
    )
    for source, marker in (("weight-sv", "."), ("activation-cov", "o"), ("embedding-cov", "*")):
        part = laws.filter(pl.col("source") == source)
        ax[2].plot(part["layer"], part["alpha"], marker, label=source)
    ax[2].set(xlabel="layer", ylabel="power-law exponent alpha", title="fitted exponents")
    ax[2].legend(fontsize=8)
    fig.suptitle(f"{model}: spectra")
    save_figure(fig, path)


def norms_figure(model: str, t: dict, path) -> None:
    acts = t["activations"].filter((pl.col("status") == "ok") & (pl.col("layer") >= 0))
    acts = acts.sort("layer")
    growth = t["growth"].filter(pl.col("quantity") == "residual_norm")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.errorbar(acts["layer"], acts["resid_norm_mean"], yerr=acts["resid_norm_sd"], fmt="o-")
    if growth.height and np.isfinite(growth["rate"][0]) and acts.height:
        rate = growth["rate"][0]
        layer = acts["layer"].to_numpy()
        fit = np.exp(np.polyfit(layer, np.log(acts["resid_norm_mean"].to_numpy()), 1))
        ax.plot(layer, fit[1] * fit[0] ** layer, "k--", label=f"{rate:.3f}x per layer")
        ax.legend()
    ax.set(yscale="log", xlabel="block", ylabel="mean residual L2 norm (position 0 excluded)")
    ax.set_title(f"{model}: residual norm by layer")
    save_figure(fig, path)


FIGURES = {
    "activations": activations_figure,
    "outliers": outliers_figure,
    "weights": weights_figure,
    "spectra": spectra_figure,
    "norms": norms_figure,
}
