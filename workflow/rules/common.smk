# Shared set-up: config validation, the package on the jobs' path, and input functions.
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# Jobs run `python -m resid_atlas`: put the package on their path, locally and on cluster nodes
# (which re-read this file), without requiring an install. Snakemake formats the prefix, so the
# doubled braces reach the shell as single ones.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    + shlex.quote(SRC)
    + "${{PYTHONPATH:+:$PYTHONPATH}}; "
)

from resid_atlas.core.config import validate_config
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import n_layers
from resid_atlas.facts.outputs import FIGURES as FACTS_FIGURES
from resid_atlas.facts.outputs import TABLES as FACTS_TABLES


def stop(error):
    """A user-fixable problem found while planning: one message naming the key or file and the
    fix, exit status 1, no traceback (the jobs' AtlasErrors print the same way)."""
    print(f"resid-atlas: error: {error}", file=sys.stderr)
    raise SystemExit(1)


try:
    validate_config(
        config,
        where=f"config ({', '.join(map(os.path.relpath, workflow.configfiles))})",
    )
except AtlasError as exc:
    stop(exc)

ENV = "../../envs/resid-atlas.yaml"
NAME = "[A-Za-z0-9][A-Za-z0-9._-]*"


def all_targets(wildcards):
    """The default targets: every analysis, then the cross-model report over them."""
    return analysis_targets(wildcards) + report_targets()


def analysis_targets(wildcards):
    """Each analysis contributes its target function here."""
    try:
        return _analysis_targets()
    except AtlasError as exc:
        stop(exc)


def _analysis_targets():
    return [
        path
        for targets in (
            corpus_targets,
            activation_targets,
            regions_targets,
            plateaus_targets,
            distribution_targets,
            geometry_targets,
            facts_targets,
            classifier_targets,
        )
        for path in targets()
    ]


def as_json(value):
    """A config fragment for a job's command line (params, so a change reruns the job)."""
    return json.dumps(value, sort_keys=True)


def model_entries(model):
    """The entry of `model` plus the one its `like:` points to: all a job needs to load it."""
    entry = config["models"][model]
    entries = {model: entry}
    if "like" in entry:
        entries[entry["like"]] = config["models"][entry["like"]]
    return entries


def layers(model):
    try:
        return range(n_layers(model, config["models"]))
    except AtlasError as exc:
        stop(exc)


def atlas_pairs():
    """(dataset, model) pairs that get activation shards and the per-layer analyses."""
    return [
        (d, m) for d in config["atlas"]["datasets"] for m in config["atlas"]["models"]
    ]


def shard(dataset, model, layer, acts="activations"):
    return f"results/{dataset}/{model}/{acts}/layer_{layer}.npy"


# --- planning guards (guards.smk): "nothing makes this file" as one message with the fix ------
SHARD_PATH = r"results/([^/]+)/([^/]+)/(activations(?:-[^/]*)?)/layer_(\d+)\.npy"


def shard_problem(path):
    """Why an activation shard that no extraction rule makes cannot exist, or None."""
    import re

    found = re.fullmatch(SHARD_PATH, path)
    if not found:
        return None
    dataset, model, acts, layer = found.groups()
    protocol = acts.partition("-")[2]
    if dataset not in config["datasets"]:
        return (
            f"'{dataset}' is not a dataset entry of the config; use one of: "
            f"{', '.join(sorted(config['datasets']))}, or add it under datasets:."
        )
    if model not in config["models"]:
        return (
            f"'{model}' is not a model entry of the config; use one of: "
            f"{', '.join(sorted(config['models']))}, or add it under models:."
        )
    if protocol not in ("", "seed", "last", "mean"):
        return (
            f"'{acts}' names the protocol '{protocol}'; activation folders are activations/ "
            "(the configured protocol) or activations-seed, -last, -mean."
        )
    n = len(layers(model))
    if int(layer) >= n:
        return (
            f"model '{model}' has {n} layers, layer_0 .. layer_{n - 1}; ask for one of those "
            "(the per-layer files of every analysis are numbered the same way)."
        )
    return None


