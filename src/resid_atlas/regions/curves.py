"""Interpolation curves: for each prompt pair (A, B), the activations of A and B at the write site
(the residual after block `write_layer`, last position) are interpolated and written into prompt
A's context; the read site and the next-token logits are read for every point. The read site
(`read_site`) is `hidden_states`, as the authors read it (`hidden_states[read_layer + 1]` of
Hugging Face: the residual after block `read_layer`, and after the final norm when that block is
the last), or `resid_post`, the raw residual after the block (TransformerLens'
`hook_resid_post`). The prefix of A runs once (`PrefixCache`), so each interpolation point costs
one token, and all points of all paths of a pair go in one batch.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.readouts import kl_from_base, l2_distance
from resid_atlas.models.residual import PrefixCache, ResidualStream
from resid_atlas.regions.paths import alphas, is_monotone, normalise, path, sharpness

log = logging.getLogger(__name__)

READ_SITES = ("hidden_states", "resid_post")

CURVE_SCHEMA = {
    "model": pl.String,
    "pairing": pl.String,
    "pair": pl.Int32,
    "path": pl.String,
    "step": pl.Int32,
    "alpha": pl.Float64,
    "distance": pl.Float64,  # ||h(a) - h(0)|| at the read site
    "distance_norm": pl.Float64,  # distance / distance at a = 1
    "kl": pl.Float64,  # KL(P(0) || P(a)) of the next token, nats
}
SHARPNESS_SCHEMA = {
    "model": pl.String,
    "pairing": pl.String,
    "pair": pl.Int32,
    "path": pl.String,
    "steps": pl.Int32,
    "sharpness": pl.Float64,  # max finite-difference slope of distance_norm x (steps - 1)
    "sharpness_kl": pl.Float64,  # the same on KL normalised by its end value
    "end_distance": pl.Float64,
    "end_kl": pl.Float64,
    "monotone": pl.Boolean,
    "status": pl.String,  # ok | degenerate (A and B give the same read-site output)
    "top_a": pl.Int32,  # top next token of A in its own context
    "top_b": pl.Int32,  # top next token of B in its own context
    "same_top": pl.Boolean,
}


def read_transform(stream: ResidualStream, read: int, read_site: str):
    """[B, d] block output -> [B, d] float32 read-site value: the final norm applied when the
    read site is `hidden_states` and `read` is the last block (as Hugging Face's last hidden
    state), else the block output itself."""
    if read_site not in READ_SITES:
        raise AtlasError(f"regions.read_site: unknown {read_site!r}; choose from {READ_SITES}.")
    if read_site == "resid_post" or read != stream.n_layers - 1:
        return lambda h: h.float()
    dtype = next(stream.model.parameters()).dtype  # the dtype Hugging Face norms in
    return lambda h: stream.final_norm(h.to(dtype)).float()


@torch.no_grad()
def clean_runs(
    stream: ResidualStream,
    windows: np.ndarray,
    write: int,
    read: int,
    batch: int = 64,
    read_site: str = "hidden_states",
) -> dict[str, np.ndarray]:
    """Unpatched runs of every window: the write-site residual and the read-site value at the
    last position (float32) and the top next token."""
    acts: dict[int, list[torch.Tensor]] = {write: [], read: []}
    tops = []
    post = {write: lambda h: h.float(), read: read_transform(stream, read, read_site)}

    def keep(layer):
        return lambda hidden: acts[layer].append(post[layer](hidden[:, -1, :]))

    ids = torch.from_numpy(np.ascontiguousarray(windows)).to(stream.model.device)
    with stream.hooks(read={write: keep(write), read: keep(read)}):
        for i in range(0, ids.shape[0], batch):
            out = stream.model(input_ids=ids[i : i + batch], use_cache=False)
            tops.append(out.logits[:, -1, :].argmax(-1))
    result = {
        "write": torch.cat(acts[write]).cpu().numpy(),
        "read": torch.cat(acts[read]).cpu().numpy(),
        "top": torch.cat(tops).cpu().numpy().astype(np.int32),
    }
    for key in ("write", "read"):
        if not np.isfinite(result[key]).all():
            raise AtlasError(
                f"non-finite residuals in the clean runs at block "
                f"{write if key == 'write' else read}; the model's weights or dtype are broken "
                "(try regions.dtype: float32)."
            )
    return result


@torch.no_grad()
def interpolate_pair(
    stream: ResidualStream,
    context: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    centre: torch.Tensor,
    write: int,
    read: int,
    steps: int,
    paths: list[str],
    arc: str = "rescale",
    read_site: str = "hidden_states",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pair in A's context: distances [n_paths, steps], KL [n_paths, steps] and the patched
    read-site values [n_paths, steps, d] (float32)."""
    vectors = torch.cat([path(kind, a, b, centre, steps, arc) for kind in paths])
    out = PrefixCache(stream, context).run(write, vectors, read_layers=(read,), logits=True)
    post = read_transform(stream, read, read_site)
    h = post(out.resid[read]).reshape(len(paths), steps, -1)
    logits = out.logits.reshape(len(paths), steps, -1)
    dist = l2_distance(h, h[:, :1]).cpu().numpy()
    kl = torch.stack([kl_from_base(lg[0], lg) for lg in logits]).cpu().numpy()
    return dist, kl, h.cpu().numpy()


