"""One model's stable-regions run: prompt pairs -> curves and sharpness per pair -> 2-D slices,
written under results/regions/<model>/ (see docs/regions.md for every file and column)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from resid_atlas.core.atomic import write_json, write_parquet
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.models.catalog import resolve_sites
from resid_atlas.models.loading import LoadedModel
from resid_atlas.models.residual import ResidualStream, hook_name
from resid_atlas.regions.curves import clean_runs, pair_curves, read_transform
from resid_atlas.regions.pairs import build_pairs
from resid_atlas.regions.plots import plot_curves, plot_slices
from resid_atlas.regions.slices import SLICE_SCHEMA, slice_frame, slice_through

log = logging.getLogger(__name__)

ANCHOR_SCHEMA = {
    "model": pl.String,
    "slice": pl.Int32,
    "anchor": pl.Int8,  # 0 = red (its prompt is the context), 1 = green, 2 = blue
    "pairing": pl.String,  # which prompt set the anchor came from
    "window": pl.Int32,
    "u": pl.Float64,
    "v": pl.Float64,
    "top": pl.Int32,  # the anchor prompt's own top next token
    "text": pl.String,
}
OUTPUTS = (
    "curves.parquet",
    "sharpness.parquet",
    "slices.parquet",
    "slice_anchors.parquet",
    "meta.json",
    "curves.png",
    "slices.png",
)


def decode(tokenizer, windows: np.ndarray, rows) -> list[str]:
    return [tokenizer.decode(windows[int(r)], skip_special_tokens=True) for r in rows]


def choose_anchors(prompt_sets: dict, n_slices: int, seed: int) -> list[tuple[str, list[int]]]:
    """Three windows per slice, seeded; from the meaning prompts (distinct subjects where the
    corpus has three) if present, else from the stream windows."""
    rng = np.random.default_rng(seed + 1)
    pairing = "meaning" if "meaning" in prompt_sets else next(iter(prompt_sets))
    windows, table = prompt_sets[pairing]
    n = windows.shape[0]
    if n < 3:
        raise AtlasError(f"only {n} prompts of the {pairing} pairing; a slice needs three.")
    subjects = None
    if pairing == "meaning":
        by_window = dict(zip(table["window_a"], table["subject_a"], strict=True))
        by_window.update(zip(table["window_b"], table["subject_b"], strict=True))
        subjects = by_window
    out = []
    for _ in range(n_slices):
        if subjects is not None and len(set(subjects.values())) >= 3:
            groups: dict[str, list[int]] = {}
            for w, s in subjects.items():
                groups.setdefault(s, []).append(int(w))
            names = rng.choice(sorted(groups), size=3, replace=False)
            out.append((pairing, [int(rng.choice(groups[s])) for s in names]))
        else:
            out.append((pairing, [int(w) for w in rng.choice(n, size=3, replace=False)]))
    return out


def run_regions(corpus: pl.DataFrame, lm: LoadedModel, settings: dict, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    model = lm.name
    started = time.perf_counter()
    stream = ResidualStream(lm.model)
    write, read = resolve_sites(
        "regions", settings, ("write_layer", "read_layer"), stream.n_layers, model
    )
    log.info("%s: write %s, read %s", model, hook_name(write), hook_name(read))
    curves, per_pair, prompt_sets, cleans, timings = [], [], {}, {}, {}
    for pairing in settings["pairings"]:
        windows, table = build_pairs(corpus, lm.tokenizer, settings, pairing)
        clean = clean_runs(stream, windows, write, read, read_site=settings["read_site"])
        t0 = time.perf_counter()
        c, p = pair_curves(stream, windows, table, clean, write, read, settings, model)
        timings[f"curves_{pairing}_s"] = round(time.perf_counter() - t0, 3)
        p = p.with_columns(
            text_a=pl.Series(decode(lm.tokenizer, windows, p["window_a"]), dtype=pl.String),
            text_b=pl.Series(decode(lm.tokenizer, windows, p["window_b"]), dtype=pl.String),
        )
        curves.append(c)
        per_pair.append(p)
        prompt_sets[pairing] = (windows, table)
        cleans[pairing] = clean
        log.info(
            "%s %s: %d pairs, median sharpness %s",
            model,
            pairing,
            table.height,
            p.group_by("path").agg(pl.col("sharpness").median()).sort("path").rows(),
        )
    curves_df, pairs_df = pl.concat(curves), pl.concat(per_pair)

    slices, frames, anchor_rows = [], [], []
    t0 = time.perf_counter()
    for index, (pairing, chosen) in enumerate(
        choose_anchors(prompt_sets, int(settings["n_slices"]), int(settings["seed"]))
    ):
        windows, _ = prompt_sets[pairing]
        clean = cleans[pairing]
        device = stream.model.device
        anchors = torch.from_numpy(clean["write"][chosen]).to(device)
        context = torch.from_numpy(windows[chosen[0]]).to(device)
        try:
            result = slice_through(
                stream,
                context,
                anchors,
                write,
                read,
                int(settings["slice_grid"]),
                float(settings["slice_margin"]),
                int(settings["batch_size"]),
                read_transform(stream, read, settings["read_site"]),
            )
        except ValueError as exc:
            raise AtlasError(f"model '{model}', slice {index} (windows {chosen}): {exc}") from None
        slices.append(result)
        frames.append(slice_frame(model, index, result))
        texts = decode(lm.tokenizer, windows, chosen)
        for k, w in enumerate(chosen):
            anchor_rows.append(
                {
                    "model": model,
                    "slice": index,
                    "anchor": k,
                    "pairing": pairing,
                    "window": w,
                    "u": float(result["anchor_uv"][k, 0]),
                    "v": float(result["anchor_uv"][k, 1]),
                    "top": int(clean["top"][w]),
                    "text": texts[k],
                }
            )
    n_slices = max(len(slices), 1)
    timings["slice_s"] = round((time.perf_counter() - t0) / n_slices, 3)
    slices_df = pl.concat(frames) if frames else pl.DataFrame(schema=SLICE_SCHEMA)
    anchors_df = pl.DataFrame(anchor_rows, schema=ANCHOR_SCHEMA)

    write_parquet(curves_df, out_dir / "curves.parquet")
    write_parquet(pairs_df, out_dir / "sharpness.parquet")
    write_parquet(slices_df, out_dir / "slices.parquet")
    write_parquet(anchors_df, out_dir / "slice_anchors.parquet")
    plot_curves(curves_df, pairs_df, out_dir / "curves.png")
    plot_slices(slices, anchors_df, model, out_dir / "slices.png")
    timings["total_s"] = round(time.perf_counter() - started, 3)
    meta = {
        **lm.describe(),
        "training_step": training_step(lm.spec),
        "write_site": hook_name(write),
        "read_site": read_site_name(stream, read, settings["read_site"]),
        "settings": settings,
        "timings": timings,
        "torch_threads": torch.get_num_threads(),
    }
    write_json(meta, out_dir / "meta.json")


def read_site_name(stream: ResidualStream, read: int, read_site: str) -> str:
    """The hook name of the read site, with the final norm named where it is applied."""
    name = hook_name(read)
    if read_site == "hidden_states" and read == stream.n_layers - 1:
        return f"{name} + final norm ({type(stream.final_norm).__name__})"
    return name


def training_step(spec: dict) -> int | None:
    """0 for random-init models; N for revisions naming a step (Pythia `stepN`, OLMo
    `...-stepN-...`); None for final releases."""
    import re

    if spec["source"] == "random-init":
        return 0
    match = re.search(r"step(\d+)", spec.get("revision") or "")
    return int(match.group(1)) if match else None


def curves(
    corpus: str, model: str, models: dict, settings: dict, out_dir: str, threads: int | None
) -> None:
    """Step `regions curves`: one model's interpolation curves, sharpness and 2-D slices into
    `out_dir` (names: regions/outputs.py)."""
    from resid_atlas.models.loading import load_for_step

    lm = load_for_step(model, models, settings, threads)
    run_regions(read_table(corpus), lm, settings, out_dir)
