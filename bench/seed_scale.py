"""The studies' six models at full size (config/seed-scale.yaml: random-init twins with the
published GPT-2 small/medium/large and Pythia-160m/410m/1b configs): per model, one extraction of
N reference sentences, one plateaus sweep and one regions curve through the pipeline's own
functions, with tokens/s, peak memory and the time the studies' full scale would take.

Each model runs in its own child process, so the peak resident memory (getrusage ru_maxrss) is
that model's alone. Tokens: the twins' byte-level tokenizer would make ~4x more tokens than the
studies' BPE, so the bench swaps in SmolLM2's BPE tokenizer (GPT-2-style, 49,152 ids, below
every twin's vocabulary), saved once to a folder; `--tokenizer byte` keeps the byte one.

- extraction: `activations.extract.extract_shards` (protocol seed, centring mean, BOS, float32
  unless --dtype) on N sentences of the reference dataset, spread over its 120 pairs;
- plateaus sweep: one curve of `--steps` (100) perturbed vectors on a 10-token prompt through
  `plateaus.sweep.measure` with the prefix cache (site block 0, read-out the last block);
- regions curve: `regions.curves.interpolate_pair` for one pair, 21 steps x (linear, arc).
Full scale (config/seeds.yaml): 23,993 sentences, plateaus 100 prompts x 12 conditions x 100
steps, regions 1,000 pairs x 2 pairings; the extrapolation scales the measured times linearly and
leaves out model loading, the plateaus triangles and the regions slices.
tokens/s is also given against this device's measured GEMM throughput in the same dtype (the
model's matmul FLOPs per token x tokens/s / GEMM FLOP/s). `--fidelity` (GPU script) also runs the
extraction in float32 and compares the two dtypes' shards.

`--from-snapshot` saves each twin with save_pretrained first and loads it from that folder
(`source: local`), the loading path of trained weights, whose peak memory sizes cluster jobs.

Usage: python bench/seed_scale.py [--sentences 300] [--models gpt2-small-full ...]
       [--device cpu] [--dtype float32] [--threads 2] [--fidelity] [--from-snapshot]
       [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from extract import gemm_flops, matmul_flops_per_token  # noqa: E402

from resid_atlas.activations.extract import extract_shards  # noqa: E402
from resid_atlas.core.config import validate_config  # noqa: E402
from resid_atlas.corpus.read import read_reference_json  # noqa: E402
from resid_atlas.models.loading import load_model  # noqa: E402
from resid_atlas.models.prompts import stream_windows  # noqa: E402
from resid_atlas.models.residual import PrefixCache, ResidualStream  # noqa: E402
from resid_atlas.plateaus.perturb import path  # noqa: E402
from resid_atlas.plateaus.reference import site_activations  # noqa: E402
from resid_atlas.plateaus.sweep import cached_runner, measure  # noqa: E402
from resid_atlas.regions.curves import clean_runs, interpolate_pair  # noqa: E402

MODELS = [
    "gpt2-small-full",
    "gpt2-medium-full",
    "gpt2-large-full",
    "pythia-160m-full",
    "pythia-410m-full",
    "pythia-1b-full",
]
REFERENCE = Path("/work/shared/data/levinson-2024/sentences_20241018_00.json")
FULL = {"sentences": 23_993, "plateaus_curves": 100 * 12, "regions_curves": 1_000 * 2}
REGION_STEPS, REGION_PATHS = 21, ["linear", "arc"]


def config() -> dict:
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    over = yaml.safe_load((ROOT / "config/seed-scale.yaml").read_text())
    base["models"].update(over["models"])
    return validate_config(base, where="config/seed-scale.yaml")


def sentences(path: Path, n: int) -> pl.DataFrame:
    """n sentences spread evenly over the dataset's pairs (seeded), as extract_shards wants."""
    df = read_reference_json(path).with_columns(
        pair=pl.concat_str("subject", pl.lit(":"), "attribute"), split=pl.lit("train")
    )
    return df.sample(fraction=1.0, shuffle=True, seed=0).sort("line", maintain_order=True).head(n)


def entries(args) -> dict:
    """The config's model entries; with --snapshot, `args.one` read from its saved folder (the
    loading path of trained weights, `source: local`, instead of a random initialisation)."""
    models = config()["models"]
    if args.snapshot:
        models[args.one] = {"source": "local", "path": args.snapshot}
    return models


def save_snapshot(args) -> None:
    """The child that writes `args.save` with its tokenizer to a folder (save_pretrained)."""
    from transformers import AutoTokenizer

    lm = load_model(args.save, config()["models"], "cpu", "float32")
    lm.model.save_pretrained(args.snapshot)
    tokenizer = lm.tokenizer if args.tokenizer == "byte" else args.tokenizer
    AutoTokenizer.from_pretrained(tokenizer).save_pretrained(args.snapshot)


def save_bpe(folder: Path, models: dict) -> None:
    from resid_atlas.models.loading import load_tokenizer

    load_tokenizer("smollm2-135m", models).save_pretrained(folder)


