"""Files of the distributions stage (no heavy imports: the Snakefile plans with this module)."""

from __future__ import annotations

DIR = "results/distributions/{dataset}/{model}"
FITS = f"{DIR}/fits/layer_{{layer}}.parquet"
MODES = f"{DIR}/modes/layer_{{layer}}.parquet"
TABLES = ("family_shares", "criteria", "tails_by_layer", "modes_by_layer", "modes_by_attribute")
FIGURES = ("family_shares", "modes_by_layer", "secondary_modes_by_attribute", "fit_example")
FINDINGS = f"{DIR}/findings.parquet"
SELF_CHECK = f"{DIR}/self_check.parquet"
STAGE_FINDINGS = "results/distributions/findings.parquet"
FITS_SETTINGS = (
    "families",
    "hist_bins",
    "bin_width_sd",
    "min_values",
    "tail_points",
    "tail_from_sd",
    "tail_to_sd",
    "tail_log_fit",
    "procedure",
)
# the self-check fits with the fit settings and draws its samples by `self_check`
SELF_CHECK_SETTINGS = (*FITS_SETTINGS, "self_check")
MODES_SETTINGS = (
    "kde_bw_factor",
    "kde_grid_points",
    "peak_prominence",
    "peak_distance",
    "min_values",
)


def table(name: str) -> str:
    return f"{DIR}/{name}.parquet"


def figure(name: str) -> str:
    return f"{DIR}/{name}.png"


def layers(config: dict, n_layers: int) -> list[int]:
    """The layers the atlas covers: distributions.layers, or all."""
    chosen = config["distributions"]["layers"]
    return [layer for layer in range(n_layers) if chosen == "all" or layer in chosen]


def figure_layer(config: dict, n_layers: int) -> int:
    """The layer of the example-fit figure: distributions.figure_layer, else the middle one."""
    covered = layers(config, n_layers)
    chosen = config["distributions"]["figure_layer"]
    return chosen if chosen in covered else covered[len(covered) // 2]


def targets(config: dict) -> list[str]:
    return [
        FINDINGS.format(dataset=dataset, model=model)
        for dataset in config["atlas"]["datasets"]
        for model in config["atlas"]["models"]
    ] + [STAGE_FINDINGS]
