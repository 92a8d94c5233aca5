"""Files of the plateaus stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/plateaus/{model}"
CURVES = f"{DIR}/curves/{{condition}}.parquet"
SWEEP = {
    "triangle": f"{DIR}/triangle.parquet",
    "prompts": f"{DIR}/prompts.parquet",
    "reference": f"{DIR}/reference.npz",
    "meta": f"{DIR}/reference.json",
}
SUMMARY = {
    "thresholds": f"{DIR}/thresholds.parquet",
    "triangle_crossings": f"{DIR}/triangle_crossings.parquet",
    "summary": f"{DIR}/summary.parquet",
}
FIGURES = ("kl_curves", "l2_curves", "thresholds", "triangle")
STAGE_FINDINGS = "results/plateaus/findings.parquet"
SWEEP_SETTINGS = (
    "prompt_length",
    "prepend_bos",
    "site_layer",
    "readout_layer",
    "reference_prompts",
    "centring",
    "curves",
    "steps",
    "conditions",
    "triangle",
    "seed",
    "device",
    "batch_size",
)
SUMMARY_SETTINGS = ("threshold", "plateau_kl", "seed", "bootstrap")
FINDINGS_SETTINGS = ("seed", "conditions", "bootstrap")


def figure(name: str) -> str:
    return f"{DIR}/figures/{name}.png"


def curves(config: dict) -> list[str]:
    return [CURVES.replace("{condition}", c) for c in config["plateaus"]["conditions"]]


def targets(config: dict) -> list[str]:
    models = config["plateaus"]["models"]
    if not models:
        return []
    per_model = [
        path.format(model=model)
        for model in models
        for path in [*curves(config), SWEEP["triangle"], *SUMMARY.values(), *map(figure, FIGURES)]
    ]
    return [*per_model, STAGE_FINDINGS]
