"""Config validation: one message naming the key and the fix."""

import copy

import pytest
import yaml

from conftest import ROOT
from resid_atlas.core.config import load_config, validate_config
from resid_atlas.core.errors import AtlasError


@pytest.fixture
def default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def check(config, *fragments):
    with pytest.raises(AtlasError) as info:
        validate_config(copy.deepcopy(config))
    for fragment in fragments:
        assert fragment in str(info.value)


def test_default_and_tiny_configs_are_valid(default, tiny_config):
    config = validate_config(default)
    assert config["extraction"]["protocol"] == "seed"
    assert tiny_config["atlas"]["models"] == ["tiny-llama"]


def test_defaults_are_filled(default):
    del default["extraction"]
    assert validate_config(default)["extraction"]["dtype"] == "float32"


def test_unknown_key_suggests_the_right_one(default):
    default["extraction"]["protcol"] = "seed"
    check(default, "'extraction.protcol' is not a known key", "did you mean 'protocol'")


def test_unknown_top_level_key(default):
    default["modles"] = {}
    check(default, "'modles' is not a known key", "did you mean 'models'")


def test_protocol_typo_lists_choices(default):
    default["extraction"]["protocol"] = "sed"
    check(default, "'extraction.protocol' is 'sed'", "seed, last, mean")


def test_wrong_type(default):
    default["extraction"]["batch_size"] = "sixty"
    check(default, "'extraction.batch_size' must be of type integer")


def test_unknown_model_source(default):
    default["models"]["x"] = {"source": "s3", "id": "a"}
    check(default, "'models.x.source' is 's3'", "gguf-package, hf, local, random-init")


def test_bad_revision_format(default):
    default["models"]["p"] = {"source": "hf", "id": "EleutherAI/pythia-160m", "revision": "step 1"}
    check(default, "models.p.revision", "does not match")


def test_like_must_name_a_trained_entry(default):
    default["models"]["twin"] = {"source": "random-init", "like": "nope", "seed": 1}
    check(default, "models.twin.like names 'nope'")


def test_atlas_references_and_empty_list(default):
    default["atlas"]["models"] = ["gpt9"]
    check(default, "'gpt9' in models is not defined")
    default["atlas"]["models"] = []
    check(default, "atlas.models is empty")


def test_load_config_file_errors(tmp_path):
    with pytest.raises(AtlasError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(AtlasError, match="not valid YAML"):
        load_config(bad)
