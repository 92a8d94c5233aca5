"""The workflow itself: planning, lint, format, and a tiny end-to-end run."""

import numpy as np
import polars as pl
import pytest

from conftest import ROOT, snakemake

pytestmark = pytest.mark.workflow


def planned_rules(stdout: str) -> set[str]:
    """Rule names of the job-stats table that `snakemake -n --quiet rules` prints."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["job", "count"])
    rules = set()
    for line in lines[start + 2 :]:
        if not line.strip() or line.split()[0] == "total":
            break
        rules.add(line.split()[0])
    return rules


def test_default_target_plans(workdir):
    rules = planned_rules(snakemake("-n", "--quiet", "rules", cwd=workdir).stdout)
    assert {"all", "corpus_ingest", "activations_extract_smollm2_135m"} <= rules


def test_one_shard_plans_only_ingest_and_extraction(workdir):
    target = "results/activations/corpus/smollm2-135m/seed/layer_12.npy"
    rules = planned_rules(snakemake("-n", target, "--quiet", "rules", cwd=workdir).stdout)
    # The corpus stage (ingest, validation) and this model's extraction: nothing else.
    assert "activations_extract_smollm2_135m" in rules and "corpus_ingest" in rules
    assert rules - {"activations_extract_smollm2_135m"} <= {"corpus_ingest", "corpus_validate"}


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
    corpus = pl.read_parquet(tiny_run / "results/corpus/tiny/corpus.parquet")
    assert corpus.height == 48
    acts = tiny_run / "results/activations/tiny/tiny-llama/seed"
    for layer in range(3):
        shard = np.load(acts / f"layer_{layer}.npy")
        assert shard.shape == (48, 64) and np.isfinite(shard).all()
    index = pl.read_parquet(acts / "index.parquet")
    assert index["id"].to_list() == corpus["id"].to_list()
    assert (tiny_run / "results/logs/activations/tiny/tiny-llama/seed/index.log").exists()
    again = snakemake("-n", "--configfile", "config/tiny.yaml", cwd=tiny_run).stdout
    assert "Nothing to be done" in again
