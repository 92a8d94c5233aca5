"""Hardening (docs/hardening.md), determinism and idempotence of the tiny config.

- Two clean runs (the shared tiny_run and one here, both `--cores 2`, so every job gets the same
  threads) write identical tables: every Parquet file equal (sorted where row order is not part
  of the table's definition), every activation shard bitwise equal, every JSON record equal but
  for the fields that say how fast a run went (VOLATILE below). Floats are bitwise equal only
  for equal thread counts: docs/hardening.md ("Determinism") gives the measured differences
  across thread counts, why, and how the rules pin the threads.
- After a full run `snakemake -n` has nothing to do; changing one analysis's config key plans
  only that analysis's jobs (and the report that reads them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hardening import run_snakemake
from test_workflow import planned_rules

from conftest import snakemake

pytestmark = pytest.mark.workflow

# JSON fields that record how a run went, not its results: timings (classifier `seconds`,
# regions `timings`) and the thread count the job was given (regions `torch_threads`, equal
# here; listed for runs compared across machines).
VOLATILE = {"seconds", "timings", "torch_threads"}


@pytest.fixture(scope="module")
def second_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("second-run")
    for name in ("config", "resources", "tests", "profiles"):
        (path / name).symlink_to(Path(__file__).resolve().parents[1] / name)
    snakemake("--cores", "2", "--configfile", "config/tiny.yaml", cwd=path)
    return path


def files(root: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "results").rglob(pattern))


def same_table(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    if a.equals(b):
        return True
    if a.schema != b.schema or a.height != b.height:
        return False
    keys = [c for c, t in a.schema.items() if not isinstance(t, (pl.List, pl.Struct, pl.Array))]
    return a.sort(keys, nulls_last=True).equals(b.sort(keys, nulls_last=True))


def first_difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.schema != b.schema:
        return f"schemas differ: {a.schema} vs {b.schema}"
    if a.height != b.height:
        return f"{a.height} vs {b.height} rows"
    for column in a.columns:
        if not a[column].equals(b[column]):
            diff = (a[column] != b[column]).fill_null(True)
            return f"column {column}: {a.filter(diff).head(2)} vs {b.filter(diff).head(2)}"
    return "row order"


def scrub(value):
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def test_two_clean_runs_write_identical_tables(tiny_run, second_run):
    tables = files(tiny_run, "*.parquet")
    assert tables == files(second_run, "*.parquet")
    assert len(tables) > 60
    differ = {}
    for table in tables:
        a, b = pl.read_parquet(tiny_run / table), pl.read_parquet(second_run / table)
        if not same_table(a, b):
            differ[table] = first_difference(a, b)
    assert not differ, "tables differ between two clean runs:\n" + "\n".join(
        f"{k}: {v}" for k, v in differ.items()
    )


def test_two_clean_runs_write_identical_shards_and_records(tiny_run, second_run):
    shards = files(tiny_run, "*.npy")
    assert shards == files(second_run, "*.npy") and len(shards) >= 6
    for shard in shards:
        assert np.array_equal(np.load(tiny_run / shard), np.load(second_run / shard)), shard
    for record in files(tiny_run, "*.json"):
        a = json.loads((tiny_run / record).read_text())
        b = json.loads((second_run / record).read_text())
        assert scrub(a) == scrub(b), record


def test_nothing_to_do_after_a_full_run(second_run):
    proc = snakemake("-n", "--configfile", "config/tiny.yaml", cwd=second_run)
    assert "Nothing to be done" in proc.stdout + proc.stderr


CHANGES = {
    "plateaus threshold": (
        "plateaus:\n  threshold: 0.01\n",
        {"plateaus_summary"},
        {"plateaus_summary", "plateaus_findings"},
    ),
    "regions bootstrap": (
        "regions:\n  bootstrap: 300\n",
        {"regions_curves"},
        {"regions_curves", "regions_summary"},
    ),
    "geometry alpha": (
        "geometry:\n  alpha: 0.01\n",
        {"geometry_summary", "geometry_modes"},
        {"geometry_summary", "geometry_modes", "geometry_findings"},
    ),
    "kde grid": (
        "distributions:\n  kde_grid_points: 300\n",
        {"distributions_modes", "distributions_summary"},
        {
            "distributions_modes",
            "distributions_summary",
            "distributions_findings",
            "geometry_modes",
            "geometry_findings",
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_one_key_reruns_only_its_analysis(second_run, case):
    text, must, may = CHANGES[case]
    (second_run / "change.yaml").write_text(text)
    proc = run_snakemake(
        second_run, "-n", "--quiet", "rules", "--configfile", "config/tiny.yaml", "change.yaml"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = planned_rules(proc.stdout) - {"all"}
    # The report reads every analysis's tables, so it follows any change.
    assert must <= rules <= may | {"report_build"}, rules