def peak_mb(device: torch.device) -> dict:
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_model(args) -> dict:
    """The child: load one model, time the three steps, report one JSON line."""
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    models = entries(args)
    start = time.perf_counter()
    lm = load_model(args.one, models, args.device, args.dtype)
    load_s = time.perf_counter() - start
    if args.tokenizer != "byte" and not args.snapshot:
        lm.tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    device = lm.device
    corpus = sentences(Path(args.dataset), args.sentences)
    settings = {
        "protocol": "seed",
        "centring": "mean",
        "prepend_bos": True,
        "dtype": args.dtype,
        "device": args.device,
        "batch_size": args.batch_size,
        "max_tokens": 256,
    }
    out: dict = {"model": args.one, "device": str(device), "dtype": args.dtype, "load_s": load_s}
    out["source"] = models[args.one]["source"]
    out["params_m"] = sum(p.numel() for p in lm.model.parameters()) / 1e6
    out |= {"n_layers": lm.n_layers, "d_model": lm.d_model}
    with tempfile.TemporaryDirectory() as tmp:
        extract_shards(corpus.head(min(8, corpus.height)), lm, settings, Path(tmp) / "warm")
        sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        extract_shards(corpus, lm, settings, Path(tmp) / args.dtype)
        sync(device)
        out["extract_s"] = time.perf_counter() - start
        out["extract_cpu_s"] = time.process_time() - cpu
        tokens = int(pl.read_parquet(Path(tmp) / args.dtype / "index.parquet")["n_tokens"].sum())
        if args.fidelity and args.dtype != "float32":
            out["fidelity"] = fidelity(lm, args, corpus, settings, Path(tmp))
    out |= {"sentences": corpus.height, "tokens": tokens}
    out["tokens_per_s"] = tokens / out["extract_s"]
    out["tokens_per_cpu_s"] = tokens / out["extract_cpu_s"]
    out["load_avg"] = os.getloadavg()[0]
    # A GPU needs large matrices to reach its peak; 2048 is what bench/extract.py uses on the CPU.
    size = 8192 if device.type == "cuda" else 2048
    gemm = gemm_flops(next(lm.model.parameters()).dtype, size, device=str(device))
    out["gemm_gflops"] = gemm / 1e9
    out["of_gemm"] = out["tokens_per_s"] * matmul_flops_per_token(lm.model) / gemm

    stream = ResidualStream(lm.model)
    last = stream.n_layers - 1
    texts = corpus["text"].to_list()
    windows = stream_windows(texts, lm.tokenizer, 10, 2, prepend_bos=False)
    ids = [torch.as_tensor(w, device=device) for w in windows]
    acts = site_activations(stream, windows, 0)
    vectors, _ = path("straight", acts[0], acts[1] - acts[0], args.steps)
    measure(cached_runner(PrefixCache(stream, ids[0]), 0, last), [vectors[:4]], last, 512, device)
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    runner = cached_runner(PrefixCache(stream, ids[0]), 0, last)
    measure(runner, [vectors], last, 512, device)
    sync(device)
    out["plateaus_sweep_s"] = time.perf_counter() - start
    out["plateaus_sweep_cpu_s"] = time.process_time() - cpu

    # The arc path bends around the centre of the write-site activations (here of 8 prompts).
    windows = stream_windows(texts, lm.tokenizer, 10, 8, prepend_bos=True)
    acts = torch.from_numpy(clean_runs(stream, windows, 0, last)["write"]).to(device)
    context = torch.from_numpy(windows[0]).to(device)
    start, cpu = time.perf_counter(), time.process_time()
    interpolate_pair(
        stream, context, acts[0], acts[1], acts.mean(0), 0, last, REGION_STEPS, REGION_PATHS
    )
    sync(device)
    out["regions_curve_s"] = time.perf_counter() - start
    out["regions_curve_cpu_s"] = time.process_time() - cpu
    out |= peak_mb(device)

    # On a shared CPU, wall time counts other people's work: extrapolate from CPU seconds (with
    # --threads 1 that is the wall time of one idle core). On a GPU, wall time.
    key = "_cpu_s" if device.type == "cpu" else "_s"
    per_sentence = out["extract" + key] / corpus.height
    out["full_extract_h"] = FULL["sentences"] * per_sentence / 3600
    out["full_plateaus_h"] = FULL["plateaus_curves"] * out["plateaus_sweep" + key] / 3600
    out["full_regions_h"] = FULL["regions_curves"] * out["regions_curve" + key] / 3600
    return out


def fidelity(lm, args, corpus, settings, tmp: Path) -> dict:
    """The same extraction in float32; per-layer max |diff| / sd and the worst layer's KS."""
    from scipy.stats import ks_2samp

    ref = load_model(args.one, entries(args), args.device, "float32")
    ref.tokenizer = lm.tokenizer
    extract_shards(corpus, ref, {**settings, "dtype": "float32"}, tmp / "float32")
    del ref
    worst = {"max_over_sd": 0.0, "p999_over_sd": 0.0, "ks": 0.0}
    for layer in range(lm.n_layers):
        a = np.load(tmp / "float32" / f"layer_{layer}.npy")
        b = np.load(tmp / args.dtype / f"layer_{layer}.npy")
        diff = np.abs(a - b)
        row = {
            "max_over_sd": float(diff.max() / a.std()),
            "p999_over_sd": float(np.quantile(diff, 0.999) / a.std()),
            "ks": float(ks_2samp(a.ravel(), b.ravel()).statistic),
        }
        worst = {k: max(worst[k], v) for k, v in row.items()}
    return worst


