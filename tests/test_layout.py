"""The shape every stage shares (docs/architecture.md): results file -> rules file of its stage
-> rule <stage>_<step> -> `python -m resid_atlas <stage> <step>` -> the one package function;
shell commands quote every file and parameter; commands/ only parses arguments; no import cycles;
and a job reads exactly the files its rule declares."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import ROOT, snakemake
from resid_atlas.cli import build_parser, resolve

RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
STAGES = ("corpus", "activations", "distributions", "geometry", "classifier", "facts")
STAGES += ("plateaus", "regions", "report")
# rule -> step where the step's name is not the rule's suffix (documented in
# docs/architecture.md): the control runs the classify step on the `last` protocol's shards.
RENAMED = {"classifier_control": "classify"}


def shell_commands(text: str) -> list[tuple[str, str]]:
    """(rule name, shell command template) of every rule in a .smk file."""
    out = []
    for block in re.split(r"\n(?=rule |    rule:)", text):
        name = re.search(r"^(?:rule (\w+):|    rule:\n\s+name:\n\s+f?\"([^\"]+)\")", block, re.M)
        shell = re.search(r"shell:\n((?:\s+(?:f?\"[^\n]*\"|'[^\n]*')\n?)+)", block)
        if name and shell:
            parts = re.findall(r"\"((?:[^\"\\]|\\.)*)\"", shell.group(1))
            rule = name.group(1) or re.sub(r"\{_model.*\}", "<model>", name.group(2))
            out.append((rule, "".join(parts)))
    return out


ALL = [(path.stem, rule, cmd) for path in RULES for rule, cmd in shell_commands(path.read_text())]


def test_every_rule_file_has_rules():
    stems = {path.stem for path in RULES}
    assert stems == {*STAGES, "common", "guards"}
    assert len(ALL) >= 25


@pytest.mark.parametrize("stage,rule,cmd", ALL, ids=[r for _, r, _ in ALL])
def test_shell_commands_quote_every_file_and_parameter(stage, rule, cmd):
    placeholders = re.findall(r"\{((?:input|output|params|log|wildcards)[^}]*)\}", cmd)
    assert placeholders or stage == "guards", cmd
    unquoted = [p for p in placeholders if not p.endswith(":q")]
    assert not unquoted, f"rule {rule}: unquoted {unquoted} in {cmd!r}"


@pytest.mark.parametrize(
    "stage,rule,cmd",
    [a for a in ALL if a[0] != "guards"],
    ids=[r for s, r, _ in ALL if s != "guards"],
)
def test_naming_chain(stage, rule, cmd):
    """rules file <stage>.smk -> rule <stage>_<step> -> `resid_atlas <stage> <step>` -> a function
    of resid_atlas.<stage> (or the shared findings stack) named after the step."""
    assert rule.startswith(f"{stage}_"), rule
    called = re.search(r"python -m resid_atlas (\w+) (\w+)", cmd)
    assert called, f"rule {rule} does not call the package: {cmd!r}"
    assert called.group(1) == stage, (rule, called.groups())
    step = called.group(2)
    expected = RENAMED.get(rule, rule.removeprefix(f"{stage}_"))
    if stage == "activations":  # one rule per model: activations_extract_<model>
        expected = "extract"
    assert step == expected, (rule, step)
    function = resolve(step_parsers()[stage][step].get_default("target"))
    module = function.__module__
    if step == "findings" and stage not in ("plateaus",):
        assert module == "resid_atlas.stats.findings"
    else:
        assert module.startswith(f"resid_atlas.{stage}."), module
        assert function.__name__ == step, function.__name__


def step_parsers() -> dict:
    """{stage: {step: its argparse parser}} of `python -m resid_atlas`."""
    parser = build_parser()
    stages = next(a for a in parser._actions if a.dest == "stage").choices
    return {
        stage: next(a for a in sub._actions if a.dest == "step").choices
        for stage, sub in stages.items()
    }


def test_every_step_names_a_function_whose_parameters_are_its_arguments():
    n = 0
    for stage, steps in step_parsers().items():
        for step, p in steps.items():
            target = p.get_default("target")
            function = resolve(target)
            dests = {a.dest for a in p._actions if a.dest not in ("help",)} - {"target"}
            signature = inspect.signature(function).parameters
            required = {k for k, v in signature.items() if v.default is inspect.Parameter.empty}
            assert required <= dests <= set(signature), (stage, step, dests ^ set(signature))
            n += 1
    assert n >= 25


def test_commands_only_parse_arguments():
    """commands/ defines register() and nothing else; nothing outside it imports from it."""
    for path in (ROOT / "src/resid_atlas/commands").glob("*.py"):
        tree = ast.parse(path.read_text())
        functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert functions in ([], ["register"]), (path.name, functions)
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").glob("*.py")]:
        if "commands" in path.parts or path.name == "cli.py":  # the command-line layer itself
            continue
        assert not re.search(r"^\s*(from|import) resid_atlas\.commands", path.read_text(), re.M), (
            path
        )


def imports_of(path: Path, package: str) -> set[str]:
    """The resid_atlas modules a module imports (at any depth of the file)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
            base = node.module
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if importlib.util.find_spec(base).submodule_search_locations and
                        _is_module(full) else base)  # fmt: skip
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(package)}
    return out


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_no_import_cycles():
    src = ROOT / "src"
    graph = {}
    for path in (src / "resid_atlas").rglob("*.py"):
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {m for m in imports_of(path, "resid_atlas") if m != name}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert len(graph) > 60


