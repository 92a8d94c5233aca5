"""The corpus validator: content rules every dataset passes before anything reads its sentences.

Structural problems (missing columns, bad encoding, duplicate ids) stop `corpus.read_*` at once.
The rules here judge the sentences themselves and produce a violations table (`VIOLATIONS_SCHEMA`),
one row per offending sentence or pair:

- `empty`: the text is empty or whitespace only;
- `duplicate`: the text (whitespace-normalised, case kept) repeats an earlier row; the first copy
  is kept, every later copy is a violation;
- `min_per_pair`: a pair of the subject x attribute grid has fewer than `min_per_pair` valid rows
  (a missing pair has 0);
- attribute checks, chosen per attribute by `attribute_checks` (defaults in `DEFAULT_CHECKS`):
  `upper_case` (no lowercase letter), `lower_case` (no uppercase letter), `japanese` (kana or kanji,
  and most letters Japanese), `spanish` (Spanish function words or accents outweigh English ones),
  `english` (mostly ASCII letters).

Each violation gets an action: `allowed` (the dataset lists the rule in `allow_checks`: recorded,
the row kept), `dropped` (`on_violation: drop`) or `stop` (the default: the run stops, listing the
first rows). Nothing is ever dropped silently.

Two implementations of the text rules agree by test: `check_text` (one sentence, plain Python;
regeneration filters candidates with it) and `text_flags` (polars expressions over a whole table).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import polars as pl

from resid_atlas.core.config import schema_defaults
from resid_atlas.core.errors import AtlasError

ATTRIBUTE_RULES = ("upper_case", "lower_case", "japanese", "spanish", "english")
ROW_RULES = ("empty", "duplicate", *ATTRIBUTE_RULES)
RULES = (*ROW_RULES, "min_per_pair")
ACTIONS = ("stop", "dropped", "allowed")

# Keyed on the studies' attribute names (lower-cased); other attributes get `other_attributes`.
DEFAULT_CHECKS: dict[str, list[str]] = {
    "in all upper case": ["upper_case", "english"],
    "in all lower case": ["lower_case", "english"],
    "in japanese": ["japanese"],
    "in spanish": ["spanish"],
}
DEFAULT_SETTINGS = schema_defaults("corpus", "validation")

FIXES = {
    "empty": "write the sentence or remove the row",
    "duplicate": "rewrite or remove the later copy",
    "min_per_pair": "add sentences to the pair or lower min_per_pair",
    "upper_case": "write the sentence in capitals only",
    "lower_case": "write the sentence without capitals",
    "japanese": "write the sentence in Japanese (kana/kanji)",
    "spanish": "write the sentence in Spanish",
    "english": "write the sentence in English with ASCII letters",
}

VIOLATIONS_SCHEMA = {
    "dataset": pl.String,
    "file": pl.String,
    "row": pl.Int64,  # CSV line, or index in the pair's list (reference JSON); null for a pair
    "id": pl.String,  # null for a pair
    "subject": pl.String,
    "attribute": pl.String,
    "pair": pl.String,
    "rule": pl.String,  # one of RULES
    "detail": pl.String,
    "text": pl.String,  # excerpt
    "fix": pl.String,
    "action": pl.String,  # one of ACTIONS
}

# Kana (hiragana, katakana and their extensions, half-width katakana), kanji, and the iteration
# mark; the same ranges drive the Python and the polars implementation.
JAPANESE_RANGES = (
    (0x3005, 0x3005),
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
)
KANA_RANGES = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))
SPANISH_CHARS = "ñáéíóúü¿¡"
# Frequent function words that are not also English words (no "a", "no", "me", "son", "he").
_SPANISH = (
    "de la que el en y los del se las por un una con es para su al lo como más pero sus le ya "
    "este esta estos estas entre cuando muy sin sobre también hasta hay donde nos desde todo "
    "todos todas nuestra nuestro nuestros mi mis tu tus puede pueden ser está están era fue "
    "hace cada porque qué cómo cuál otro otra otros ella ellos eso esto aunque sino según "
    "durante mientras siempre nunca mejor gran nuevo nueva vida mundo"
)
_ENGLISH = (
    "the and of to is in that it for with as on are be this was by at from or an have has "
    "not but we you they their our can will its which my your all more were been would "
    "there what about when how into than them these those very"
)
SPANISH_WORDS = frozenset(_SPANISH.split())
ENGLISH_WORDS = frozenset(_ENGLISH.split())


def settings_with_defaults(settings: dict | None) -> dict:
    out = {**DEFAULT_SETTINGS, **(settings or {})}
    checks = {k.strip().lower(): list(v) for k, v in DEFAULT_CHECKS.items()}
    for attribute, rules in (out["attribute_checks"] or {}).items():
        checks[attribute.strip().lower()] = list(rules or [])
    out["attribute_checks"] = checks
    for rules in [*checks.values(), out["other_attributes"]]:
        unknown = [r for r in rules if r not in ATTRIBUTE_RULES]
        if unknown:
            raise AtlasError(
                f"validation: unknown attribute check(s) {unknown}; "
                f"use one of: {', '.join(ATTRIBUTE_RULES)}."
            )
    return out


def checks_for(attribute: str, settings: dict) -> list[str]:
    """The attribute rules for one attribute (settings already through settings_with_defaults)."""
    return settings["attribute_checks"].get(
        attribute.strip().lower(), list(settings["other_attributes"])
    )


# ---- one sentence, plain Python -------------------------------------------------------------


def _in(ch: str, ranges) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in ranges)


def _words(text: str) -> list[str]:
    return "".join(c if c.isalpha() else " " for c in text.lower()).split()


def _spanish_score(text: str) -> tuple[int, int, int]:
    words = _words(text)
    es = sum(w in SPANISH_WORDS for w in words)
    en = sum(w in ENGLISH_WORDS for w in words)
    accents = sum(c in SPANISH_CHARS for c in text.lower())
    return es, en, accents


def check_text(text: str, rule: str, settings: dict) -> str | None:
    """None if `text` passes `rule` (an attribute rule), else what is wrong, in words."""
    text = unicodedata.normalize("NFC", text)
    letters = [c for c in text if c.isalpha()]
    if rule == "upper_case":
        lower = [c for c in text if c.islower()]
        return f"{len(lower)} lowercase letter(s), e.g. {''.join(lower[:5])!r}" if lower else None
    if rule == "lower_case":
        upper = [c for c in text if c.isupper()]
        return f"{len(upper)} uppercase letter(s), e.g. {''.join(upper[:5])!r}" if upper else None
    if rule == "japanese":
        japanese = sum(_in(c, JAPANESE_RANGES) for c in letters)
        kana = sum(_in(c, KANA_RANGES) for c in letters)
        share = japanese / len(letters) if letters else 0.0
        if kana == 0 or share < settings["min_japanese_letters"]:
            return (
                f"{kana} kana, {share:.0%} of letters Japanese "
                f"(needs kana and >= {settings['min_japanese_letters']:.0%})"
            )
        return None
    if rule == "spanish":
        es, en, accents = _spanish_score(text)
        if es + min(accents, 1) <= en or es + accents == 0:
            return f"{es} Spanish function word(s), {accents} accent(s), {en} English word(s)"
        return None
    if rule == "english":
        ascii_letters = sum(c.isascii() for c in letters)
        share = ascii_letters / len(letters) if letters else 0.0
        if share < settings["min_ascii_letters"]:
            return f"{share:.0%} of letters ASCII (needs >= {settings['min_ascii_letters']:.0%})"
        return None
    raise ValueError(f"unknown attribute rule {rule!r}")


def normalise(text: str) -> str:
    """The duplicate key: surrounding whitespace stripped, inner runs of whitespace collapsed."""
    return " ".join(text.split())


# ---- a whole table, polars -------------------------------------------------------------------


def _letter_class(ranges) -> str:
    """Letters inside the code point ranges (Rust regex class intersection)."""
    return "[\\p{L}&&[" + "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in ranges) + "]]"


def _word_count(lower: pl.Expr, vocabulary: frozenset[str]) -> pl.Expr:
    """Words of `vocabulary` in lower-cased text; words are maximal runs of letters (`_words`)."""
    words = lower.str.extract_all(r"\p{L}+")
    return words.list.eval(pl.element().is_in(sorted(vocabulary))).list.sum().fill_null(0)


def text_flags(texts: pl.Series, settings: dict) -> pl.DataFrame:
    """One boolean column per attribute rule: True where the text breaks it (vectorised
    `check_text`)."""
    c = pl.col
    counts = (
        pl.DataFrame({"text": texts})
        .with_columns(c("text").str.normalize("NFC"))
        .with_columns(lower=c("text").str.to_lowercase())
        .with_columns(
            n_letters=c("text").str.count_matches(r"\p{L}"),
            n_japanese=c("text").str.count_matches(_letter_class(JAPANESE_RANGES)),
            n_kana=c("text").str.count_matches(_letter_class(KANA_RANGES)),
            n_ascii=c("text").str.count_matches(r"[A-Za-z]"),
            accents=c("lower").str.count_matches(f"[{SPANISH_CHARS}]"),
            has_lower=c("text").str.contains(r"\p{Lowercase}"),
            has_upper=c("text").str.contains(r"\p{Uppercase}"),
            es=_word_count(c("lower"), SPANISH_WORDS),
            en=_word_count(c("lower"), ENGLISH_WORDS),
        )
    )

    def share(part: str) -> pl.Expr:
        return pl.when(c("n_letters") > 0).then(c(part) / c("n_letters")).otherwise(0.0)

    return counts.select(
        upper_case=c("has_lower"),
        lower_case=c("has_upper"),
        japanese=(c("n_kana") == 0) | (share("n_japanese") < settings["min_japanese_letters"]),
        spanish=((c("es") + pl.min_horizontal(c("accents"), 1)) <= c("en"))
        | ((c("es") + c("accents")) == 0),
        english=share("n_ascii") < settings["min_ascii_letters"],
    )


def _excerpt(text: str, width: int = 60) -> str:
    text = normalise(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def find_violations(
    df: pl.DataFrame,
    settings: dict | None = None,
    min_per_pair: int = 1,
    on_violation: str = "stop",
    allow: Iterable[str] = (),
    dataset: str = "",
    file: str = "",
) -> pl.DataFrame:
    """The violations of a sentence table (columns id, subject, attribute, pair, text, line)."""
    settings = settings_with_defaults(settings)
    allow = set(allow)
    unknown = allow - set(RULES)
    if unknown:
        raise AtlasError(
            f"datasets.{dataset}.allow_checks: unknown rule(s) {sorted(unknown)}; "
            f"use any of: {', '.join(RULES)}."
        )
    action = {"stop": "stop", "drop": "dropped"}[on_violation]
    flags = text_flags(df["text"], settings)
    key = df["text"].map_elements(normalise, return_dtype=pl.String)
    first = pl.DataFrame({"key": key, "id": df["id"]}).group_by("key", maintain_order=True).first()
    first_id = dict(first.iter_rows())
    rows = []

    def add(row: dict, rule: str, detail: str) -> None:
        rows.append(
            {
                "dataset": dataset,
                "file": file,
                "row": row["line"],
                "id": row["id"],
                "subject": row["subject"],
                "attribute": row["attribute"],
                "pair": row["pair"],
                "rule": rule,
                "detail": detail,
                "text": _excerpt(row["text"]) if row["text"] is not None else None,
                "fix": FIXES[rule],
                "action": "allowed" if rule in allow else action,
            }
        )

    wanted = {a: set(checks_for(a, settings)) for a in df["attribute"].unique()}
    bad_rows = set()
    for i, (row, flag, k) in enumerate(
        zip(df.iter_rows(named=True), flags.iter_rows(named=True), key, strict=True)
    ):
        before = len(rows)
        if k == "":
            add(row, "empty", "the text is empty or whitespace only")
        else:
            if first_id[k] != row["id"]:
                add(row, "duplicate", f"repeats the text of id {first_id[k]}")
            for rule in sorted(wanted[row["attribute"]]):
                if flag[rule]:
                    add(row, rule, check_text(row["text"], rule, settings) or "")
        if any(r["action"] != "allowed" for r in rows[before:]):
            bad_rows.add(i)
    # Pair counts over the rows that stay: the grid is every subject x every attribute seen.
    kept = df.filter(~pl.Series([i in bad_rows for i in range(df.height)]))
    counts = dict(kept.group_by("pair").len().iter_rows())
    subjects = df["subject"].unique(maintain_order=True).to_list()
    attributes = df["attribute"].unique(maintain_order=True).to_list()
    for s in subjects:
        for a in attributes:
            n = counts.get(f"{s}:{a}", 0)
            if n < min_per_pair:
                pair_row = {
                    "line": None,
                    "id": None,
                    "subject": s,
                    "attribute": a,
                    "pair": f"{s}:{a}",
                    "text": None,
                }
                what = "missing from the grid" if n == 0 else f"{n} valid sentence(s)"
                add(pair_row, "min_per_pair", f"{what}, fewer than min_per_pair={min_per_pair}")
    return pl.DataFrame(rows, schema=VIOLATIONS_SCHEMA)


def summarise(violations: pl.DataFrame) -> str:
    if violations.is_empty():
        return "no violations"
    counts = violations.group_by("rule", "action").len().sort("rule", "action")
    return ", ".join(f"{rule} {n} ({action})" for rule, action, n in counts.iter_rows())


def apply_violations(
    df: pl.DataFrame, violations: pl.DataFrame, where: str, report_rows: int = 10
) -> pl.DataFrame:
    """Stop with the first `stop` rows listed, or drop the `dropped` rows (and pairs)."""
    stop = violations.filter(pl.col("action") == "stop")
    if not stop.is_empty():
        listed = "\n".join(
            f"  {r['file']} row {r['row'] if r['row'] is not None else '-'} "
            f"id {r['id'] or '-'} [{r['pair']}] {r['rule']}: {r['detail']}"
            + (f" | {r['text']!r}" if r["text"] is not None else "")
            + f" -> fix: {r['fix']}"
            for r in stop.head(report_rows).iter_rows(named=True)
        )
        raise AtlasError(
            f"{where}: {stop.height} violation(s) of the corpus rules ({summarise(stop)}); "
            f"first {min(report_rows, stop.height)}:\n{listed}\n"
            "Fix those rows, or set the dataset's on_violation: drop to drop them (reported), "
            "or list a rule under its allow_checks to keep such rows (see docs/corpus.md)."
        )
    dropped = violations.filter(pl.col("action") == "dropped")
    ids = set(dropped["id"].drop_nulls())
    pairs = set(dropped.filter(pl.col("id").is_null())["pair"])
    return df.filter(~pl.col("id").is_in(sorted(ids)) & ~pl.col("pair").is_in(sorted(pairs)))
