"""The tiny config through a real single-node SLURM cluster (tests/slurm/run_slurm_test.sh):
every table and array equals the local run's (the session fixture tiny_run).

Runs where SLURM's daemons are installed and the test runs as root (CI: .ci/run installs
slurmctld, slurmd, slurm-client and munge), skips elsewhere with the reason.
RESID_ATLAS_SLURM_TEST=1 makes a missing SLURM a failure; RESID_ATLAS_SLURM_TEST=0 skips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import ROOT

SCRIPT = ROOT / "tests" / "slurm" / "run_slurm_test.sh"
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
INSTALL = "apt-get install -y slurmctld slurmd slurm-client munge (as .ci/run does)"
# Files whose bytes legitimately differ between two runs (none of them results), and JSON keys
# that record how long a step took.
SKIP_SUFFIXES = (".log", ".png", ".gif", ".html", ".duckdb")
TIMING_KEYS = {"timings", "seconds"}


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    return value


def slurm_problem() -> str | None:
    """Why this machine cannot run the test (None: it can)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"SLURM is not installed (no {', '.join(missing)}); {INSTALL}"
    if os.geteuid() != 0:
        return "starting slurmd/slurmctld/munged needs root"
    return None


FLAG = os.environ.get("RESID_ATLAS_SLURM_TEST", "")
PROBLEM = slurm_problem()
# Decided at collection, so a skipped test never builds the tiny_run fixture.
SKIP = "RESID_ATLAS_SLURM_TEST=0" if FLAG == "0" else (None if FLAG == "1" else PROBLEM)


def result_files(run: Path) -> dict[str, Path]:
    """The run's results, without results/logs and results/benchmarks (each job's log and its
    timings, which differ from run to run)."""
    results = run / "results"
    return {
        str(path.relative_to(results)): path
        for path in sorted(results.rglob("*"))
        if path.is_file() and path.relative_to(results).parts[0] not in ("logs", "benchmarks")
    }


def assert_same_file(name: str, ours: Path, theirs: Path) -> None:
    if name.endswith(".parquet"):
        assert_frame_equal(pl.read_parquet(ours), pl.read_parquet(theirs), check_exact=True)
    elif name.endswith(".npy"):
        np.testing.assert_array_equal(np.load(ours), np.load(theirs), err_msg=name)
    elif name.endswith(".json"):
        mine, local = (without_timings(json.loads(p.read_text())) for p in (ours, theirs))
        assert mine == local, name
    elif not name.endswith(SKIP_SUFFIXES):
        assert ours.read_bytes() == theirs.read_bytes(), name


@pytest.mark.slurm
@pytest.mark.workflow
@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_tiny_config_through_slurm_equals_the_local_run(tiny_run, tmp_path):
    if PROBLEM:
        pytest.fail(f"RESID_ATLAS_SLURM_TEST=1 but {PROBLEM}")
    run = tmp_path / "slurm-run"
    run.mkdir()
    for name in ("config", "resources", "tests", "profiles"):
        (run / name).symlink_to(ROOT / name)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("RESID_ATLAS_SLURM_TIMEOUT", "1500")
    start = time.monotonic()
    proc = subprocess.run(
        [str(SCRIPT), str(run)], env=env, capture_output=True, text=True, timeout=1800
    )
    wall = time.monotonic() - start
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    # Every job really went through SLURM: the executor leaves a log per SLURM job id.
    slurm_logs = list((run / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert slurm_logs or "submitted with SLURM jobid" in proc.stdout + proc.stderr
    ours, theirs = result_files(run), result_files(tiny_run)
    assert sorted(ours) == sorted(theirs)
    for name, path in ours.items():
        assert_same_file(name, path, theirs[name])
    print(f"SLURM run of the tiny config: {wall:.0f} s wall, {len(ours)} result files equal")