def no_rule_guard(wildcards):
    """Input of guards.smk's catch-all: a path under results/ that no rule's output pattern
    matches (see unclaimed_paths). Stop with the reason (a shard's layer, model, dataset or
    protocol folder that does not exist) or the close matches among the config's targets.
    """
    import difflib

    path = f"results/{wildcards.path}"
    if Path(path).exists():  # a file placed by hand: nothing to make
        return UNMAKEABLE
    problem = shard_problem(path)
    if problem:
        stop(f"{path}: {problem}")
    known = analysis_targets(wildcards) + report_targets()
    close = difflib.get_close_matches(path, known, n=3, cutoff=0.75)
    stop(
        f"{path}: no rule makes this file"
        + (f"; did you mean {' or '.join(close)}?" if close else ".")
        + " `snakemake -n` lists what the config makes; docs/<stage>.md describe each output."
    )


UNMAKEABLE = ".resid-atlas-guard/no-such-file"


def unclaimed_paths():
    """Wildcard constraint of the catch-all: the paths under results/ that match no output or
    log pattern of any other rule, so the guard is never a candidate beside a real rule (and
    never adds its own line to Snakemake's report of why a real rule cannot run). guards.smk
    is included last, so every other rule exists when this runs."""
    import re

    claimed = []
    for other in workflow.rules:
        if other.name.startswith("no_rule"):
            continue
        for product in other.products():
            pattern = product.regex().pattern.removesuffix("$")
            if not pattern.startswith("results/"):
                continue
            pattern = re.sub(r"\(\?P<\w+>", "(?:", pattern.removeprefix("results/"))
            claimed.append(re.sub(r"\(\?P=\w+\)", "(?:.+)", pattern))
    return f"(?!(?:{'|'.join(claimed)})$).+"


def dataset_inputs(wildcards):
    """The files a dataset reads; a levinson-2024 entry without path: reads the download."""
    from resid_atlas.corpus.download import dataset_files

    if wildcards.dataset not in config["datasets"]:
        stop(
            f"results/{wildcards.dataset}/: '{wildcards.dataset}' is not a dataset entry of the "
            f"config; use one of: {', '.join(sorted(config['datasets']))}, or add it under datasets:."
        )
    return [p for p in dataset_files(config["datasets"][wildcards.dataset]) if p]


def reference_users():
    """Dataset entries that read the downloaded reference files (for the download's message)."""
    return [
        name
        for name, spec in config["datasets"].items()
        if spec["source"] == "levinson-2024" and "path" not in spec
    ]


def summary_models():
    """Tokenizers the corpus summary counts with: corpus.summary_models, else atlas.models."""
    return config["corpus"]["summary_models"] or config["atlas"]["models"]


def summary_model_entries():
    return as_json(
        {k: v for m in summary_models() for k, v in model_entries(m).items()}
    )


def corpus_targets():
    return [
        f"results/{dataset}/{name}"
        for dataset in config["atlas"]["datasets"]
        for name in (
            "corpus_summary.parquet",
            "corpus_summary.png",
            "corpus_findings.parquet",
        )
    ]


def extract_protocol(wildcards):
    """`activations-<protocol>` directories re-extract under another protocol (controls)."""
    return f"--protocol {wildcards.acts.split('-')[1]}" if "-" in wildcards.acts else ""


def activation_targets():
    return [
        path
        for dataset, model in atlas_pairs()
        for path in [
            f"results/{dataset}/{model}/activations/index.parquet",
            f"results/{dataset}/{model}/activations/meta.json",
            *(shard(dataset, model, layer) for layer in layers(model)),
        ]
    ]


def regions_corpus(wildcards):
    """The corpus that supplies the stable-regions prompts (regions.dataset)."""
    dataset = config["regions"]["dataset"]
    if dataset not in config["datasets"]:
        stop(
            f"config: regions.dataset '{dataset}' is not defined under datasets; use one of: "
            f"{', '.join(sorted(config['datasets']))}."
        )
    return f"results/{dataset}/corpus.parquet"


def regions_targets():
    models = config["regions"]["models"]
    if not models:
        return []
    per_model = [
        f"results/regions/{model}/{name}"
        for model in models
        for name in (
            "curves.parquet",
            "sharpness.parquet",
            "slices.parquet",
            "slice_anchors.parquet",
            "meta.json",
            "curves.png",
            "slices.png",
        )
    ]
    summary = [
        f"results/regions/{name}"
        for name in (
            "summary.parquet",
            "semantic.parquet",
            "findings.parquet",
            "sharpness.png",
        )
    ]
    return per_model + summary


