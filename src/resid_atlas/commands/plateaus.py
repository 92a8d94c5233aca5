"""plateaus-sweep / plateaus-summary / plateaus-findings: activation plateaus and sensitive
directions (METHODS.md §4). The sweep loads one model and writes every condition's curves; the
summary turns them into threshold crossings and figures; findings compares across models."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.cli import json_arg
from resid_atlas.core.atomic import atomic_path, write_json, write_parquet
from resid_atlas.core.errors import AtlasError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("plateaus-sweep", help="curves of every condition for one model")
    p.add_argument("--model", required=True, help="model key in the config")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the plateaus section (JSON)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="corpus.parquet whose sentences supply the prompts")
    src.add_argument("--text-file", help="a UTF-8 text file whose lines supply the prompts")
    p.add_argument("--out-dir", required=True, help="results/plateaus/<model>")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(run=run_sweep)

    p = sub.add_parser("plateaus-summary", help="threshold crossings, summary and figures")
    p.add_argument("--model", required=True)
    p.add_argument("--curves", required=True, nargs="+", help="curves/<condition>.parquet files")
    p.add_argument("--triangle", required=True, help="triangle.parquet")
    p.add_argument("--settings", required=True, type=json_arg, help="the plateaus section (JSON)")
    p.add_argument("--out-dir", required=True, help="results/plateaus/<model>")
    p.set_defaults(run=run_summary)

    p = sub.add_parser("plateaus-findings", help="the findings table across models")
    p.add_argument("--thresholds", required=True, nargs="+", help="<model>/thresholds.parquet")
    p.add_argument("--models", required=True, type=json_arg, help="model entries (JSON)")
    p.add_argument("--settings", required=True, type=json_arg, help="the plateaus section (JSON)")
    p.add_argument("--out", required=True, help="findings.parquet")
    p.set_defaults(run=run_findings)


def resolve_layers(settings: dict, n_layers: int, model: str) -> tuple[int, int]:
    site, readout = settings["site_layer"], settings["readout_layer"]
    readout = readout + n_layers if readout < 0 else readout
    if not 0 <= site < n_layers:
        raise AtlasError(
            f"plateaus.site_layer is {site} but '{model}' has blocks 0..{n_layers - 1}; "
            "choose a block in that range."
        )
    if not site < readout < n_layers:
        raise AtlasError(
            f"plateaus.readout_layer {settings['readout_layer']} resolves to block {readout} of "
            f"'{model}' ({n_layers} blocks); it must come after site_layer {site} (negative "
            "values count from the last block)."
        )
    return site, readout


def run_sweep(args) -> None:
    from resid_atlas.core.devices import set_threads
    from resid_atlas.models.loading import load_model
    from resid_atlas.models.residual import ResidualStream, hook_name
    from resid_atlas.plateaus.conditions import parse
    from resid_atlas.plateaus.perturb import Vectors
    from resid_atlas.plateaus.prompts import prompt_windows, prompts_frame, source_texts
    from resid_atlas.plateaus.reference import reference_statistics, site_activations
    from resid_atlas.plateaus.sweep import run_conditions, run_triangles

    s = args.settings
    conditions = [parse(name) for name in s["conditions"]]
    texts = source_texts(args.corpus, args.text_file)
    set_threads(args.threads)
    lm = load_model(args.model, args.models, s["device"], "float32")
    site, readout = resolve_layers(s, lm.n_layers, args.model)
    windows = prompt_windows(texts, lm.tokenizer, s)
    stream = ResidualStream(lm.model)
    acts = {role: site_activations(stream, w, site) for role, w in windows.items()}
    ref = reference_statistics(acts["reference"])
    vectors = Vectors(acts["base"], acts["other"], ref, s["seed"])
    log.info("%s: site %s, read-out %s", args.model, hook_name(site), hook_name(readout))
    curves = run_conditions(
        stream, windows["base"], vectors, conditions, s["steps"], site, readout, args.model,
        s["batch_size"],
    )  # fmt: skip
    tri = s["triangle"]
    triangle = run_triangles(
        stream, windows["base"], vectors, tri["bases"], tri["resolution"], tri["mode"],
        s["steps"], site, readout, args.model, s["batch_size"],
    )  # fmt: skip
    out = Path(args.out_dir)
    for name, frame in curves.items():
        write_parquet(frame, out / "curves" / f"{name}.parquet")
    write_parquet(triangle, out / "triangle.parquet")
    write_parquet(prompts_frame(args.model, windows, lm.tokenizer), out / "prompts.parquet")
    with atomic_path(out / "reference.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, mean=ref.mean, cov=ref.cov, base=acts["base"], other=acts["other"])
    write_json(
        {
            **lm.describe(),
            **ref.describe(),
            "site": hook_name(site),
            "readout": hook_name(readout),
            "conditions": [c.name for c in conditions],
        },
        out / "reference.json",
    )


def run_summary(args) -> None:
    from resid_atlas.plateaus import figures
    from resid_atlas.plateaus.crossings import TRIANGLE_IDS, summary, thresholds

    s = args.settings
    curves = pl.concat([pl.read_parquet(p) for p in args.curves])
    triangle = pl.read_parquet(args.triangle)
    out = Path(args.out_dir)
    table = thresholds(curves, s["threshold"], s["plateau_kl"])
    tri = thresholds(triangle, s["threshold"], s["plateau_kl"], "triangle", TRIANGLE_IDS)
    write_parquet(table, out / "thresholds.parquet")
    write_parquet(tri, out / "triangle_crossings.parquet")
    write_parquet(summary(table, s["seed"], s["bootstrap"]), out / "summary.parquet")
    fig = out / "figures"
    figures.curves_figure(curves, "kl", s["threshold"], args.model, fig / "kl_curves.png")
    figures.curves_figure(curves, "l2", None, args.model, fig / "l2_curves.png")
    figures.thresholds_figure(table, s["threshold"], args.model, fig / "thresholds.png")
    figures.triangle_figure(tri, s["threshold"], args.model, fig / "triangle.png")


def run_findings(args) -> None:
    from resid_atlas.plateaus.claims import model_claims, twin_claims
    from resid_atlas.stats.findings import write_findings

    s = args.settings
    frames, triangles, figs = {}, {}, {}
    for path in map(Path, args.thresholds):
        frame = pl.read_parquet(path)
        model = path.parent.name
        frames[model] = frame
        triangles[model] = pl.read_parquet(path.parent / "triangle_crossings.parquet")
        figs[model] = {
            name: str(path.parent / "figures" / f"{name if name != 'curves' else 'kl_curves'}.png")
            for name in ("curves", "thresholds", "triangle")
        }
    modes = sorted({n.split(".")[2] for n in s["conditions"]}, reverse=True)
    rows = []
    for model, frame in frames.items():
        rows += model_claims(
            model, frame, triangles[model], modes, s["seed"], figs[model], s["bootstrap"]
        )
    for init, entry in args.models.items():
        trained = entry.get("like")
        if init in frames and trained in frames:
            rows += twin_claims(
                trained, init, frames, modes, s["seed"], figs[init]["curves"], s["bootstrap"]
            )
    write_findings(rows, args.out)
    for row in rows:
        log.info("%s %s: %s (%s)", row["model"], row["claim_id"], row["verdict"], row["detail"])
