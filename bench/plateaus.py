"""Plateau-sweep speed: the cached, batched sweep against re-running each perturbed prompt in full.

Ours (the pipeline's path, `plateaus.sweep.measure` with `cached_runner`): each base prompt's
9-token prefix runs once through `PrefixCache`; every perturbed vector of every condition then
costs one single-token forward, in batches of `--batch` vectors. Baselines, measured in the same
run on the same vectors, with the same KL/L2/cosine read-outs:
- "full re-run, batched" (the named baseline, the studies' way): the whole 10-token prompt is
  re-run for every perturbed vector (`ResidualStream.run_patched`), in the same batches;
- "full re-run, one by one": one full forward per perturbed vector (batch 1).
KL of ours and of the baselines must agree within 1e-4 x max(1, KL) nats (float32 attention
summed in another order: the difference grows with the KL itself).

Usage: python bench/plateaus.py [--config config/config.yaml] [--model smollm2-135m] [--curves 4]
       [--steps 100] [--threads 2]
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

from resid_atlas.commands.plateaus import resolve_layers  # noqa: E402
from resid_atlas.core.config import load_config  # noqa: E402
from resid_atlas.corpus.ingest import build_corpus  # noqa: E402
from resid_atlas.models.loading import load_model  # noqa: E402
from resid_atlas.models.residual import PrefixCache, ResidualStream  # noqa: E402
from resid_atlas.plateaus.conditions import parse  # noqa: E402
from resid_atlas.plateaus.perturb import Vectors  # noqa: E402
from resid_atlas.plateaus.prompts import prompt_windows  # noqa: E402
from resid_atlas.plateaus.statistics import reference_statistics, site_activations  # noqa: E402
from resid_atlas.plateaus.sweep import cached_runner, full_runner, measure  # noqa: E402

CONDITIONS = ["real.random.straight", "cov-random.random.straight", "real.real-other.sphere"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--curves", type=int, default=4, help="base prompts")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--reference", type=int, default=700, help="reference prompts")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    settings = {**config["plateaus"], "curves": args.curves, "reference_prompts": args.reference}
    dataset = settings["dataset"]
    corpus = build_corpus(config["datasets"][dataset], dataset)
    lm = load_model(args.model, config["models"], args.device, "float32")
    stream = ResidualStream(lm.model)
    site, readout = resolve_layers(settings, lm.n_layers, args.model)
    windows = prompt_windows(corpus["text"].to_list(), lm.tokenizer, settings)
    acts = {role: site_activations(stream, w, site) for role, w in windows.items()}
    vectors = Vectors(acts["base"], acts["other"], reference_statistics(acts["reference"]), 0)
    conditions = [parse(n) for n in CONDITIONS]
    per_prompt = [
        [vectors.curve(c, i, args.steps)[0] for c in conditions] for i in range(args.curves)
    ]
    n_vectors = sum(len(c) for curves in per_prompt for c in curves)
    ids = [torch.as_tensor(w, device=lm.device) for w in windows["base"]]
    print(
        f"{args.model} on {lm.device}, {args.threads} threads: {args.curves} prompts x "
        f"{len(conditions)} conditions x {args.steps} steps = {n_vectors} perturbed vectors, "
        f"prompts of {windows['base'].shape[1]} tokens, site block {site}, read-out {readout}"
    )

    def run(make_runner, chunk):
        out = []
        start = time.perf_counter()
        for i, curves in enumerate(per_prompt):
            out += measure(make_runner(i), curves, readout, chunk, lm.device)
        return time.perf_counter() - start, out

    def cached(i):
        return cached_runner(PrefixCache(stream, ids[i]), site, readout)

    def full(i):
        return full_runner(stream, ids[i], site, readout)

    run(cached, args.batch)  # warm-up (allocator, threads)
    t_ours, ours = run(cached, args.batch)
    print(f"ours measured: {t_ours:.2f} s", flush=True)
    t_full, full_out = run(full, args.batch)
    print(f"full re-run, batched measured: {t_full:.2f} s", flush=True)
    t_one, one_out = run(full, 1)
    kl = np.concatenate([m["kl"] for m in ours])
    diffs, agree = {}, True
    for name, other in (("batched", full_out), ("one by one", one_out)):
        gap = np.abs(kl - np.concatenate([m["kl"] for m in other]))
        diffs[name] = float(gap.max())
        agree &= bool(np.all(gap <= 1e-4 * np.maximum(1.0, kl)))
    rows = [
        (f"ours (prefix cache, batch {args.batch})", t_ours),
        ("full re-run, batched (named baseline)", t_full),
        ("full re-run, one by one", t_one),
    ]
    for name, seconds in rows:
        print(f"{name:<38} {seconds:8.2f} s {n_vectors / seconds:9.0f} vectors/s")
    print(f"speed-up vs full re-run, batched:    {t_full / t_ours:6.1f}x")
    print(f"speed-up vs full re-run, one by one: {t_one / t_ours:6.1f}x")
    print(
        f"max |KL ours - KL full|: batched {diffs['batched']:.2e}, one by one "
        f"{diffs['one by one']:.2e} nats (max KL {kl.max():.2f}); agree within "
        f"1e-4 x max(1, KL): {agree}"
    )


if __name__ == "__main__":
    main()
