"""The results layout every stage follows (docs/architecture.md): `results/<stage>/...` for
outputs, and a log (and, for jobs that run a model, a Snakemake benchmark) that mirrors the
output it belongs to, so a log is found from its output by swapping the first folder."""

from __future__ import annotations


def _mirror(output: str, root: str, suffix: str) -> str:
    stem = output.removeprefix("results/").rsplit(".", 1)[0]
    return f"results/{root}/{stem}{suffix}"


def log_of(output: str) -> str:
    """results/<stage>/a/b.parquet -> results/logs/<stage>/a/b.log"""
    return _mirror(output, "logs", ".log")


def benchmark_of(output: str) -> str:
    """results/<stage>/a/b.parquet -> results/benchmarks/<stage>/a/b.tsv (Snakemake's format)."""
    return _mirror(output, "benchmarks", ".tsv")


def pick(section: dict, keys) -> dict:
    """The config keys one job depends on: its params, so a change reruns exactly those jobs."""
    return {key: section[key] for key in keys}
