"""Hardening, second pass: hostile inputs the first pass (test_bad_inputs.py) did not try. Each
case fails the way a user meets it (the command a rule runs, or `snakemake -n`) with one
`resid-atlas: error:` naming the file, line or key and the fix; or, where the input is valid,
gives the result the config asked for. docs/hardening.md lists every case."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hardening import (
    assert_refused,
    cli,
    fake_activations,
    plan,
    settings,
    tiny_corpus,
    write_meta,
)
from test_bad_inputs import per_layer, tiny_lines, validate

from conftest import ROOT, snakemake
from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.read import read_sentence_csv

pytestmark = pytest.mark.workflow


# --- the sentence CSV: records as the csv module reads them -----------------------------------
def test_unclosed_quote_at_the_end_is_refused(workdir):
    """Before: the open quote swallowed the rest of the file into one "sentence", 0 violations."""
    path = workdir / "open.csv"
    lines = tiny_lines()
    path.write_text(
        "".join(lines[:40]) + 't950,about music,in english,"An open quote\n' + "".join(lines[40:])
    )
    assert_refused(
        validate(workdir, path),
        f"{path}: line 41 opens a quote that is never closed",
        "close the quote",
        workdir=workdir,
    )


@pytest.mark.parametrize(
    "closing, field",
    [
        ('t951,about music,in english,"Closed, here."\n', "a field"),
        ('t951,about music,in english,Closed here."\n', "the 'text' field"),
    ],
    ids=["strict error at the close", "record parses"],
)
def test_unclosed_quote_closed_rows_later_is_refused(workdir, closing, field):
    """A quote opened on line 6 and closed by a quote on line 9 merged lines 6 to 9."""
    path = workdir / "merged.csv"
    lines = tiny_lines()
    body = [*lines[:5], 't950,about music,in english,"Opened here\n', *lines[5:7]]
    path.write_text("".join([*body, closing, *lines[7:]]))
    assert_refused(
        validate(workdir, path),
        f"{path}: line 6: {field} opens a quote that is not closed on that line",
        "runs on to line 9",
        workdir=workdir,
    )


def test_line_separators_inside_a_text_are_text(tmp_path):
    """U+2028, U+2029, a form feed, a vertical tab, NEL inside unquoted texts: the file is valid
    (the rows are kept, with those characters) and line numbers count only real line ends."""
    lines = tiny_lines()
    odd = ["\u2028", "\x0c", "\x0b", "\u2029", "\x85", "\x1c"]
    rows = list(lines)
    for i in range(1, 13):  # after the first word of the text field
        sid, subject, attribute, text = rows[i].split(",", 3)
        first, rest = text.split(" ", 1)
        rows[i] = f"{sid},{subject},{attribute},{first} {odd[i % len(odd)]}{rest}"
    path = tmp_path / "odd.csv"
    path.write_text("".join(rows))
    df = read_sentence_csv(path)
    assert df.height == len(lines) - 1
    assert df["line"].to_list() == list(range(2, len(lines) + 1))
    changed = [r.rstrip("\n").split(",", 3)[3] for r in rows[1:13]]
    assert df["text"].head(12).to_list() == changed
    assert any("\u2028" in t for t in changed) and any("\x0c" in t for t in changed)
    # a real problem after them is reported at its own line
    path.write_text("".join(rows) + "t990,about music,in english,a,b\n")
    with pytest.raises(AtlasError, match=rf"line {len(lines) + 1} has 5 fields"):
        read_sentence_csv(path)


def test_a_file_that_is_not_a_sentence_csv_is_not_echoed(workdir):
    """A dataset path pointing at a system file: say it is not a sentence CSV, print none of it."""
    path = workdir / "passwd"
    secret = "root:x:0:0:root:/root:/bin/bash"
    path.write_text(f"{secret}\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    message = assert_refused(
        validate(workdir, path),
        f"{path}: this is not a sentence CSV",
        "id,subject,attribute,text",
        workdir=workdir,
    )
    assert "root" not in message.replace(str(path), "")
    # binary content that happens to decode, and a folder
    path.write_bytes(b"id,subject,attribute,text\n1,a,b,c\x00d\n")
    with pytest.raises(AtlasError, match="line 2 holds a NUL byte"):
        read_sentence_csv(path)
    with pytest.raises(AtlasError, match="is a folder, not a file"):
        read_sentence_csv(workdir)
    # a real header with a typo still gets its close match named
    path.write_text("id,subjct,attribute,text\n1,a,b,c\n")
    with pytest.raises(AtlasError, match="is 'subjct' meant to be 'subject'"):
        read_sentence_csv(path)


# --- config: refused while planning (`snakemake -n`), naming the key and the fix -------------
GPT2 = {
    "source": "random-init",
    "architecture": "gpt2",
    "seed": 0,
    "config": {"n_layer": 3, "n_embd": 32, "n_head": 4, "vocab_size": 259, "n_positions": 128},
}


def llama(**config) -> dict:
    return {"models": {"tiny-llama": {"config": config}}}


PLAN_CASES = {
    "integer as float, dataset": (
        {"datasets": {"tiny": {"split_seed": 42.0}}},
        ["'datasets.tiny.split_seed' must be of type integer", "write 42, without the decimal"],
    ),
    "integer as float, regions": (
        {"regions": {"n_pairs": 8.0}},
        ["'regions.n_pairs' must be of type integer, got 8.0", "write 8,"],
    ),
    "model config string number, layers": (
        llama(num_hidden_layers="3"),
        ["models.tiny-llama.config.num_hidden_layers must be an integer", "write 3 without quotes"],
    ),
    "model config string number, width": (
        llama(hidden_size="64"),
        ["models.tiny-llama.config.hidden_size must be an integer", "got '64'"],
    ),
    "model config float layers": (
        llama(num_hidden_layers=2.0),
        ["models.tiny-llama.config.num_hidden_layers must be an integer", "write 2,"],
    ),
    "zero layers": (
        llama(num_hidden_layers=0),
        ["models.tiny-llama.config.num_hidden_layers is 0", "at least 1"],
    ),
    "vocab smaller than the tokenizer": (
        llama(vocab_size=100),
        ["models.tiny-llama.config.vocab_size is 100", "tokenizer's 259 tokens", "at least 259"],
    ),
    "another architecture's layer key": (
        llama(n_layer=2),
        ["models.tiny-llama.config: 'n_layer' (did you mean 'num_hidden_layers'?)", "llama"],
    ),
    "unknown model config key": (
        llama(hiden_size=64),
        ["'hiden_size' (did you mean 'hidden_size'?) is not a key of the llama config"],
    ),
    "gpt2 positions shorter than max_tokens": (
        {"models": {"tiny-gpt2": GPT2}, "atlas": {"models": ["tiny-gpt2"]}},
        ["model 'tiny-gpt2' has 128 positions", "extraction.max_tokens", "at least 256"],
    ),
    "gpt2 positions shorter than facts prompts": (
        {
            "models": {"tiny-gpt2": {**GPT2, "config": {**GPT2["config"], "n_positions": 60}}},
            "facts": {"models": ["tiny-gpt2"]},
        },
        ["model 'tiny-gpt2' has 60 positions", "facts.max_tokens", "at least 64"],
    ),
    "summary model not defined": (
        {"corpus": {"summary_models": ["gpt9"]}},
        ["'gpt9' in corpus.summary_models is not defined", "tiny-llama"],
    ),
    "model names that collide in rule names": (
        {"models": {"tiny_llama": {"source": "random-init", "like": "smollm2-135m", "seed": 1}}},
        ["models 'tiny-llama' and 'tiny_llama' become the same name 'tiny_llama'", "rename"],
    ),
    "model names that differ by case": (
        {"models": {"Tiny-Llama": {"source": "random-init", "like": "smollm2-135m", "seed": 1}}},
        ["models 'tiny-llama' and 'Tiny-Llama' become the same name"],
    ),
    "distributions layers beyond the depth": (
        {"distributions": {"layers": [0, 5, 7]}},
        ["distributions.layers lists 5, 7, but model 'tiny-llama' has 3 layers (0 .. 2)"],
    ),
    "logreg layers beyond the depth": (
        {"classifier": {"logreg": {"layers": [1, 3]}}},
        ["classifier.logreg.layers lists 3, but model 'tiny-llama' has 3 layers"],
    ),
    "classifier variant window beyond the depth": (
        {"classifier": {"variants": ["all", "tails_L1-5"]}},
        ["classifier.variants (model 'tiny-llama')", "'tails_L1-5' asks for layers 1..5"],
    ),
    "tail range reversed": (
        {"distributions": {"tail_from_sd": 12.0}},
        ["distributions.tail_from_sd (12.0) must be below distributions.tail_to_sd (10.0)"],
    ),
    "smooth threshold above the sharp one": (
        {"regions": {"smooth_below": 6.0}},
        ["regions.smooth_below (6.0) must be below regions.sharp_above (5.0)"],
    ),
    "like entry with config overrides": (
        {
            "models": {
                "twin": {
                    "source": "random-init",
                    "like": "smollm2-135m",
                    "seed": 1,
                    "config": {"num_hidden_layers": 2},
                }
            }
        },
        ["models.twin has both like: and config:", "would ignore config:"],
    ),
    "like and architecture": (
        {
            "models": {
                "twin": {
                    "source": "random-init",
                    "like": "smollm2-135m",
                    "seed": 1,
                    "architecture": "llama",
                }
            }
        },
        ["'models.twin' must have like or architecture, not both"],
    ),
    "gpt2 alias and canonical name together": (
        {
            "models": {
                "tiny-gpt2": {
                    **GPT2,
                    "config": {**GPT2["config"], "n_positions": 512, "num_hidden_layers": 3},
                }
            },
            "atlas": {"models": ["tiny-gpt2"]},
        },
        ["'num_hidden_layers' and 'n_layer' name the same gpt2 setting"],
    ),
    "figure layer out of range": (
        {"distributions": {"figure_layer": 99}},
        ["distributions.figure_layer is 99, but model 'tiny-llama' has 3 layers (0 .. 2)"],
    ),
    "figure layer not fitted": (
        {"distributions": {"layers": [0, 2], "figure_layer": 1}},
        ["distributions.figure_layer is 1", "distributions.layers is [0, 2]", "or null"],
    ),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_refused_while_planning(workdir, case):
    override, fragments = PLAN_CASES[case]
    assert_refused(plan(workdir, config=override), *fragments, workdir=workdir)


@pytest.mark.parametrize(
    "architecture, config",
    [
        ("gpt2", {"n_layer": 2, "n_embd": 16, "n_head": 2, "vocab_size": 259}),
        ("gpt2", {"num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2}),
        ("gpt_neox", {"num_hidden_layers": 4, "hidden_size": 16, "num_attention_heads": 2}),
        ("llama", {"num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 2}),
    ],
)
def test_planned_layers_are_the_built_models_layers(architecture, config):
    """The planner reads the layer count from the config object the model is built from,
    whichever name the architecture gives it."""
    from resid_atlas.models.catalog import n_layers
    from resid_atlas.models.loading import load_model

    if architecture != "gpt2":
        config = {**config, "intermediate_size": 32}
    spec = {"source": "random-init", "architecture": architecture, "seed": 0}
    spec["config"] = {"vocab_size": 259, **config}
    built = load_model("m", {"m": spec}, device="cpu").model.base_model
    blocks = built.h if architecture == "gpt2" else built.layers
    asked = config.get("n_layer", config.get("num_hidden_layers"))
    assert n_layers("m", {"m": spec}) == len(blocks) == asked


# --- activation shards and tables: one loader, checked against the index and meta.json -------
def spoil(acts: Path, how: str) -> Path:
    """Damage layer 1 of a fake activation folder (or its index); returns the spoiled file."""
    shard = acts / "layer_1.npy"
    if how == "narrow":
        np.save(shard, np.load(shard)[:, :8])
    elif how == "short":
        np.save(shard, np.load(shard)[:-3])
    elif how == "empty":
        shard.write_bytes(b"")
    elif how == "garbage":
        shard.write_bytes(b"\x93NUMPY not really" * 50)
    elif how == "truncated":
        shard.write_bytes(shard.read_bytes()[:1000])
    elif how == "objects":
        np.save(shard, np.array([{"a": 1}] * 48, dtype=object), allow_pickle=True)
    elif how == "float16":
        np.save(shard, np.load(shard).astype(np.float16))
    elif how == "index":
        (acts / "index.parquet").write_bytes(b"PAR1 garbage")
        return acts / "index.parquet"
    return shard


SHARD_CASES = {
    "narrow": ["shape (48, 8)", "d_model 16", "snakemake --forcerun", "layer_1.npy"],
    "short": ["shape (45, 16)", "lists 48 rows"],
    "empty": ["not a readable .npy array", "snakemake --forcerun"],
    "garbage": ["not a readable .npy array", "or delete"],
    "truncated": ["not a readable .npy array", "rerun snakemake"],
    "objects": ["not a readable .npy array", "Python objects"],
    "float16": ["dtype float16, but", "meta.json says the extraction stored float32"],
    "index": ["index.parquet: not a readable Parquet table", "snakemake --forcerun"],
}


# Every reader of shards for the wrong width (they share the loader); each damage once.
DAMAGE = [("narrow", c) for c in ("fits", "modes", "geometry-layer", "classify")]
DAMAGE += [(how, "fits") for how in sorted(SHARD_CASES) if how not in ("narrow", "index")]
DAMAGE += [("index", "geometry-layer")]


@pytest.mark.parametrize("how, command", DAMAGE)
def test_damaged_shard_is_refused(workdir, how, command):
    """Before: a shard of 8 of 16 dimensions was fitted; an empty or garbage file was a numpy
    traceback; the advice was a rule name that a plain `snakemake` would not rerun."""
    acts = workdir / "acts"
    fake_activations(acts)
    bad = spoil(acts, how)
    message = assert_refused(per_layer(workdir, command, acts), *SHARD_CASES[how], workdir=workdir)
    assert f"snakemake --forcerun {bad}" in message and f"or delete {bad}" in message


def test_shard_beyond_the_extractions_depth(workdir):
    """A shard left from a deeper extraction (meta.json now says 2 layers)."""
    acts = workdir / "acts"
    fake_activations(acts)
    write_meta(acts, 2, 16, 48)
    assert_refused(
        per_layer(workdir, "fits", acts, layer=2),
        "layer_2.npy: ",
        "says the extraction has 2 layers",
        "delete it",
        workdir=workdir,
    )


def test_garbage_parquet_table_is_refused(workdir):
    """A fits table overwritten with garbage reaches the distributions summary."""
    acts = workdir / "acts"
    fake_activations(acts)
    tables = []
    for layer in range(3):
        assert per_layer(workdir, "fits", acts, layer=layer).returncode == 0
        tables.append(workdir / f"results/distributions/tiny/m/fits/layer_{layer}.parquet")
    tables[1].write_bytes(b"not parquet at all")
    modes = tables  # any readable list: the fits are read first
    proc = cli(
        *("distributions", "summary", "--fits", *map(str, tables), "--modes", *map(str, modes)),
        *("--model", "m", "--settings", json.dumps({"figure_layer": None, "figure_pair": None})),
        *("--example-shard", str(acts / "layer_1.npy"), "--example-layer", "1"),
        *("--index", str(acts / "index.parquet"), "--meta", str(acts / "meta.json")),
        *("--out-dir", str(workdir / "results/distributions/tiny/m")),
        cwd=workdir,
    )
    assert_refused(
        proc,
        f"{tables[1]}: not a readable Parquet table",
        f"snakemake --forcerun {tables[1]}",
        workdir=workdir,
        allowed=[str(t.relative_to(workdir)) for t in tables],
    )


@pytest.mark.parametrize(
    "column, old, new, fragment",
    [
        ("subject", "about music", "about music ", "subject 'about music ' (line 5)"),
        ("attribute", "in english", "In English", "attribute 'In English' (line 5)"),
        ("id", "t003", "T000", "id 'T000' (line 5) differs from 't000' (line 2)"),
        ("id", "t003", "t000 ", "id 't000 ' (line 5) differs from 't000' (line 2)"),
    ],
)
def test_near_duplicate_names_are_named(tmp_path, column, old, new, fragment):
    """Before: a subject with a trailing space or a capitalised attribute became a new grid row
    ("missing from the grid", add sentences); ids differing in case passed as distinct."""
    lines = tiny_lines()
    field = {"id": 0, "subject": 1, "attribute": 2}[column]
    parts = lines[4].split(",", 3)
    assert parts[field] == old
    parts[field] = new
    lines[4] = ",".join(parts)
    path = tmp_path / "near.csv"
    path.write_text("".join(lines))
    with pytest.raises(AtlasError) as info:
        read_sentence_csv(path)
    assert fragment in str(info.value) and "only in case or spaces" in str(info.value)


# --- regions: meaning pairs are drawn without replacement ------------------------------------
def test_meaning_pairs_are_distinct_and_capped(caplog):
    """Before: n_pairs 5000 on 48 sentences gave ~1,944 distinct pairs, some repeated nine
    times, all entering the bootstrap. Now each unordered pair at most once, the count capped at
    what the corpus has (counted independently here), with a warning."""
    from resid_atlas.models.tokenizer import byte_tokenizer
    from resid_atlas.regions.pairs import RELATIONS, meaning_pairs

    corpus = tiny_corpus()
    with caplog.at_level("WARNING"):
        _, table = meaning_pairs(corpus, byte_tokenizer(), 10, 5000, True, seed=0)
    keys = [tuple(sorted(k)) for k in table.select("id_a", "id_b").iter_rows()]
    assert len(keys) == len(set(keys))
    rows = list(corpus.select("id", "subject", "attribute").iter_rows())
    expected = dict.fromkeys(RELATIONS, 0)
    for i, (_, s1, a1) in enumerate(rows):
        for _, s2, a2 in rows[i + 1 :]:
            expected[relation(s1, a1, s2, a2)] += 1
    got = dict(table.group_by("relation").len().iter_rows())
    assert got == {r: min(n, 1250) for r, n in expected.items()}
    assert "distinct ones; using those" in caplog.text
    # far below the cap the draw is unchanged in kind: distinct, balanced
    _, small = meaning_pairs(corpus, byte_tokenizer(), 10, 40, True, seed=0)
    assert small.height == 40 and small["relation"].value_counts()["count"].to_list() == [10] * 4


def relation(s1, a1, s2, a2) -> str:
    return {(True, True): "same-both", (True, False): "same-subject"}.get(
        (s1 == s2, a1 == a2), "same-attribute" if a1 == a2 else "neither"
    )


# --- distributions: a sample is a set of values -----------------------------------------------
def test_fits_and_modes_do_not_depend_on_row_order(tmp_path):
    """Before: shuffling the index rows moved johnsonsb's shape1 and the tail fit's g (the start
    of the fit saw a subsample drawn in row order). Now the tables are identical, to the bit,
    whether the index rows or the shard rows (with the index pointing at them) are shuffled."""
    from polars.testing import assert_frame_equal

    from resid_atlas.distributions.fits import fit_layer
    from resid_atlas.distributions.modes import modes_layer

    values = fake_activations(tmp_path, n_layers=1, d=300, seed=3)[0]  # 2,400 values per pair
    values = values + np.random.default_rng(1).standard_t(3, values.shape).astype(np.float32)
    index = pl.read_parquet(tmp_path / "index.parquet")
    order = np.random.default_rng(7).permutation(index.height)
    moved = index.with_columns(row=pl.Series(np.argsort(order).astype(np.int32)))
    fits, modes = json.loads(settings("fits")), json.loads(settings("modes"))  # tiny.yaml's
    runs = [
        (values, index),
        (values, index[order]),  # the index rows shuffled
        (values[order], moved),  # the shard rows shuffled, the index following them
    ]
    tables = [(fit_layer(x, i, "m", 0, fits), modes_layer(x, i, "m", 0, modes)) for x, i in runs]
    for fit_table, mode_table in tables[1:]:
        assert_frame_equal(fit_table, tables[0][0])
        assert_frame_equal(mode_table, tables[0][1])
    assert tables[0][0].filter(pl.col("status") == "ok").height > 0


# --- the documented report command -------------------------------------------------------------
def registered_files(run: Path) -> dict[str, list[Path]]:
    """Per output pattern flagged with report() in the workflow (as Snakemake parses it for the
    tiny config), the files of `run` it matches."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    with SnakemakeApi(OutputSettings(quiet=set())) as api:
        workflow = api.workflow(
            snakefile=ROOT / "Snakefile",
            workdir=run,
            config_settings=ConfigSettings(configfiles=[Path("config/tiny.yaml")]),
            resource_settings=ResourceSettings(),
            storage_settings=StorageSettings(),
        )._workflow  # the parsed rules; no public accessor for an output's flags
        patterns = {
            f.regex().pattern
            for rule in workflow.rules
            for f in rule.output
            if f.flags.get("report")
        }
    files = [p for p in (run / "results").rglob("*") if p.is_file()]
    return {
        pattern: sorted(p for p in files if re.fullmatch(pattern, p.relative_to(run).as_posix()))
        for pattern in patterns
    }


def test_snakemake_report_of_the_tiny_run(tiny_run):
    """Before: `snakemake --report results/report/report.html` (README) failed with
    InputFunctionException in rule report (a labels lambda wanting a `path` argument). Now the
    report is written and embeds every file registered with report(), byte for byte."""
    out = tiny_run / "results/report/report.html"
    out.unlink(missing_ok=True)
    try:
        snakemake(
            "--report",
            "results/report/report.html",
            "--configfile",
            "config/tiny.yaml",
            cwd=tiny_run,
        )
        html = out.read_text()
    finally:
        # The tiny run is shared by the session; tests that list its results (test_slurm.py)
        # compare them with a fresh run, which has no report.
        out.unlink(missing_ok=True)
    registered = registered_files(tiny_run)
    assert len(registered) >= 20
    for pattern, files in registered.items():
        assert files, f"no file of the tiny run matches report() pattern {pattern}"
        for path in files:
            assert base64.b64encode(path.read_bytes()).decode() in html, f"{path} not embedded"
