"""Validator throughput: the polars expressions (`text_flags`) against the per-sentence Python
checks (`check_text`, the baseline, which regeneration uses on single candidates), measured in
the same run on the same sentences, all five attribute rules on every sentence.

Usage: python bench/corpus.py [--dataset shipped|reference] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from resid_atlas.corpus.read import read_reference_json, read_sentence_csv  # noqa: E402
from resid_atlas.corpus.validate import (  # noqa: E402
    ATTRIBUTE_RULES,
    check_text,
    find_violations,
    settings_with_defaults,
    text_flags,
)

REFERENCE = ROOT.parent / "shared" / "data" / "levinson-2024" / "sentences_20241018_00.json"


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["shipped", "reference"], default="shipped")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.dataset == "reference":
        df = read_reference_json(REFERENCE)
    else:
        df = read_sentence_csv(ROOT / "resources" / "sentences" / "corpus.csv")
    settings = settings_with_defaults(None)
    texts = df["text"].to_list()

    def baseline():
        return {r: [check_text(t, r, settings) is not None for t in texts] for r in ATTRIBUTE_RULES}

    def ours():
        return text_flags(df["text"], settings)

    flags, expected = ours(), baseline()
    assert all(flags[r].to_list() == expected[r] for r in ATTRIBUTE_RULES), "implementations differ"
    t_base, t_ours = best_of(baseline, args.repeats), best_of(ours, args.repeats)
    t_full = best_of(lambda: find_violations(df, min_per_pair=1), args.repeats)
    print(f"dataset: {args.dataset}, {df.height} sentences, 5 attribute rules each")
    print(f"baseline per-sentence Python check_text: {t_base:.3f} s")
    print(f"polars text_flags:                       {t_ours:.3f} s")
    print(f"speed ratio (baseline / ours):           {t_base / t_ours:.1f}x")
    print(f"whole validator (find_violations):       {t_full:.3f} s")


if __name__ == "__main__":
    main()
