"""Perturbed runs: every curve of every condition, batched through the prompt's `PrefixCache`
(one token per perturbed vector), read out as KL of the next-token distribution and L2/cosine of
a late layer's residual against the curve's unperturbed base (its step 0)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm import tqdm

from resid_atlas.core.atomic import atomic_path, write_json, write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import resolve_sites
from resid_atlas.models.loading import load_for_step
from resid_atlas.models.norms import resolve_centring
from resid_atlas.models.readouts import cosine, kl_from_base, l2_distance
from resid_atlas.models.residual import Patched, PrefixCache, ResidualStream, hook_name
from resid_atlas.plateaus.conditions import Condition, parse
from resid_atlas.plateaus.crossings import CURVE_IDS, TRIANGLE_IDS
from resid_atlas.plateaus.perturb import Vectors, barycentric_grid, centred, path
from resid_atlas.plateaus.prompts import prompt_windows, prompts_frame, source_texts
from resid_atlas.plateaus.statistics import reference_statistics, site_activations

log = logging.getLogger(__name__)

METRIC_SCHEMA = {
    "step": pl.Int32,
    "size": pl.Float64,  # straight: a in [0, 1] (x ||base||); sphere: angle in radians
    "distance": pl.Float64,  # L2 distance of the perturbed vector from the base at the site
    "kl": pl.Float64,  # KL(P_base || P_perturbed), nats
    "l2": pl.Float64,  # L2 distance of the read-out layer's residual from the base run's
    "cosine": pl.Float64,  # cosine of the read-out layer's residual with the base run's
}
CURVES_SCHEMA = {**CURVE_IDS, **METRIC_SCHEMA}
TRIANGLE_SCHEMA = {**TRIANGLE_IDS, **METRIC_SCHEMA}

Runner = Callable[[torch.Tensor], Patched]


def cached_runner(cache: PrefixCache, site: int, readout: int) -> Runner:
    return lambda v: cache.run(site, v, read_layers=(readout,))


def full_runner(stream: ResidualStream, ids: torch.Tensor, site: int, readout: int) -> Runner:
    """The studies' way: the whole prompt re-run for every perturbed vector."""
    last = int(ids.reshape(-1).shape[0]) - 1
    return lambda v: stream.run_patched(ids, site, last, v, read_layers=(readout,))


@torch.no_grad()
def measure(
    runner: Runner,
    curves: list[np.ndarray],
    readout: int,
    chunk: int = 512,
    device: torch.device | str = "cpu",
) -> list[dict[str, np.ndarray]]:
    """KL, L2 and cosine for every row of each curve [steps, d] against the curve's row 0 (its
    base), running all rows of all curves in batches of `chunk` vectors."""
    dtype = torch.float32
    bases = torch.as_tensor(np.stack([c[0] for c in curves]), dtype=dtype, device=device)
    ref = runner(bases)
    flat = torch.as_tensor(np.concatenate(curves), dtype=dtype, device=device)
    owner = torch.repeat_interleave(
        torch.arange(len(curves), device=device),
        torch.as_tensor([len(c) for c in curves], device=device),
    )
    kl, l2, cos = [], [], []
    for start in range(0, flat.shape[0], chunk):
        rows = owner[start : start + chunk]
        out = runner(flat[start : start + chunk])
        kl.append(kl_from_base(ref.logits[rows], out.logits).cpu())
        late, late_ref = out.resid[readout], ref.resid[readout][rows]
        l2.append(l2_distance(late, late_ref).cpu())
        cos.append(cosine(late, late_ref).cpu())
    kl_all, l2_all, cos_all = (torch.cat(x).numpy() for x in (kl, l2, cos))
    for name, values in (("kl", kl_all), ("l2", l2_all), ("cosine", cos_all)):
        if not np.isfinite(values).all():
            raise AtlasError(
                f"non-finite {name} in a perturbation sweep (row "
                f"{int(np.argmin(np.isfinite(values)))}); check the model's outputs."
            )
    bounds = np.cumsum([0] + [len(c) for c in curves])
    return [
        {
            "kl": kl_all[a:b],
            "l2": l2_all[a:b],
            "cosine": cos_all[a:b],
            "distance": np.linalg.norm(curves[i] - curves[i][0], axis=1),
        }
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def _rows(metrics: dict, sizes: np.ndarray, **keys) -> dict:
    n = len(sizes)
    return {
        **{k: [v] * n for k, v in keys.items()},
        "step": np.arange(n),
        "size": sizes,
        **{k: metrics[k] for k in ("distance", "kl", "l2", "cosine")},
    }


def _frame(parts: list[dict], schema: dict) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema=schema)
    frames = [pl.DataFrame(p) for p in parts]
    return pl.concat(frames).select(list(schema)).cast(schema)