def table(rows: list[dict]) -> str:
    head = (
        f"{'model':<17} {'params':>7} {'load s':>6} {'sent':>5} {'tok/sent':>8} {'tok/s':>7} "
        f"{'tok/CPU-s':>9} "
        f"{'of GEMM':>7} {'sweep s':>7} {'curve s':>7} {'peak MB':>8} "
        f"{'24k extract h':>13} {'plateaus h':>10} {'regions h':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        peak = r.get("peak_gpu_mb", r["peak_rss_mb"])
        lines.append(
            f"{r['model']:<17} {r['params_m']:>6.0f}M {r['load_s']:>6.1f} {r['sentences']:>5} "
            f"{r['tokens'] / r['sentences']:>8.1f} {r['tokens_per_s']:>7.0f} "
            f"{r['tokens_per_cpu_s']:>9.0f} "
            f"{r['of_gemm']:>7.0%} {r['plateaus_sweep_s']:>7.2f} {r['regions_curve_s']:>7.2f} "
            f"{peak:>8.0f} {r['full_extract_h']:>13.2f} {r['full_plateaus_h']:>10.2f} "
            f"{r['full_regions_h']:>9.2f}"
        )
        if "fidelity" in r:
            f = r["fidelity"]
            lines.append(
                f"  {r['dtype']} vs float32, worst layer: max|diff|/sd {f['max_over_sd']:.3f}, "
                f"p99.9 |diff|/sd {f['p999_over_sd']:.4f}, KS {f['ks']:.4f}"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--sentences", type=int, default=300)
    p.add_argument(
        "--sentences-for",
        nargs="*",
        default=[],
        metavar="MODEL=N",
        help="per-model sentence counts (a slow CPU: fewer for the largest models)",
    )
    p.add_argument("--steps", type=int, default=100, help="perturbed vectors of the sweep")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch-size", default="32", help="extraction batch size, or auto (GPU)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dataset", default=str(REFERENCE), help="the reference JSON")
    p.add_argument("--tokenizer", default="bpe", help="bpe (SmolLM2's), byte, or a folder")
    p.add_argument("--fidelity", action="store_true", help="compare with a float32 extraction")
    p.add_argument("--json", help="append each model's row to this JSON-lines file")
    p.add_argument(
        "--from-snapshot",
        action="store_true",
        help="save each twin with save_pretrained first and time it loaded from that folder "
        "(source: local, the loading path and peak memory of trained weights)",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    p.add_argument("--snapshot", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.batch_size != "auto":
        args.batch_size = int(args.batch_size)
    if args.save:
        save_snapshot(args)
        return
    if args.one:
        print(json.dumps(one_model(args)), flush=True)
        return
    counts = dict(item.split("=") for item in args.sentences_for)
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = args.tokenizer
        if tokenizer == "bpe":
            tokenizer = str(Path(tmp) / "bpe")
            save_bpe(Path(tokenizer), config()["models"])
        for model in args.models:
            n = int(counts.get(model, args.sentences))
            cmd = [sys.executable, __file__, "--one", model, "--sentences", str(n)]
            for key in ("steps", "device", "dtype", "batch_size", "threads", "dataset"):
                cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
            cmd += ["--tokenizer", tokenizer] + (["--fidelity"] if args.fidelity else [])
            if args.from_snapshot:
                folder = str(Path(tmp) / model)
                save = [sys.executable, __file__, "--save", model, "--snapshot", folder]
                subprocess.run([*save, "--tokenizer", tokenizer], check=True)
                cmd += ["--snapshot", folder]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if args.from_snapshot:
                shutil.rmtree(folder)
            if proc.returncode != 0:
                print(f"{model}: failed\n{proc.stderr[-3000:]}", flush=True)
                failed.append(model)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(table([row]).splitlines()[-1 - ("fidelity" in row)], flush=True)
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    basis = "CPU seconds (one idle core)" if args.device == "cpu" else "wall time"
    if args.from_snapshot:
        basis += "; models loaded from save_pretrained folders (source: local)"
    print(
        f"\n{args.device}, {args.dtype}, {args.threads} threads, extrapolated from {basis}; "
        f"load average {os.getloadavg()[0]:.1f}; full scale = "
        f"{FULL['sentences']:,} sentences, {FULL['plateaus_curves']:,} plateaus sweeps of "
        f"{args.steps} vectors, {FULL['regions_curves']:,} regions curves of "
        f"{REGION_STEPS} x {len(REGION_PATHS)} points"
    )
    print(table(rows))
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
