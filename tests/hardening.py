"""Helpers of the hardening suite (tests/test_bad_*.py, test_interrupt.py, test_reruns.py): run
the command line and Snakemake the way a user does, and check what a refusal looks like."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from conftest import ROOT, merge, snakemake

MESSAGE = "resid-atlas: error:"


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """`python -m resid_atlas ...` in a subprocess, with the package on its path."""
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [environ.get("PYTHONPATH")])]
    )
    cmd = [sys.executable, "-m", "resid_atlas", *args]
    return subprocess.run(
        cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )


def plan(workdir: Path, *targets: str, config: dict | None = None, env: dict | None = None):
    """`snakemake -n [targets] --configfile config/tiny.yaml [extra.yaml]` (the targets go first:
    --configfile takes every word after it)."""
    files = ["config/tiny.yaml"]
    if config is not None:
        (workdir / "extra.yaml").write_text(yaml.safe_dump(config))
        files.append("extra.yaml")
    return run_snakemake(workdir, "-n", *targets, "--configfile", *files, env=env)


def run_snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 600):
    if env is None:
        return snakemake(*args, cwd=workdir, check=False, timeout=timeout)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return snakemake(*args, cwd=workdir, check=False, timeout=timeout)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def leftovers(workdir: Path) -> list[str]:
    """Files under results/ a refused run must not leave: anything but the job logs, and any
    temporary file (logs included)."""
    results = workdir / "results"
    if not results.exists():
        return []
    found = []
    for path in results.rglob("*"):
        rel = path.relative_to(workdir).as_posix()
        if path.is_file() and (not rel.startswith("results/logs/") or ".tmp" in path.name):
            found.append(rel)
    return sorted(found)


def assert_refused(proc, *fragments: str, workdir: Path | None = None, allowed=()) -> str:
    """A refusal: non-zero exit, exactly one `resid-atlas: error:` message containing every
    fragment, no traceback, and (with `workdir`) nothing left under results/ but logs and the
    `allowed` files. Returns the message."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"exit 0, expected a refusal:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-4000:]
    assert out.count(MESSAGE) == 1, f"expected one '{MESSAGE}' message:\n{out[-4000:]}"
    message = out[out.index(MESSAGE) :]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the message:\n{message[:2000]}"
    if workdir is not None:
        left = [p for p in leftovers(workdir) if p not in allowed]
        assert not left, f"left behind: {left}"
    return message


def tiny_config() -> dict:
    from resid_atlas.core.config import validate_config

    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    tiny = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    return validate_config(merge(base, tiny))


def tiny_corpus() -> pl.DataFrame:
    from resid_atlas.corpus.ingest import build_corpus

    spec = dict(tiny_config()["datasets"]["tiny"])
    spec["path"] = str(ROOT / spec["path"])
    return build_corpus(spec, "tiny")


def fake_activations(folder: Path, n_layers: int = 3, d: int = 16, seed: int = 0) -> np.ndarray:
    """An activation folder shaped like an extraction's (index.parquet + layer_<L>.npy) over
    the tiny corpus, with seeded Gaussian values; returns the [L, n, d] array written."""
    from resid_atlas.activations.extract import INDEX_SCHEMA

    corpus = tiny_corpus()
    n = corpus.height
    index = corpus.with_columns(
        row=pl.int_range(n, dtype=pl.Int32),
        n_tokens=pl.lit(10, dtype=pl.Int32),
        truncated=pl.lit(False),
    )
    folder.mkdir(parents=True, exist_ok=True)
    index.select(list(INDEX_SCHEMA)).cast(INDEX_SCHEMA).write_parquet(folder / "index.parquet")
    values = np.random.default_rng(seed).standard_normal((n_layers, n, d)).astype(np.float32)
    for layer in range(n_layers):
        np.save(folder / f"layer_{layer}.npy", values[layer])
    write_meta(folder, n_layers, d, n)
    return values


def write_meta(folder: Path, n_layers: int, d_model: int, n_sentences: int) -> None:
    """The fields of an extraction's meta.json that activations/shards.py checks shards with."""
    meta = {"n_layers": n_layers, "d_model": d_model, "n_sentences": n_sentences}
    (folder / "meta.json").write_text(json.dumps(meta))


def settings(stage: str) -> str:
    """The JSON settings a rule passes to `stage`'s command, picked from the tiny config the
    way the rules pick them (distributions/outputs.py)."""
    from resid_atlas.distributions.outputs import FITS_SETTINGS, MODES_SETTINGS

    config = tiny_config()
    d = config["distributions"]
    if stage == "fits":
        value = {k: d[k] for k in FITS_SETTINGS}
    elif stage == "modes":
        value = {k: d[k] for k in MODES_SETTINGS}
    else:
        value = config[stage]
    return json.dumps(value, sort_keys=True)