def plateaus_source(wildcards):
    """The prompt text of the plateaus study: plateaus.text_file, else plateaus.dataset's corpus."""
    spec = config["plateaus"]
    if spec.get("text_file"):
        return spec["text_file"]
    if spec["dataset"] not in config["datasets"]:
        stop(
            f"config: plateaus.dataset '{spec['dataset']}' is not defined under datasets; use "
            f"one of: {', '.join(sorted(config['datasets']))}, or set plateaus.text_file."
        )
    return f"results/{spec['dataset']}/corpus.parquet"


def plateaus_source_arg(wildcards):
    flag = "--text-file" if config["plateaus"].get("text_file") else "--corpus"
    return f"{flag} {shlex.quote(plateaus_source(wildcards))}"


def plateaus_settings(*keys):
    """The plateaus keys a job depends on (so changing the threshold does not rerun sweeps)."""
    spec = config["plateaus"]
    return as_json({key: spec[key] for key in keys})


def plateaus_curves(model):
    return [
        f"results/plateaus/{model}/curves/{condition}.parquet"
        for condition in config["plateaus"]["conditions"]
    ]


def plateaus_targets():
    models = config["plateaus"]["models"]
    if not models:
        return []
    per_model = [
        path
        for model in models
        for path in [
            *plateaus_curves(model),
            *(
                f"results/plateaus/{model}/{name}"
                for name in (
                    "triangle.parquet",
                    "thresholds.parquet",
                    "triangle_crossings.parquet",
                    "summary.parquet",
                    "figures/kl_curves.png",
                    "figures/l2_curves.png",
                    "figures/thresholds.png",
                    "figures/triangle.png",
                )
            ),
        ]
    ]
    return [*per_model, "results/plateaus/findings.parquet"]


# --- distributions (issue 4): fits and modes per layer, summary per (dataset, model) ---------
def fit_settings():
    d = config["distributions"]
    keys = ("families", "hist_bins", "bin_width_sd", "min_values")
    keys += ("tail_points", "tail_from_sd", "tail_to_sd")
    return {k: d[k] for k in keys}


def mode_settings():
    d = config["distributions"]
    return {
        "bw_factor": d["kde_bw_factor"],
        "grid_points": d["kde_grid_points"],
        "prominence": d["peak_prominence"],
        "distance": d["peak_distance"],
        "min_values": d["min_values"],
    }


def distribution_layers(model):
    chosen = config["distributions"]["layers"]
    return [l for l in layers(model) if chosen == "all" or l in chosen]


def distribution_fits(wildcards):
    return [
        f"results/{wildcards.dataset}/{wildcards.model}/fits/layer_{l}.parquet"
        for l in distribution_layers(wildcards.model)
    ]


def distribution_modes(wildcards):
    return [
        f"results/{wildcards.dataset}/{wildcards.model}/modes/layer_{l}.parquet"
        for l in distribution_layers(wildcards.model)
    ]


def distribution_targets():
    return [
        f"results/{dataset}/{model}/distributions/findings.parquet"
        for dataset, model in atlas_pairs()
    ]


# --- geometry (issue 5): attraction scores per layer; summaries and figures per (dataset, model)
GEOMETRY_LAYER_KEYS = (
    "variants",
    "pca_variance",
    "similarity",
    "rows",
    "min_per_pair",
    "silhouette_metric",
    "silhouette_sample",
    "seed",
)


def geometry_settings(*keys):
    """The geometry keys a job depends on (so a figure setting reruns no layer job)."""
    return as_json({key: config["geometry"][key] for key in keys})


def geometry_layer_tables(kind):
    """Input function: the per-layer `kind` tables (scores, grouping) of every layer."""

    def files(wildcards):
        return [
            f"results/{wildcards.dataset}/{wildcards.model}/geometry/{kind}/layer_{layer}.parquet"
            for layer in layers(wildcards.model)
        ]

    return files


def geometry_mode_inputs(kind):
    """Input function: scores or mode catalogs of the layers the distribution atlas covers."""

    def files(wildcards):
        return [
            f"results/{wildcards.dataset}/{wildcards.model}/{path}/layer_{layer}.parquet"
            for path in [{"scores": "geometry/scores", "modes": "modes"}[kind]]
            for layer in distribution_layers(wildcards.model)
        ]

    return files


