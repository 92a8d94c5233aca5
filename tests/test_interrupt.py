"""Hardening (docs/hardening.md), interruption: jobs killed with SIGKILL mid-run, then the usual
rerun
(`snakemake --unlock` where Snakemake itself died, then the same command; the default profile
sets rerun-incomplete) must end with tables identical to an uninterrupted run's, and nothing
else left under results/.

Two interruption points on the distribution atlas of the tiny config:
1. the extraction job alone (as the kernel's out-of-memory killer does), while its layer shards
   are being written (their temporary files exist): Snakemake records the failure;
2. a fits job together with Snakemake (a lost node, a hard ^C): the job's output is then made to
   look half-written, and a dead writer's temporary file is planted beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import psutil
import pytest
from hardening import run_snakemake

from conftest import ROOT

pytestmark = pytest.mark.workflow

TARGET = "results/distributions/tiny/tiny-llama/findings.parquet"
ACTS = "results/activations/tiny/tiny-llama/seed"
DISTRIBUTIONS = "results/distributions/tiny/tiny-llama"


def start(workdir: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    cmd += [TARGET, "--configfile", "config/tiny.yaml"]
    log = open(workdir / "interrupted.out", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(proc: subprocess.Popen, found, what: str, timeout: float = 300.0):
    """Poll (every 5 ms) until `found()` returns something; fail if Snakemake ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hit = found()
        if hit:
            return hit
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended (exit {proc.returncode}) before {what}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def job_process(proc: subprocess.Popen, command: str, *words: str) -> psutil.Process | None:
    """The `python -m resid_atlas <stage> <command> ...` process (with `words` among its
    arguments) among Snakemake's descendants."""
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        if "resid_atlas" in argv and command in argv and all(w in argv for w in words):
            return child
    return None


def kill_when(job: psutil.Process, condition, timeout: float = 300.0) -> None:
    """Run `job` in slices of ~2 ms (SIGCONT ... SIGSTOP) and SIGKILL it, while stopped, the
    first time `condition()` holds: a kill at a chosen point however fast the machine is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.suspend()
        if condition():
            job.kill()
            return
        job.resume()
        time.sleep(0.002)
    raise AssertionError("timed out stepping the job")


def temporaries(workdir: Path) -> list[str]:
    return sorted(
        p.relative_to(workdir).as_posix()
        for p in (workdir / "results").rglob(".*")
        if p.is_file() and ".tmp" in p.name
    )


def test_killed_jobs_rerun_to_identical_tables(workdir, tiny_run):
    # 1. SIGKILL the extraction job while its shards are being written.
    proc = start(workdir)
    acts = workdir / ACTS
    job = wait_for(proc, lambda: job_process(proc, "extract"), "the extraction process")
    kill_when(job, lambda: list(acts.glob(".layer_*.npy.tmp-*")))
    assert proc.wait(timeout=120) != 0
    assert not list(acts.glob("layer_*.npy")), "a killed extraction left shards"
    assert not (acts / "index.parquet").exists() and not (acts / "meta.json").exists()
    stale = temporaries(workdir)
    assert stale, "expected the killed writer's temporary shards (they are swept on the rerun)"

    # 2. Rerun; SIGKILL Snakemake and the fits job of layer 1 together while that job runs
    #    (stopped first, so it cannot finish its write before the kill lands).
    proc = start(workdir)
    job = wait_for(proc, lambda: job_process(proc, "fits", "1"), "the fits job of layer 1")
    job.suspend()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    psutil.wait_procs([job], timeout=30)
    for name in ("layer_0", "layer_1", "layer_2"):
        assert (acts / f"{name}.npy").exists(), "the extraction finished before the fits"
    assert not set(stale) & set(temporaries(workdir)), "the rerun kept a dead writer's files"
    # What a writer killed mid-write leaves: a truncated output and its temporary file.
    fits = workdir / DISTRIBUTIONS / "fits"
    fits.mkdir(parents=True, exist_ok=True)
    (fits / "layer_1.parquet").write_bytes(b"PAR1 half a table")
    (fits / f".layer_1.parquet.tmp-{job.pid}").write_bytes(b"PAR1 half")

    # 3. The usual rerun: unlock (Snakemake itself was killed), then the same command.
    run_snakemake(workdir, "--unlock", "--configfile", "config/tiny.yaml")
    proc = run_snakemake(workdir, "--cores", "2", TARGET, "--configfile", "config/tiny.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"output: {DISTRIBUTIONS}/fits/layer_1.parquet" in proc.stdout + proc.stderr
    assert not temporaries(workdir), "temporary files left after the rerun"

    # 4. Identical to the uninterrupted run: shards, index and every distribution table.
    for layer in range(3):
        a = np.load(workdir / ACTS / f"layer_{layer}.npy")
        b = np.load(tiny_run / ACTS / f"layer_{layer}.npy")
        assert np.array_equal(a, b), f"layer_{layer}.npy differs"
    tables = [
        f"{ACTS}/index.parquet",
        *(
            f"{DISTRIBUTIONS}/{kind}/layer_{i}.parquet"
            for kind in ("fits", "modes")
            for i in range(3)
        ),
        *(p.relative_to(tiny_run).as_posix() for p in (tiny_run / DISTRIBUTIONS).glob("*.parquet")),
    ]
    assert len(tables) >= 7 + 6
    for table in tables:
        a = pl.read_parquet(workdir / table)
        b = pl.read_parquet(tiny_run / table)
        assert a.equals(b), f"{table} differs from the uninterrupted run's"
