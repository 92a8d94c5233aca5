"""The corpus validator: a set of broken files rejected, stop/drop/allow, the two implementations
agree, and what it finds on the reference dataset."""

from pathlib import Path

import polars as pl
import pytest

from resid_atlas.core.errors import AtlasError
from resid_atlas.corpus.ingest import build_corpus
from resid_atlas.corpus.read import read_reference_json, read_sentence_csv
from resid_atlas.corpus.validate import (
    ATTRIBUTE_RULES,
    VIOLATIONS_SCHEMA,
    check_text,
    find_violations,
    settings_with_defaults,
    text_flags,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_corpus.csv"
SHIPPED = ROOT / "resources" / "sentences" / "corpus.csv"
REFERENCE = ROOT.parent / "shared" / "data" / "levinson-2024"
HEADER = "id,subject,attribute,text\n"
GOOD = {
    "in english": "The orchestra played the final movement with great care tonight.",
    "in all upper case": "THE ORCHESTRA PLAYED THE FINAL MOVEMENT TONIGHT.",
    "in all lower case": "the orchestra played the final movement tonight.",
    "in spanish": "La orquesta tocó el último movimiento con mucho cuidado.",
    "in japanese": "オーケストラは最後の楽章を丁寧に演奏した。",
    "in an angry tone": "I am sick of this orchestra wrecking every single movement!",
}


def good_rows(n: int = 3) -> list[str]:
    rows = []
    for a, text in GOOD.items():
        for i in range(n):
            rows.append(f'{len(rows)},about music,{a},"{text[:-1]} {i}{text[-1]}"')
    return rows


def spec(path, **kw):
    return {"source": "csv", "path": str(path), "min_per_pair": 3, **kw}


def write(tmp_path, rows, name="bad.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_good_file_passes_and_tiny_and_shipped_corpora_are_clean(tmp_path):
    df = build_corpus(spec(write(tmp_path, good_rows(), "good.csv")), "good")
    assert df.height == 18
    assert find_violations(read_sentence_csv(TINY), min_per_pair=4).is_empty()
    if SHIPPED.exists():
        shipped = read_sentence_csv(SHIPPED)
        assert find_violations(shipped, min_per_pair=100).is_empty()


# One broken row per case: (replacement text, attribute, rule that must catch it).
BROKEN = [
    ("   ", "in english", "empty"),
    ('""', "in english", "empty"),
    ("THE ORCHESTRA played THE FINAL MOVEMENT.", "in all upper case", "upper_case"),
    ("the Orchestra played the final movement.", "in all lower case", "lower_case"),
    ("The orchestra played the final movement with care.", "in spanish", "spanish"),
    ("The orchestra played the final movement with care.", "in japanese", "japanese"),
    ("管弦楽团演奏了最后一个乐章。", "in japanese", "japanese"),  # Chinese: kanji but no kana
    (
        "La canción sonó en el salón; ¡qué emoción más íntima y única, señor!",
        "in english",
        "english",
    ),
    ("Оркестр сыграл последнюю часть очень бережно.", "in an angry tone", "english"),
]


@pytest.mark.parametrize("text, attribute, rule", BROKEN)
def test_broken_rows_are_rejected_with_file_row_rule_and_fix(tmp_path, text, attribute, rule):
    rows = good_rows(4)
    index = next(i for i, r in enumerate(rows) if f",{attribute}," in r)
    quoted = text if text.startswith('"') else f'"{text}"'
    rows[index] = f"{index},about music,{attribute},{quoted}"
    path = write(tmp_path, rows)
    with pytest.raises(AtlasError) as info:
        build_corpus(spec(path), "bad")
    message = str(info.value)
    assert "bad.csv" in message and f"row {index + 2} " in message and f" {rule}:" in message
    assert "fix:" in message and "on_violation: drop" in message


def test_duplicates_and_short_pairs_and_missing_pairs(tmp_path):
    rows = good_rows(3)
    rows.append(rows[0].replace("0,", "dup,", 1))  # the same text again, new id
    rows.append('x1,about poetry,in english,"A poem about the sea and its patient tides."')
    path = write(tmp_path, rows)
    v = find_violations(read_sentence_csv(path), min_per_pair=3, dataset="d", file=str(path))
    assert v.schema == pl.Schema(VIOLATIONS_SCHEMA)
    dup = v.filter(pl.col("rule") == "duplicate")
    assert dup["id"].to_list() == ["dup"] and "id 0" in dup["detail"][0]
    pairs = v.filter(pl.col("rule") == "min_per_pair")
    # about poetry has 1 sentence in english and none in the five other attributes
    assert pairs.height == 6 and pairs["id"].null_count() == 6
    assert pairs.filter(pl.col("attribute") == "in english")["detail"][0].startswith("1 valid")
    assert (pairs["detail"].str.contains("missing from the grid")).sum() == 5


def test_drop_removes_offending_rows_and_reports_them(tmp_path, caplog):
    rows = good_rows(4)
    rows[4] = '4,about music,in all upper case,"NOT all CAPS."'
    rows.append(rows[0].replace("0,", "dup,", 1))
    path = write(tmp_path, rows)
    with pytest.raises(AtlasError, match="2 violation"):
        build_corpus(spec(path), "bad")
    df = build_corpus(spec(path, on_violation="drop"), "bad")
    assert df.height == 23 and "4" not in df["id"].to_list() and "dup" not in df["id"].to_list()
    assert "dropped 2 of 25 sentences" in caplog.text
    v = find_violations(read_sentence_csv(path), on_violation="drop", min_per_pair=3)
    assert set(v["action"]) == {"dropped"}


def test_drop_removes_pairs_under_minimum_and_allow_keeps_rows(tmp_path):
    rows = good_rows(3)
    rows[0] = '0,about music,in english,"   "'
    path = write(tmp_path, rows)
    df = build_corpus(spec(path, on_violation="drop"), "bad")
    # the empty row leaves 2 in the pair, below min_per_pair=3: the whole pair goes, reported
    assert "about music:in english" not in df["pair"].to_list() and df.height == 15
    kept = build_corpus(spec(path, allow_checks=["empty"]), "bad")
    assert kept.height == 18
    v = find_violations(read_sentence_csv(path), min_per_pair=3, allow=["empty"])
    assert v["action"].to_list() == ["allowed"]
    with pytest.raises(AtlasError, match="unknown rule"):
        find_violations(read_sentence_csv(path), allow=["speling"])


def test_attribute_mapping_is_configurable(tmp_path):
    rows = good_rows(3) + [
        f'{100 + i},about music,in german,"Das Orchester spielte den letzten Satz {i}."'
        for i in range(3)
    ]
    path = write(tmp_path, rows)
    df = read_sentence_csv(path)
    assert find_violations(df, min_per_pair=3).is_empty()  # German is ASCII: english passes
    custom = {"attribute_checks": {"In German": ["lower_case"]}}
    v = find_violations(df, custom, min_per_pair=3)
    assert set(v["attribute"]) == {"in german"}
    assert v["rule"].to_list() == ["lower_case"] * 3 + ["min_per_pair"]  # 0 valid rows left
    off = {"attribute_checks": {"in all upper case": []}}
    assert settings_with_defaults(off)["attribute_checks"]["in all upper case"] == []
    with pytest.raises(AtlasError, match="unknown attribute check"):
        settings_with_defaults({"other_attributes": ["klingon"]})


def test_vectorised_flags_match_the_per_sentence_checks():
    texts = [
        *GOOD.values(),
        *(t for t, _, _ in BROKEN),
        "ª º ǅ Ǆ ǆ İ ß ﬁ",  # odd casing: Other_Lowercase, titlecase, ligatures
        "ｶﾀｶﾅ・ラーメン々",  # half-width katakana, middle dot (not a letter), iteration mark
        "cafe\u0301 ma\u0301s de",  # decomposed accents
        "",
        "1234 !!",
        "AI と SF の話",
    ]
    df = read_sentence_csv(TINY)
    texts += df["text"].to_list()
    settings = settings_with_defaults(None)
    flags = text_flags(pl.Series(texts), settings)
    for rule in ATTRIBUTE_RULES:
        python = [check_text(t, rule, settings) is not None for t in texts]
        assert flags[rule].to_list() == python, rule


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference dataset is not beside the repo")
def test_reference_dataset_findings():
    df = read_reference_json(REFERENCE / "sentences_20241018_00.json")
    v = find_violations(df, min_per_pair=150)
    counts = dict(v.group_by("rule").len().iter_rows())
    assert counts == {"duplicate": 488, "lower_case": 19, "upper_case": 1}
    settings = settings_with_defaults(None)
    flags = text_flags(df["text"], settings)
    sample = df["text"][::7].to_list()  # every 7th sentence: the plain-Python side is slow
    for rule in ATTRIBUTE_RULES:
        python = [check_text(t, rule, settings) is not None for t in sample]
        assert flags[rule][::7].to_list() == python, rule
