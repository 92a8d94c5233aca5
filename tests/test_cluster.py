"""Cluster set-up without a cluster: the seeds config plans through the SLURM profile with a job
count in the hundreds (per-layer jobs grouped), model-running jobs ask for a GPU, and every
profile value carries its comment."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT, snakemake


@pytest.fixture(scope="module")
def seeds_plan(tmp_path_factory) -> str:
    run = tmp_path_factory.mktemp("seeds-plan")
    for name in ("config", "resources", "tests", "profiles"):
        (run / name).symlink_to(ROOT / name)
    proc = snakemake(
        "-n",
        "--nolock",
        "--configfile",
        "config/seeds.yaml",
        "--workflow-profile",
        "profiles/slurm",
        cwd=run,
    )
    return proc.stdout + proc.stderr


def job_counts(plan: str) -> dict[str, int]:
    table = plan[plan.index("Job stats:") :]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table.split("\n\n")[0], re.M)
    }


@pytest.mark.workflow
def test_seeds_plan_has_hundreds_of_jobs_and_fewer_submissions(seeds_plan):
    counts = job_counts(seeds_plan)
    total = counts.pop("total")
    assert 100 <= total < 1000, counts
    # six models' 124 layers, each with fits, modes and geometry per layer
    per_layer = (
        counts["distributions_fits"] + counts["distributions_modes"] + counts["geometry_layer"]
    )
    assert counts["distributions_fits"] == 12 + 24 + 36 + 12 + 24 + 16
    groups = seeds_plan.count("Group job per_layer_stats")
    assert 0 < groups <= -(-per_layer // 8) + 6  # 8 per-layer jobs per SLURM job
    submissions = total - per_layer + groups
    assert submissions < 250
    # the regions study plans every checkpoint and twin
    assert counts["regions_curves"] == 14


@pytest.mark.workflow
def test_model_jobs_ask_for_a_gpu_and_the_rest_do_not(seeds_plan):
    blocks = seeds_plan.split("\n\n")
    by_rule = {}
    for block in blocks:
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        res = re.search(r"resources: (.*)", block)
        if rule and res:
            by_rule.setdefault(rule.group(1), res.group(1))
    model_rules = [r for r in by_rule if r.startswith("activations_extract_")]
    model_rules += ["regions_curves", "facts_measure"]
    for rule in model_rules:
        assert "gpu=1" in by_rule[rule], (rule, by_rule[rule])
    for rule in ("distributions_fits", "distributions_modes", "corpus_ingest"):
        if rule in by_rule:
            assert "gpu=" not in by_rule[rule] or "gpu=0" in by_rule[rule], rule


def test_every_profile_value_is_commented():
    for profile in ("slurm", "default"):
        lines = (ROOT / "profiles" / profile / "config.yaml").read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            value_line = ":" in line and not line.rstrip().endswith(":")
            commented = "#" in line or lines[i - 1].lstrip().startswith("#")
            if value_line:
                assert commented, f"profiles/{profile}/config.yaml line {i + 1}: {line}"


def test_profiles_scope_the_gpu_locally_and_pin_no_account():
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert slurm["executor"] == "slurm"
    assert slurm["set-resource-scopes"] == {"gpu": "local"} == default["set-resource-scopes"]
    assert default["resources"] == {"gpu": 1}
    assert "SBATCH_ACCOUNT" in slurm["default-resources"]["slurm_account"]
    groups = set(slurm["groups"].values())
    assert groups == set(slurm["group-components"])


def test_parameter_counts_known_at_planning_time():
    from resid_atlas.core.cluster import UNKNOWN_PARAMS_M, params_m

    models = {
        "g": {"source": "hf", "id": "openai-community/gpt2-large"},
        "g-init": {"source": "random-init", "like": "g", "seed": 0},
        "p": {"source": "hf", "id": "EleutherAI/pythia-1b", "revision": "step1000"},
        "olmo": {"source": "hf", "id": "allenai/OLMo-7B-hf"},
        "qwen": {"source": "hf", "id": "Qwen/Qwen2.5-0.5B"},
        "mystery": {"source": "hf", "id": "someone/model"},
        "tiny": {
            "source": "random-init",
            "architecture": "gpt2",
            "seed": 0,
            "config": {"n_layer": 2, "n_embd": 10, "vocab_size": 100},
        },
    }
    assert params_m("g", models) == params_m("g-init", models) == 774
    assert params_m("p", models) == 1012
    assert params_m("olmo", models) == 7000
    assert params_m("qwen", models) == 500
    assert params_m("mystery", models) == UNKNOWN_PARAMS_M
    assert params_m("tiny", models) == (100 * 10 + 12 * 2 * 10**2) / 1e6


# Peak RSS (MB) of each seed model's job measured by bench/seed_scale.py (docs/benchmarks.md,
# "Seed scale": load, extraction of 100-300 sentences, a plateaus sweep, a regions curve).
MEASURED_PEAK_MB = {
    "openai-community/gpt2": 1390,
    "openai-community/gpt2-medium": 2270,
    "openai-community/gpt2-large": 3970,
    "EleutherAI/pythia-160m": 1590,
    "EleutherAI/pythia-410m": 2560,
    "EleutherAI/pythia-1b": 4952,
}


def test_job_memory_covers_the_measured_peaks_without_waste():
    from resid_atlas.core.cluster import model_mem_mb

    for repo, peak in MEASURED_PEAK_MB.items():
        planned = model_mem_mb("m", {"m": {"source": "hf", "id": repo}})
        assert peak <= planned <= 1.6 * peak, (repo, peak, planned)


def test_job_sizes_grow_with_the_model_and_the_attempt():
    from resid_atlas.core.cluster import model_mem_mb, model_runtime

    models = {
        "small": {"source": "hf", "id": "gpt2"},
        "large": {"source": "hf", "id": "gpt2-large"},
        "tiny": {"source": "random-init", "architecture": "llama", "seed": 0, "config": {}},
    }
    assert model_mem_mb("small", models) < model_mem_mb("large", models)
    assert model_mem_mb("large", models) == 1000 + 5 * 774 + 130  # rounded up to 500 MB
    assert model_mem_mb("large", models, attempt=2) == 2 * model_mem_mb("large", models)
    assert model_mem_mb("small", models) % 500 == 0
    assert model_runtime("small", models, 3) == 10  # at least 10 minutes
    assert model_runtime("large", models, 3) == 18  # 3 x 774 / 135, rounded up
    assert model_runtime("large", models, 3, attempt=2) == 36