def test_every_stage_package_has_the_same_shape():
    for stage in STAGES:
        folder = ROOT / "src/resid_atlas" / stage
        assert (folder / "outputs.py").is_file(), stage
        text = (folder / "outputs.py").read_text()
        assert "import torch" not in text and "import polars" not in text, stage
        assert f'"results/{stage}' in text, stage
        assert (ROOT / "src/resid_atlas/commands" / f"{stage}.py").is_file(), stage
        assert (ROOT / "workflow/rules" / f"{stage}.smk").is_file(), stage


# --- a job reads exactly the files its rule declares -----------------------------------------
def planned_jobs(workdir: Path) -> list[dict]:
    """Every job of the tiny run as Snakemake plans it: rule, inputs, outputs, shell command."""
    # --cores as the tiny run had them: a job's {threads} in its command depends on them
    proc = snakemake(
        *("-n", "--forceall", "--printshellcmds", "--cores", "2"),
        *("--configfile", "config/tiny.yaml"),
        cwd=workdir,
    )
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        cmd = re.search(r"^Shell command: (.*)$", block, re.M)
        if not rule or not cmd or rule.group(1) == "all":
            continue

        def field(name, block=block):
            found = re.search(rf"^\s+{name}: (.*)$", block, re.M)
            return [f.strip() for f in found.group(1).split(",")] if found else []

        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        jobs.append(
            {
                "rule": rule.group(1),
                "input": field("input"),
                "output": field("output"),
                "log": field("log"),
                "threads": threads.group(1) if threads else "1",
                "cmd": cmd.group(1),
            }
        )
    return jobs


THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def same(a: Path, b: Path) -> bool:
    if a.suffix == ".parquet":
        # float32 noise of multithreaded reductions (facts' statistics and regions' sharpness
        # move by ~1e-6 relative between two processes) is not a read of an undeclared file:
        # that fails or changes values grossly
        try:
            assert_frame_equal(pl.read_parquet(a), pl.read_parquet(b), rel_tol=1e-5, abs_tol=1e-6)
        except AssertionError:
            return False
        return True
    if a.suffix == ".npy":
        return np.array_equal(np.load(a), np.load(b))
    if a.suffix == ".json":
        skip = ("seconds", "started", "elapsed", "versions", "wall_s", "peak_rss_mb", "timings")
        left, right = json.loads(a.read_text()), json.loads(b.read_text())
        return {k: v for k, v in left.items() if k not in skip} == {
            k: v for k, v in right.items() if k not in skip
        }
    if a.suffix in (".csv",):
        return a.read_text() == b.read_text()
    return a.stat().st_size > 0  # figures, the DuckDB file, the HTML page: present


@pytest.mark.workflow
def test_each_job_reads_only_its_declared_inputs(tiny_run, tmp_path):
    """Every job of the tiny run, re-run alone in a folder that holds only its declared inputs,
    writes the same outputs: no job reads a file its rule does not declare."""
    jobs = planned_jobs(tiny_run)
    assert len(jobs) >= 30
    prefix = f"set -euo pipefail; export PYTHONPATH={ROOT / 'src'}; exec "
    checked = 0
    for i, job in enumerate(jobs):
        scratch = tmp_path / f"{i:02d}-{job['rule']}"
        for rel in job["input"]:
            source = tiny_run / rel if not Path(rel).is_absolute() else None
            if source is None:
                continue  # an absolute path is a file of the repository (the report's SQL)
            target = scratch / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source.resolve(), target)
        for rel in job["output"] + job["log"]:
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        # Snakemake gives every job these thread counts; BLAS results depend on them.
        env = {**os.environ, **{name: job["threads"] for name in THREAD_VARIABLES}}
        proc = subprocess.run(
            ["bash", "-c", prefix + job["cmd"]],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
        )
        log = "".join(
            (scratch / rel).read_text() for rel in job["log"] if (scratch / rel).is_file()
        )
        assert proc.returncode == 0, f"{job['rule']} in isolation: {proc.stderr}{log[-3000:]}"
        for rel in job["output"]:
            assert same(scratch / rel, tiny_run / rel), f"{job['rule']}: {rel} differs"
            checked += 1
    assert checked > 100


@pytest.mark.workflow
def test_a_shallower_model_never_reads_a_stale_shard(workdir):
    """Make a model shallower after a run: layer_2.npy of the deeper model stays in the folder,
    and the classifier must score the two layers the config asks for, not three."""
    target = "results/classifier/tiny/tiny-llama/meta.json"
    snakemake("--cores", "2", target, "--configfile", "config/tiny.yaml", cwd=workdir)
    acts = workdir / "results/activations/tiny/tiny-llama/seed"
    assert json.loads((workdir / target).read_text())["layers"] == 3
    shallow = workdir / "shallow.yaml"
    shallow.write_text(
        "models:\n  tiny-llama:\n    config:\n      num_hidden_layers: 2\n"
        # the tiny config's window tails_L1-2 needs a third layer: keep the variants that fit
        "classifier:\n  variants: [all, tails, std2, all_L1]\n"
    )
    args = ("--cores", "2", target, "--configfile", "config/tiny.yaml", str(shallow))
    snakemake(*args, cwd=workdir)
    assert (acts / "layer_2.npy").exists(), "the deeper model's shard is still there"
    meta = json.loads((workdir / target).read_text())
    assert meta["layers"] == 2
    sweep = pl.read_parquet(workdir / "results/classifier/tiny/tiny-llama/layer_sweep.parquet")
    assert sorted(sweep["layer"].unique()) == [0, 1]
    again = snakemake("-n", *args[2:], cwd=workdir).stdout
    assert "Nothing to be done" in again
