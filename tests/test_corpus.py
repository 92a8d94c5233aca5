"""Corpus ingest: both input shapes, the split, and one clear error per malformed input."""

import json
from pathlib import Path

import polars as pl
import pytest

from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.ingest import CORPUS_SCHEMA, assign_split, build_corpus
from resid_atlas.corpus.read import read_reference_json
from resid_atlas.corpus.read import read_sentence_csv as read_csv

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_corpus.csv"
REFERENCE = ROOT.parent / "shared" / "data" / "levinson-2024"


def spec(path, **kw):
    return {
        "source": "csv",
        "path": str(path),
        "test_fraction": 0.25,
        "split_seed": 42,
        "min_per_pair": 4,
        **kw,
    }


def test_tiny_corpus_builds_with_schema_and_split():
    df = build_corpus(spec(TINY), "tiny")
    assert df.schema == pl.Schema(CORPUS_SCHEMA)
    assert df.height == 48 and df["pair"].n_unique() == 6
    per_pair = df.group_by("pair").agg((pl.col("split") == "test").sum().alias("n_test"))
    assert per_pair["n_test"].to_list() == [2] * 6
    assert build_corpus(spec(TINY), "tiny").equals(df)  # seeded: the same split every time


def test_split_seed_changes_the_split():
    df = read_csv(TINY)
    a = assign_split(df, 0.25, 1)["split"].to_list()
    b = assign_split(df, 0.25, 2)["split"].to_list()
    assert a != b


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,subject,text\n1,a,b\n", "missing column(s) attribute"),
        ("id,subject,attribute,text\n1,s,a,hello\n  ,s,a,hi\n", "line 3 has an empty 'id'"),
        ("id,subject,attribute,text\n1,s,a,hello,extra\n", "line 2 has 5 fields"),
        ("id,subject,attribute,text\n1,s,a,hello\n1,s,a,again\n", "id '1' appears 2 times"),
        ("id,subject,attribute,text\n1,s:x,a,hello\n", "contains ':'"),
        ("", "the file is empty"),
        ("id,subject,attribute,text\n", "no sentences found"),
    ],
)
def test_malformed_csv_gets_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(AtlasError, match="bad.csv") as info:
        read_csv(path)
    assert message in str(info.value)


def test_wrong_encoding_and_huge_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("id,subject,attribute,text\n1,s,a,caf\xe9\n".encode("latin-1"))
    with pytest.raises(AtlasError, match="line 2 is not valid UTF-8"):
        read_csv(path)
    path = tmp_path / "huge.csv"
    path.write_text("id,subject,attribute,text\n1,s,a," + "x" * 200_000 + "\n")
    with pytest.raises(AtlasError, match="huge.csv: line 2 cannot be parsed"):
        read_csv(path)


def test_missing_file_and_too_few_per_pair(tmp_path):
    with pytest.raises(AtlasError, match="file not found"):
        read_csv(tmp_path / "absent.csv")
    with pytest.raises(AtlasError, match="fewer than min_per_pair=9"):
        build_corpus(spec(TINY, min_per_pair=9), "tiny")


def test_reference_json_shape_and_errors(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"about x": {"in y": ["one two", "three four"]}}))
    df = read_reference_json(path)
    assert df["id"].to_list() == ["about-x/in-y/0000", "about-x/in-y/0001"]
    path.write_text(json.dumps({"about x": ["not", "a", "dict"]}))
    with pytest.raises(AtlasError, match="must map attributes"):
        read_reference_json(path)
    path.write_text("{not json")
    with pytest.raises(AtlasError, match="not valid JSON at line 1"):
        read_reference_json(path)


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference dataset is not beside the repo")
def test_reference_dataset_with_its_published_split():
    df = build_corpus(
        {
            "source": "levinson-2024",
            "path": str(REFERENCE / "sentences_20241018_00.json"),
            "split_file": str(REFERENCE / "seed_42_test_split.json"),
            "test_fraction": 0.2,
            "split_seed": 42,
            "min_per_pair": 150,
            "allow_checks": ["duplicate", "lower_case", "upper_case"],
        },
        "levinson-2024",
    )
    assert df.height == 23_993 and df["pair"].n_unique() == 120
    assert (df["split"] == "test").sum() == 4_800


def test_split_file_must_match(tmp_path):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test_sentences": ["nope"], "test_categories": [["a", "b"]]}))
    with pytest.raises(AtlasError, match="1 test sentence"):
        assign_split(read_csv(TINY), 0.2, 0, split_file=split)
