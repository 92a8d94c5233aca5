"""Stable-regions speed: interpolation curves with the prefix cache against full re-runs.

Ours (the pipeline's path, `regions.curves.interpolate_pair`): prompt A's prefix runs once through
`PrefixCache`, then all `steps` interpolation points go through the model as one batch of
single-token forwards. Baselines, measured in the same run on the same pairs:
- "full re-run per point" (the named baseline): one full forward of prompt A per interpolation
  point with the write-site residual replaced (`ResidualStream.run_patched` with one vector), the
  straightforward hook-based way;
- "full re-run batched": one full forward of the `steps` copies of prompt A in a batch.
The outputs of all three are checked to agree. Also times one 2-D slice of grid x grid points.

Usage: python bench/regions.py [--config config/config.yaml] [--model smollm2-135m] [--pairs 8]
       [--steps 11] [--grid 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.core.config import load_config  # noqa: E402
from resid_atlas.corpus.ingest import build_corpus  # noqa: E402
from resid_atlas.models.loading import load_model  # noqa: E402
from resid_atlas.models.prompts import stream_windows  # noqa: E402
from resid_atlas.models.residual import ResidualStream  # noqa: E402
from resid_atlas.regions.curves import clean_runs, interpolate_pair  # noqa: E402
from resid_atlas.regions.paths import linear_path  # noqa: E402
from resid_atlas.regions.slices import slice_through  # noqa: E402


def timed(fn, repeats: int = 1):
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--dataset", default=None, help="default: regions.dataset of the config")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--steps", type=int, default=11)
    p.add_argument("--grid", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    settings = config["regions"]
    dataset = args.dataset or settings["dataset"]
    corpus = build_corpus(config["datasets"][dataset], dataset)
    lm = load_model(args.model, config["models"], args.device, "float32")
    stream = ResidualStream(lm.model)
    write, read = 0, stream.n_layers - 1
    windows = stream_windows(
        corpus["text"].to_list(), lm.tokenizer, settings["prompt_length"], 2 * args.pairs, True
    )
    clean = clean_runs(stream, windows, write, read)
    acts = torch.from_numpy(clean["write"]).to(lm.device)
    centre = acts.mean(0)
    ids = [torch.from_numpy(w).to(lm.device) for w in windows]
    n = windows.shape[0] // 2
    print(
        f"{args.model} on {lm.device}, {args.threads} threads: {n} pairs x {args.steps} steps, "
        f"prompts of {windows.shape[1]} tokens, write block {write}, read block {read}"
    )

    def ours():
        return [
            interpolate_pair(
                stream,
                ids[2 * i],
                acts[2 * i],
                acts[2 * i + 1],
                centre,
                write,
                read,
                args.steps,
                ["linear"],
            )[2][0]
            for i in range(n)
        ]

    def per_point():
        out = []
        for i in range(n):
            pts = linear_path(acts[2 * i], acts[2 * i + 1], args.steps)
            out.append(
                np.stack(
                    [
                        stream.run_patched(ids[2 * i], write, -1, pts[k : k + 1], (read,))
                        .resid[read][0]
                        .cpu()
                        .numpy()
                        for k in range(args.steps)
                    ]
                )
            )
        return out

    def batched_full():
        return [
            stream.run_patched(
                ids[2 * i],
                write,
                -1,
                linear_path(acts[2 * i], acts[2 * i + 1], args.steps),
                (read,),
            )
            .resid[read]
            .cpu()
            .numpy()
            for i in range(n)
        ]

    ours()  # warm-up
    t_ours, h_ours = timed(ours, 3)
    t_point, h_point = timed(per_point, 1)
    t_full, h_full = timed(batched_full, 3)
    err = max(
        max(np.abs(a - b).max(), np.abs(a - c).max())
        for a, b, c in zip(h_ours, h_point, h_full, strict=True)
    )
    scale = max(np.abs(a).max() for a in h_ours)
    points = n * args.steps
    print(
        f"  ours (prefix cache, batched points): {t_ours:8.3f} s  {points / t_ours:8.1f} points/s"
    )
    print(
        f"  full re-run per point (baseline):    {t_point:8.3f} s  {points / t_point:8.1f} points/s"
    )
    print(
        f"  full re-run, points batched:         {t_full:8.3f} s  {points / t_full:8.1f} points/s"
    )
    print(f"  speed-up vs full re-run per point:   {t_point / t_ours:8.1f}x")
    print(f"  speed-up vs batched full re-run:     {t_full / t_ours:8.1f}x")
    print(f"  max |difference| of read-site outputs: {err:.2e} (output scale {scale:.1f})")

    anchors = acts[:3]
    slice_through(stream, ids[0], anchors, write, read, 8)  # warm-up
    t_slice, _ = timed(lambda: slice_through(stream, ids[0], anchors, write, read, args.grid), 1)
    grid = args.grid * args.grid
    print(
        f"  one {args.grid}x{args.grid} slice: {t_slice:.2f} s ({grid / t_slice:.0f} points/s); "
        f"the per-point baseline would take ~{grid * t_point / points:.0f} s"
    )


if __name__ == "__main__":
    main()