def geometry_targets():
    with_modes = config["geometry"]["modes"]
    tables = ("summary", "pulls", "trend", "findings")
    tables += ("modes_correlation", "modes_findings") if with_modes else ()
    figures = [
        *(["modes_correlation.png"] if with_modes else []),
        *(
            f"heatmaps_{v}.{ext}"
            for v in config["geometry"]["variants"]
            for ext in ("png", "gif")
        ),
        "depth.png",
        "grouping.png",
    ]
    return [
        path
        for dataset, model in atlas_pairs()
        for path in [
            *(f"results/{dataset}/{model}/geometry/{name}.parquet" for name in tables),
            *(f"results/{dataset}/{model}/geometry/figures/{name}" for name in figures),
        ]
    ]


def facts_targets():
    """Every facts table and figure of each configured model, and the summary tables."""
    from resid_atlas.facts.outputs import check_facts_config

    check_facts_config(config)
    return [
        *(
            f"results/facts/{model}/{name}.{ext}"
            for model in config["facts"]["models"]
            for names, ext in ((FACTS_TABLES, "parquet"), (FACTS_FIGURES, "png"))
            for name in names
        ),
        "results/facts/findings.parquet",
        "results/facts/trained_vs_init.parquet",
    ]


# Tail classifier (classifier.smk): variant folders are fixed at parse time from the config.
CLASSIFIER_VARIANTS = list(config["classifier"]["variants"])
CLASSIFIER_CONTROL = list(config["classifier"]["control_variants"])
CLASSIFIER_TABLES = ("predictions", "confusion", "metrics", "accuracy", "sinks")
CLASSIFIER_FIGURES = ("confusion", "f1")


def classifier_files(folder, variants, kind):
    """Per-variant tables (kind parquet) or figures (kind png) under results/{dataset}/{model}."""
    names = CLASSIFIER_TABLES if kind == "parquet" else CLASSIFIER_FIGURES
    return [
        f"results/{{dataset}}/{{model}}/{folder}/{v}/{name}.{kind}"
        for v in variants
        for name in names
    ]


def classifier_inputs(wildcards, acts):
    """Every layer shard and the index of one activations folder."""
    model = wildcards.model
    return {
        "index": f"results/{wildcards.dataset}/{model}/{acts}/index.parquet",
        "shards": [
            shard(wildcards.dataset, model, layer, acts) for layer in layers(model)
        ],
    }


def classifier_findings_inputs(wildcards):
    base = f"results/{wildcards.dataset}/{wildcards.model}"
    inputs = {
        "run": f"{base}/classifier/meta.json",
        "tables": [
            f"{base}/classifier/{v}/{name}.parquet"
            for v in CLASSIFIER_VARIANTS + ["logreg"]
            for name in CLASSIFIER_TABLES
        ],
    }
    if config["classifier"]["japanese_control"]:
        inputs["control"] = f"{base}/classifier-last/meta.json"
    return inputs


def classifier_targets():
    return [
        f"results/{dataset}/{model}/classifier/{name}.parquet"
        for dataset, model in atlas_pairs()
        for name in ("summary", "japanese_control", "findings")
    ]


SQL_DIR = str(Path(workflow.basedir) / "workflow" / "sql")
REPORT_TABLES = [p.stem for p in sorted(Path(SQL_DIR, "report").glob("*.sql"))]
REPORT_FIGURES = [
    "depth",
    "family_shares",
    "classifier_f1",
    "plateau_thresholds",
    "sharpness",
]


def report_targets():
    return ["results/report/atlas.duckdb", "results/report/findings.html"]


def sql_digest():
    digest = hashlib.sha256()
    for path in sorted(Path(SQL_DIR).rglob("*.sql")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# --- cluster resources (issue 11): job sizes at planning time, a GPU for model jobs -----------
from resid_atlas.core.cluster import model_mem_mb, model_runtime


def model_gpu(device):
    """The gpu resource of a job that runs a model: 1 unless its device setting is cpu."""
    return 0 if device == "cpu" else 1


def model_mem(model=None, extra_mb=0):
    """mem_mb of a job that loads `model` (default: the job's {model} wildcard), per attempt."""

    def mem(wildcards, attempt):
        name = model or wildcards.model
        return model_mem_mb(name, config["models"], attempt, extra_mb)

    return mem


def model_minutes(minutes_at_135m, model=None):
    """runtime (minutes) of a job measured at `minutes_at_135m` on SmolLM2-135M, per attempt."""

    def runtime(wildcards, attempt):
        name = model or wildcards.model
        return model_runtime(name, config["models"], minutes_at_135m, attempt)

    return runtime
