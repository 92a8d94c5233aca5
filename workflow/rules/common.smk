# Shared set-up (config validation, the package on the jobs' path) and the input and target
# functions of every stage. Paths come from each stage's outputs module (src/resid_atlas/<stage>/
# outputs.py), so the rules, these functions and the package's writers name every file the same.
import json
import os
import shlex
import sys
from pathlib import Path

SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# Jobs run `python -m resid_atlas`: the package on their path, locally and on cluster nodes
# (which re-read this file), without requiring an install. The prefix ends in `exec`, so the
# job's command replaces its shell: a signal to the job reaches Python and nothing outlives it.
# Snakemake formats the prefix, so the doubled braces reach the shell as single ones.
shell.prefix(
    "set -euo pipefail; export PYTHONPATH="
    + shlex.quote(SRC)
    + "${{PYTHONPATH:+:$PYTHONPATH}}; exec "
)

from resid_atlas.activations import outputs as activations_out
from resid_atlas.classifier import outputs as classifier_out
from resid_atlas.core.cluster import model_mem_mb, model_runtime
from resid_atlas.core.config import validate_config, validate_plan
from resid_atlas.core.errors import AtlasError
from resid_atlas.core.layout import benchmark_of, log_of, pick
from resid_atlas.core.planning import no_rule_problem, unclaimed_pattern
from resid_atlas.corpus import outputs as corpus_out
from resid_atlas.corpus.download import dataset_files
from resid_atlas.distributions import outputs as distributions_out
from resid_atlas.facts import outputs as facts_out
from resid_atlas.geometry import outputs as geometry_out
from resid_atlas.models.catalog import n_layers
from resid_atlas.plateaus import outputs as plateaus_out
from resid_atlas.regions import outputs as regions_out
from resid_atlas.report import outputs as report_out


def stop(error):
    """A user-fixable problem found while planning: one message naming the key or file and the
    fix, exit status 1, no traceback (the jobs' AtlasErrors print the same way)."""
    print(f"resid-atlas: error: {error}", file=sys.stderr)
    raise SystemExit(1)


try:
    WHERE = f"config ({', '.join(map(os.path.relpath, workflow.configfiles))})"
    validate_config(config, where=WHERE)
    validate_plan(config, where=WHERE)
except AtlasError as exc:
    stop(exc)

ENV = "../../envs/resid-atlas.yaml"
NAME = "[A-Za-z0-9][A-Za-z0-9._-]*"
PROTOCOL = config["extraction"]["protocol"]


def as_json(value):
    """A config fragment for a job's command line (params, so a change reruns the job)."""
    return json.dumps(value, sort_keys=True)


def settings(section, keys):
    """The keys of one config section a job depends on, as its JSON params."""
    return as_json(pick(config[section], keys))


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


def n_model_layers(model):
    return len(layers(model))


# --- targets -------------------------------------------------------------------------------
def all_targets(wildcards):
    """The default targets: every analysis, then the cross-model report over them."""
    return analysis_targets(wildcards) + report_out.targets()


def analysis_targets(wildcards=None):
    """Every stage's targets (the report reads them all)."""
    try:
        return [
            *corpus_out.targets(config),
            *activations_out.targets(config, n_model_layers),
            *regions_out.targets(config),
            *plateaus_out.targets(config),
            *distributions_out.targets(config),
            *geometry_out.targets(config),
            *facts_out.targets(config),
            *classifier_out.targets(config),
        ]
    except AtlasError as exc:
        stop(exc)


def atlas_files(template):
    """`template` for every (dataset, model) of the atlas."""
    return [
        template.format(dataset=d, model=m)
        for d in config["atlas"]["datasets"]
        for m in config["atlas"]["models"]
    ]


