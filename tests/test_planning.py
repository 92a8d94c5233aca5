"""resid_atlas.core.planning: why a path under results/ cannot be made, said while planning."""

from __future__ import annotations

import re

from resid_atlas.core.planning import no_rule_problem, shard_problem, unclaimed_pattern

CONFIG = {"datasets": {"tiny": {}}, "models": {"m": {}}}


def depth(model: str) -> int:
    return 3


def test_shard_problems_name_the_reason():
    shard = "results/activations/{}/{}/{}/layer_{}.npy"
    assert shard_problem(shard.format("tiny", "m", "seed", 2), CONFIG, depth) is None
    assert "layer_0 .. layer_2" in shard_problem(
        shard.format("tiny", "m", "seed", 3), CONFIG, depth
    )
    assert "'x' is not a dataset" in shard_problem(shard.format("x", "m", "seed", 0), CONFIG, depth)
    assert "'y' is not a model" in shard_problem(
        shard.format("tiny", "y", "seed", 0), CONFIG, depth
    )
    problem = shard_problem(shard.format("tiny", "m", "avg", 0), CONFIG, depth)
    assert "'avg' is not an extraction protocol" in problem
    assert shard_problem("results/corpus/tiny/corpus.parquet", CONFIG, depth) is None


def test_no_rule_problem_suggests_close_targets():
    known = ["results/corpus/tiny/summary.parquet"]
    message = no_rule_problem("results/corpus/tiny/sumary.parquet", CONFIG, depth, known)
    assert "no rule makes this file; did you mean results/corpus/tiny/summary.parquet?" in message
    message = no_rule_problem("results/zzz/q.bin", CONFIG, depth, known)
    assert (
        message.endswith("docs/<stage>.md describe each output.") and "did you mean" not in message
    )


def test_unclaimed_pattern_excludes_every_claimed_path():
    claimed = [
        r"results/corpus/(?P<dataset>[^/]+)/corpus\.parquet$",
        r"results/logs/corpus/(?P<dataset>[^/]+)/corpus\.log$",
        r"resources/downloads/x\.json$",  # not under results/: ignored
    ]
    pattern = re.compile(unclaimed_pattern(claimed))
    assert not pattern.fullmatch("corpus/tiny/corpus.parquet")
    assert not pattern.fullmatch("logs/corpus/tiny/corpus.log")
    assert pattern.fullmatch("corpus/tiny/other.parquet")
