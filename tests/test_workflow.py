"""The workflow itself: planning, lint, format, and a tiny end-to-end run."""

import numpy as np
import polars as pl
import pytest

from conftest import ROOT, snakemake

pytestmark = pytest.mark.workflow


def test_default_target_plans(workdir):
    out = snakemake("-n", "--quiet", "rules", cwd=workdir).stdout
    assert "extract_smollm2_135m" in out and "ingest" in out


def test_one_shard_plans_only_ingest_and_extraction(workdir):
    out = snakemake(
        "-n",
        "--quiet",
        "rules",
        "results/corpus/smollm2-135m/activations/layer_12.npy",
        cwd=workdir,
    ).stdout
    rules = {
        line.split()[0]
        for line in out.splitlines()
        if line and line.split()[0] in {"ingest", "extract_smollm2_135m", "all", "total"}
    }
    assert rules == {"ingest", "extract_smollm2_135m", "total"}
    assert "all " not in out


def test_lint_is_clean():
    proc = snakemake("--lint", "--configfile", "config/tiny.yaml", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    import subprocess
    import sys
    from pathlib import Path

    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tiny_end_to_end(tiny_run):
    corpus = pl.read_parquet(tiny_run / "results/tiny/corpus.parquet")
    assert corpus.height == 48
    acts = tiny_run / "results/tiny/tiny-llama/activations"
    for layer in range(3):
        shard = np.load(acts / f"layer_{layer}.npy")
        assert shard.shape == (48, 64) and np.isfinite(shard).all()
    index = pl.read_parquet(acts / "index.parquet")
    assert index["id"].to_list() == corpus["id"].to_list()
    assert (tiny_run / "results/logs/tiny/tiny-llama/extract-activations.log").exists()
    again = snakemake("-n", "--configfile", "config/tiny.yaml", cwd=tiny_run).stdout
    assert "Nothing to be done" in again
