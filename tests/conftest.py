"""Shared fixtures: tiny random-init models of the three architectures and the tiny config."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.core.config import validate_config  # noqa: E402

TINY_SHAPES = {
    "gpt2": {"n_layer": 3, "n_embd": 32, "n_head": 4, "vocab_size": 259, "n_positions": 128},
    "gpt_neox": {
        "num_hidden_layers": 3,
        "hidden_size": 32,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "vocab_size": 259,
    },
    "llama": {
        "num_hidden_layers": 3,
        "hidden_size": 32,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 64,
        "vocab_size": 259,
    },
}


# The suite's CUDA tests (marked `cuda` and `needs_cuda`, run by bench/gpu.sh): skipped without
# a GPU, unless RESID_ATLAS_REQUIRE_CUDA=1 makes that a failure (a GPU check must not pass by
# skipping).
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("RESID_ATLAS_REQUIRE_CUDA") != "1",
    reason="needs a CUDA GPU",
)


def tiny_entry(architecture: str, seed: int = 0) -> dict:
    return {
        "source": "random-init",
        "architecture": architecture,
        "seed": seed,
        "config": dict(TINY_SHAPES[architecture]),
    }


@pytest.fixture(params=sorted(TINY_SHAPES))
def tiny_lm(request):
    """A LoadedModel of each architecture, float32 on the CPU."""
    from resid_atlas.models.loading import load_model

    torch.set_num_threads(1)
    name = f"tiny-{request.param}"
    return load_model(name, {name: tiny_entry(request.param)}, device="cpu")


@pytest.fixture
def tiny_config() -> dict:
    """config/tiny.yaml merged over config/config.yaml the way Snakemake merges them, validated."""
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    tiny = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    return validate_config(merge(base, tiny))


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def snakemake(*args: str, cwd: Path = ROOT, check: bool = True, timeout: int = 1800):
    """Run snakemake in a subprocess with this interpreter's environment on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A run directory that sees the repository's config, resources and test data."""
    for name in ("config", "resources", "tests", "profiles"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One end-to-end run of config/tiny.yaml, shared by the tests that read its outputs."""
    path = tmp_path_factory.mktemp("tiny-run")
    for name in ("config", "resources", "tests", "profiles"):
        (path / name).symlink_to(ROOT / name)
    snakemake("--cores", "2", "--configfile", "config/tiny.yaml", cwd=path)
    yield path
    shutil.rmtree(path / ".snakemake", ignore_errors=True)