# --- corpus --------------------------------------------------------------------------------
def dataset_inputs(wildcards):
    """The files a dataset reads; a levinson-2024 entry without path: reads the download."""
    if wildcards.dataset not in config["datasets"]:
        stop(
            f"results/corpus/{wildcards.dataset}/: '{wildcards.dataset}' is not a dataset entry "
            f"of the config; use one of: {', '.join(sorted(config['datasets']))}, or add it "
            "under datasets:."
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


def corpus_of(dataset):
    return corpus_out.CORPUS.format(dataset=dataset)


# --- activations ---------------------------------------------------------------------------
def shard(wildcards, layer=None, protocol=PROTOCOL):
    return activations_out.shard(
        wildcards.dataset,
        wildcards.model,
        protocol,
        wildcards.layer if layer is None else layer,
    )


def index_of(wildcards, protocol=PROTOCOL):
    return activations_out.index(wildcards.dataset, wildcards.model, protocol)


def meta_of(wildcards, protocol=PROTOCOL):
    return activations_out.meta(wildcards.dataset, wildcards.model, protocol)


def shards(protocol):
    """Input function: every layer's shard of one (dataset, model), in layer order."""

    def files(wildcards):
        return [shard(wildcards, layer, protocol) for layer in layers(wildcards.model)]

    return files


# --- distributions -------------------------------------------------------------------------
def distribution_layers(model):
    return distributions_out.layers(config, n_model_layers(model))


def distribution_tables(template):
    """Input function: the per-layer tables (fits or modes) of the layers the atlas covers."""

    def files(wildcards):
        return [
            template.format(dataset=wildcards.dataset, model=wildcards.model, layer=l)
            for l in distribution_layers(wildcards.model)
        ]

    return files


def example_layer(wildcards):
    return distributions_out.figure_layer(config, n_model_layers(wildcards.model))


# --- geometry ------------------------------------------------------------------------------
def geometry_tables(template, covered_only=False):
    """Input function: a per-layer table of every layer (or of the atlas's layers)."""

    def files(wildcards):
        chosen = (
            distribution_layers(wildcards.model)
            if covered_only
            else layers(wildcards.model)
        )
        return [
            template.format(dataset=wildcards.dataset, model=wildcards.model, layer=l)
            for l in chosen
        ]

    return files


def geometry_findings(wildcards):
    return [
        path
        for template in geometry_out.findings_files(config)
        for path in atlas_files(template)
    ]


# --- classifier ----------------------------------------------------------------------------
def classifier_tables(run):
    """Input function: one run's per-variant tables of one (dataset, model)."""

    def files(wildcards):
        return [
            path.format(dataset=wildcards.dataset, model=wildcards.model)
            for path in classifier_out.tables(config, run)
        ]

    return files


def classifier_summary_inputs(wildcards):
    inputs = {"tables": classifier_tables("main")(wildcards)}
    if config["classifier"]["japanese_control"]:
        inputs["control"] = classifier_tables("control")(wildcards)
    return inputs


# --- plateaus ------------------------------------------------------------------------------
def plateaus_source(wildcards):
    """The prompt text of the plateaus study: plateaus.text_file, else plateaus.dataset's corpus."""
    spec = config["plateaus"]
    return spec.get("text_file") or corpus_of(spec["dataset"])


def plateaus_source_kind(wildcards):
    """Whether the plateaus prompts come from a text file or a corpus table."""
    return "text" if config["plateaus"].get("text_file") else "corpus"


def plateaus_files(template):
    return [template.format(model=m) for m in config["plateaus"]["models"]]


# --- report --------------------------------------------------------------------------------
SQL_DIR = Path(workflow.basedir) / "workflow" / "sql"
REPORT_VIEWS = sorted(str(p) for p in (SQL_DIR / "views").glob("*.sql"))
REPORT_TABLES = sorted(str(p) for p in (SQL_DIR / "report").glob("*.sql"))


def report_inputs(wildcards):
    """Every analysis output and the per-layer tables the atlas's views read."""
    per_layer = [
        template.format(dataset=d, model=m, layer=l)
        for d in config["atlas"]["datasets"]
        for m in config["atlas"]["models"]
        for template in (distributions_out.FITS, distributions_out.MODES)
        for l in distribution_layers(m)
    ] + [
        geometry_out.SCORES.format(dataset=d, model=m, layer=l)
        for d in config["atlas"]["datasets"]
        for m in config["atlas"]["models"]
        for l in layers(m)
    ]
    sharpness = [
        regions_out.CURVES["sharpness"].format(model=m)
        for m in config["regions"]["models"]
    ]
    tables = [
        path
        for template in classifier_out.tables(config, "main")
        for path in atlas_files(template)
    ]
    return sorted(set(analysis_targets() + per_layer + sharpness + tables))


# --- planning guard (guards.smk) -----------------------------------------------------------
UNMAKEABLE = ".resid-atlas-guard/no-such-file"


def no_rule_guard(wildcards):
    """Input of guards.smk's catch-all: stop with the reason the path cannot be made."""
    path = f"results/{wildcards.path}"
    if Path(path).exists():  # a file placed by hand: nothing to make
        return UNMAKEABLE
    known = analysis_targets() + report_out.targets()
    stop(no_rule_problem(path, config, n_model_layers, known))


def unclaimed_paths():
    """Wildcard constraint of the catch-all: the paths under results/ that match no output or
    log pattern of any other rule, so the guard is never a candidate beside a real rule.
    guards.smk is included last, so every other rule exists when this runs."""
    return unclaimed_pattern(
        product.regex().pattern
        for other in workflow.rules
        if not other.name.startswith("no_rule")
        for product in other.products()
    )


# --- cluster resources: job sizes at planning time, a GPU for model jobs ------------------
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