def run_conditions(
    stream: ResidualStream,
    windows: np.ndarray,
    vectors: Vectors,
    conditions: list[Condition],
    steps: int,
    site: int,
    readout: int,
    model: str,
    chunk: int = 512,
) -> dict[str, pl.DataFrame]:
    """Curves of every condition on every base prompt; one prefix cache per prompt serves all
    conditions' vectors. Returns {condition name: curves frame}."""
    device = next(stream.model.parameters()).device
    parts: dict[str, list[dict]] = {c.name: [] for c in conditions}
    n = len(windows)
    for i in tqdm(range(n), desc=f"plateaus {model}", unit="prompt", mininterval=5):
        cache = PrefixCache(stream, torch.as_tensor(windows[i], device=device))
        built = [vectors.curve(c, i, steps) for c in conditions]
        results = measure(
            cached_runner(cache, site, readout), [b[0] for b in built], readout, chunk, device
        )
        for c, (_, sizes, _), metrics in zip(conditions, built, results, strict=True):
            parts[c.name].append(
                _rows(
                    metrics,
                    sizes,
                    model=model,
                    condition=c.name,
                    base=c.base,
                    direction=c.direction,
                    mode=c.mode,
                    curve=i,
                    prompt=i,
                )
            )
    return {name: _frame(p, CURVES_SCHEMA) for name, p in parts.items()}


def run_triangles(
    stream: ResidualStream,
    windows: np.ndarray,
    vectors: Vectors,
    n_bases: int,
    resolution: int,
    mode: str,
    steps: int,
    site: int,
    readout: int,
    model: str,
    chunk: int = 512,
) -> pl.DataFrame:
    """Sweeps towards targets interpolated between three corners (the study interpolates targets,
    then takes the direction): `random` has three cov-random corners, `real-other` replaces the
    top one by another prompt's real activation; left and right corners are shared."""
    device = next(stream.model.parameters()).device
    grid = barycentric_grid(resolution)
    parts = []
    for i in range(min(n_bases, len(windows))):
        base = vectors.base("real", i)
        left, right = vectors.cov_random_target(i, 0), vectors.cov_random_target(i, 1)
        tops = {"random": vectors.extra_target(i), "real-other": vectors.other_acts[i]}
        cache = PrefixCache(stream, torch.as_tensor(windows[i], device=device))
        built = []
        for name, top in tops.items():
            for p, w in enumerate(grid):
                target = w[0] * top + w[1] * left + w[2] * right
                vecs, sizes = path(mode, base, target - base, steps, vectors.centring)
                built.append((name, p, w, vecs, sizes))
        results = measure(
            cached_runner(cache, site, readout), [b[3] for b in built], readout, chunk, device
        )
        for (name, p, w, _, sizes), metrics in zip(built, results, strict=True):
            parts.append(
                _rows(
                    metrics,
                    sizes,
                    model=model,
                    triangle=name,
                    mode=mode,
                    curve=i,
                    prompt=i,
                    point=p,
                    w_top=w[0],
                    w_left=w[1],
                    w_right=w[2],
                )
            )
    return _frame(parts, TRIANGLE_SCHEMA)


def sweep(
    model: str,
    models: dict,
    settings: dict,
    source: str,
    source_kind: str,
    out_dir: str,
    threads: int | None,
) -> None:
    """Step `plateaus sweep`: load one model and write every condition's curves, the triangle,
    the prompts and the reference statistics into `out_dir` (names: plateaus/outputs.py)."""
    s = settings
    conditions = [parse(name) for name in s["conditions"]]
    texts = source_texts(source, source_kind)
    lm = load_for_step(model, models, s, threads, dtype="float32")
    site, readout = resolve_sites(
        "plateaus", s, ("site_layer", "readout_layer"), lm.n_layers, model
    )
    windows = prompt_windows(texts, lm.tokenizer, s)
    stream = ResidualStream(lm.model)
    # auto -> mean (LayerNorm) or none (RMSNorm), the extraction's rule (models/norms.py)
    centring = resolve_centring(s["centring"], lm.model)
    applied = centring["centring"]
    acts = {
        role: centred(site_activations(stream, w, site), applied) for role, w in windows.items()
    }
    ref = reference_statistics(acts["reference"])
    vectors = Vectors(acts["base"], acts["other"], ref, s["seed"], applied)
    log.info("%s: site %s, read-out %s", model, hook_name(site), hook_name(readout))
    curves = run_conditions(
        stream, windows["base"], vectors, conditions, s["steps"], site, readout, model,
        s["batch_size"],
    )  # fmt: skip
    tri = s["triangle"]
    triangle = run_triangles(
        stream, windows["base"], vectors, tri["bases"], tri["resolution"], tri["mode"],
        s["steps"], site, readout, model, s["batch_size"],
    )  # fmt: skip
    out = Path(out_dir)
    for name, frame in curves.items():
        write_parquet(frame, out / "curves" / f"{name}.parquet")
    write_parquet(triangle, out / "triangle.parquet")
    write_parquet(prompts_frame(model, windows, lm.tokenizer), out / "prompts.parquet")
    with atomic_path(out / "reference.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, mean=ref.mean, cov=ref.cov, base=acts["base"], other=acts["other"])
    write_json(
        {
            **lm.describe(),
            **ref.describe(),
            **centring,
            "site": hook_name(site),
            "readout": hook_name(readout),
            "conditions": [c.name for c in conditions],
        },
        out / "reference.json",
    )
