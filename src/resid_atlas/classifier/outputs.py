"""Files of the classifier stage (no heavy imports: the Snakefile plans with this module).

The main run reads the configured protocol's shards; the Japanese pooling control re-runs the
control variants on the `last` protocol's shards in control-last/."""

from __future__ import annotations

DIR = "results/classifier/{dataset}/{model}"
RUNS = {"main": DIR, "control": f"{DIR}/control-last"}
TABLES = ("predictions", "confusion", "metrics", "accuracy", "sinks")
FIGURES = ("confusion", "f1")
SUMMARY = ("summary", "japanese_control", "findings")
STAGE_FINDINGS = "results/classifier/findings.parquet"


def variants(config: dict, run: str) -> list[str]:
    c = config["classifier"]
    return [*c["variants"], "logreg"] if run == "main" else list(c["control_variants"])


def variant_file(run: str, variant: str, name: str) -> str:
    return f"{RUNS[run]}/{variant}/{name}"


def run_file(run: str, name: str) -> str:
    return f"{RUNS[run]}/{name}"


def tables(config: dict, run: str) -> list[str]:
    return [
        variant_file(run, v, f"{name}.parquet") for v in variants(config, run) for name in TABLES
    ]


def figures(config: dict, run: str) -> list[str]:
    return [variant_file(run, v, f"{name}.png") for v in variants(config, run) for name in FIGURES]


def summary(name: str) -> str:
    return f"{DIR}/{name}.parquet"


def targets(config: dict) -> list[str]:
    return [
        summary(name).format(dataset=dataset, model=model)
        for dataset in config["atlas"]["datasets"]
        for model in config["atlas"]["models"]
        for name in SUMMARY
    ] + [STAGE_FINDINGS]
