"""bench/memory.py: Snakemake's job printout -> (rule, declared mem_mb) per log file, and the
table's over-declaration check."""

import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "memory.py")
memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory)

PRINTOUT = """
localrule corpus_validate:
    input: tests/data/tiny_corpus.csv
    output: results/tiny/violations.parquet
    log: results/logs/tiny/validate.log
    jobid: 3
    wildcards: dataset=tiny
    resources: tmpdir=/tmp
Shell command: python -m resid_atlas validate --name tiny ... 2> results/logs/tiny/validate.log

rule fits:
    input: results/tiny/tiny-llama/activations/layer_1.npy
    output: results/tiny/tiny-llama/fits/layer_1.parquet
    log: results/logs/tiny/tiny-llama/fits/layer_1.log
    jobid: 12
    threads: 1
    resources: tmpdir=/tmp, mem_mb=3000, mem_mib=2862
Shell command: OMP_NUM_THREADS=1 python -m resid_atlas fits ...
"""


def test_printout_maps_logs_to_rules_and_declared_memory():
    jobs = memory.jobs_from_printout(PRINTOUT)
    assert jobs == {
        "results/logs/tiny/validate.log": ("corpus_validate", None),
        "results/logs/tiny/tiny-llama/fits/layer_1.log": ("fits", 3000),
    }


def test_table_flags_a_job_over_its_declaration():
    rows = [
        {"rule": "fits", "peak_mb": 166.0, "mem_mb": 3000, "cpu_s": 1.0, "wall_s": 1.0},
        {"rule": "fits", "peak_mb": 3100.0, "mem_mb": 3000, "cpu_s": 1.0, "wall_s": 1.0},
        {"rule": "ingest", "peak_mb": 100.0, "mem_mb": None, "cpu_s": 0.3, "wall_s": 0.3},
    ]
    text, over = memory.table(rows)
    assert over == ["fits"]
    assert "| fits | 2 | 3100 | 3000 | 1.03 |" in text and "| ingest | 1 | 100 | - | - |" in text