def pair_curves(
    stream: ResidualStream,
    windows: np.ndarray,
    pairs: pl.DataFrame,
    clean: dict[str, np.ndarray],
    write: int,
    read: int,
    settings: dict,
    model: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Curves (long format) and per-pair sharpness for every pair and path."""
    steps, paths = int(settings["steps"]), list(settings["paths"])
    device = stream.model.device
    acts = torch.from_numpy(clean["write"]).to(device)
    # The arc's centre: the mean write-site activation of every window of the pairing (the
    # authors' `resid_write_mean` over all drawn prompts).
    centre = acts.mean(0)
    n = pairs.height
    dist = np.empty((n, len(paths), steps))
    kl = np.empty((n, len(paths), steps))
    pairing = pairs["pairing"][0] if n else ""
    wa, wb = pairs["window_a"].to_numpy(), pairs["window_b"].to_numpy()
    for i in tqdm(range(n), desc=f"{model} {pairing} pairs", mininterval=5):
        context = torch.from_numpy(windows[wa[i]]).to(device)
        d, k, _ = interpolate_pair(
            stream, context, acts[wa[i]], acts[wb[i]], centre, write, read, steps, paths,
            settings["arc"], settings["read_site"],
        )  # fmt: skip
        if not (np.isfinite(d).all() and np.isfinite(k).all()):
            raise AtlasError(
                f"model '{model}', {pairing} pair {i} (windows {wa[i]}, {wb[i]}): non-finite "
                "outputs along the interpolation; try regions.dtype: float32."
            )
        dist[i], kl[i] = d, k
    return curve_tables(dist, kl, pairs, clean, paths, model)


def curve_tables(dist, kl, pairs, clean, paths, model):
    """The long curve table and the per-pair sharpness table from [n, n_paths, steps] arrays."""
    n, n_paths, steps = dist.shape
    pairing = pairs["pairing"].to_list()
    a = alphas(steps).numpy()
    flat_d = dist.reshape(n * n_paths, steps)
    flat_k = kl.reshape(n * n_paths, steps)
    norm = normalise(flat_d)
    scale = np.abs(flat_d).max(axis=1)
    degenerate = flat_d[:, -1] <= 1e-9 * np.maximum(scale, 1e-30)
    norm[degenerate] = np.nan
    sharp = np.where(degenerate, np.nan, sharpness(np.nan_to_num(norm)))
    norm_kl = normalise(flat_k)
    sharp_kl = np.where(flat_k[:, -1] > 0, sharpness(np.nan_to_num(norm_kl)), np.nan)
    pair_ids = np.repeat(pairs["pair"].to_numpy(), n_paths)
    path_names = np.tile(np.asarray(paths), n)
    curves = pl.DataFrame(
        {
            "model": model,
            "pairing": np.repeat(np.repeat(pairing, n_paths), steps),
            "pair": np.repeat(pair_ids, steps),
            "path": np.repeat(path_names, steps),
            "step": np.tile(np.arange(steps), n * n_paths),
            "alpha": np.tile(a, n * n_paths),
            "distance": flat_d.ravel(),
            "distance_norm": norm.ravel(),
            "kl": flat_k.ravel(),
        },
        schema=CURVE_SCHEMA,
    )
    top_a = clean["top"][pairs["window_a"].to_numpy()]
    top_b = clean["top"][pairs["window_b"].to_numpy()]
    per_pair = pl.DataFrame(
        {
            "model": model,
            "pairing": np.repeat(pairing, n_paths),
            "pair": pair_ids,
            "path": path_names,
            "steps": steps,
            "sharpness": sharp,
            "sharpness_kl": sharp_kl,
            "end_distance": flat_d[:, -1],
            "end_kl": flat_k[:, -1],
            "monotone": is_monotone(flat_d),
            "status": np.where(degenerate, "degenerate", "ok"),
            "top_a": np.repeat(top_a, n_paths),
            "top_b": np.repeat(top_b, n_paths),
            "same_top": np.repeat(top_a == top_b, n_paths),
        },
        schema=SHARPNESS_SCHEMA,
    )
    keys = pairs.drop("pairing")
    per_pair = per_pair.join(keys, on="pair", how="left", maintain_order="left")
    return curves, per_pair
