"""The shared verdict rules and bootstrap intervals (resid_atlas.stats.verdicts, .bootstrap): each
rule says holds / does not hold / inconclusive on planted data, trends over fewer than 5 points
are inconclusive whatever their p, and the intervals equal direct computations."""

import math
from itertools import permutations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from resid_atlas.classifier.metrics import metrics_frame, weighted_class_f1, weighted_macro_f1
from resid_atlas.classifier.summary import tails_vs_all, top_subjects
from resid_atlas.stats import verdicts
from resid_atlas.stats.bootstrap import median_ci, median_sum_ci, paired_ci
from resid_atlas.stats.findings import FINDINGS_SCHEMA, finding, findings_frame

RNG = np.random.default_rng(0)


# --- intervals ------------------------------------------------------------------------------


def test_median_ci_equals_scipy_bootstrap():
    x = RNG.normal(3.0, 1.0, 300)
    med, low, high = median_ci(x, 500, 7)
    ref = stats.bootstrap(
        (x,), np.median, n_resamples=500, method="percentile", rng=np.random.default_rng(7)
    )
    assert med == np.median(x)
    assert (low, high) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert median_ci([2.0, 2.0], 100, 0) == (2.0, 2.0, 2.0)
    assert all(math.isnan(v) for v in median_ci([], 100, 0))


def test_median_sum_ci_difference_of_differences():
    a, b, c, d = (RNG.normal(m, 1, 200) for m in (5, 1, 2, 1))
    value, low, high = median_sum_ci([a, b, c, d], [1, -1, -1, 1], 500, 0)
    direct = np.median(a) - np.median(b) - np.median(c) + np.median(d)
    assert value == pytest.approx(direct) and low < direct < high and low > 2
    value, low, high = median_sum_ci([a, [1.0]], [1, -1], 500, 0)
    assert math.isnan(low) and math.isnan(high)


def test_paired_ci_equals_a_direct_computation():
    """The paired interval of mean(x) - mean(y), against the same resamples drawn by hand."""
    n, b, seed = 150, 700, 3
    x = RNG.normal(0.3, 1, n)
    y = x + RNG.normal(-0.1, 0.2, n)  # strongly paired with x
    value, low, high = paired_ci(lambda w: (w @ (x - y)) / w.sum(axis=1), n, b, seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(b, n))
    reps = np.array([x[i].mean() - y[i].mean() for i in idx])
    assert value == pytest.approx(x.mean() - y.mean())
    assert (low, high) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])), rel=1e-12)
    # pairing is what makes it narrow: an unpaired interval of the same difference is wider
    _, ulow, uhigh = median_sum_ci([x, y], [1, -1], b, seed)
    assert high - low < (uhigh - ulow) / 3
    assert verdicts.interval(value, low, high, n, "r").verdict == "holds"


# --- the rules on planted data --------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "claimed", "expected"),
    [
        (2.0, "greater", "holds"),
        (-2.0, "greater", "does not hold"),
        (0.0, "greater", "inconclusive"),
        (-2.0, "less", "holds"),
        (2.0, "less", "does not hold"),
    ],
)
def test_interval_rule_on_planted_shifts(shift, claimed, expected):
    x = np.random.default_rng(4).normal(0, 1, 300)
    y = np.random.default_rng(5).permutation(x)  # the same values: no shift unless planted
    value, low, high = median_sum_ci([x + shift, y], [1, -1], 500, 0)
    e = verdicts.interval(value, low, high, 600, "median difference", claimed=claimed)
    assert e.verdict == expected
    assert (e.effect, e.ci_low, e.ci_high, e.n) == (value, low, high, 600)
    assert verdicts.interval(1.0, math.nan, 2.0, 5, "r").verdict == "inconclusive"


def test_interval_rule_against_a_bound():
    assert verdicts.interval(1.05, 1.0, 1.1, 9, "r", claimed="less", bound=1.2).verdict == "holds"
    e = verdicts.interval(1.3, 1.25, 1.4, 9, "r", claimed="less", bound=1.2)
    assert e.verdict == "does not hold"


def test_within_rule():
    assert verdicts.within(0.01, -0.1, 0.1, 50, "r", 0.25).verdict == "holds"
    assert verdicts.within(0.5, 0.3, 0.7, 50, "r", 0.25).verdict == "does not hold"
    assert verdicts.within(0.2, 0.1, 0.4, 50, "r", 0.25).verdict == "inconclusive"


def test_spearman_exact_p_equals_enumeration_and_scipy_permutation_test():
    x = np.arange(7.0)
    y = np.array([0.1, 0.5, 0.3, 0.9, 1.2, 1.0, 2.0])
    rho, p_up, p_down, method = verdicts.spearman(x, y)
    assert method == "exact" and rho == pytest.approx(stats.spearmanr(x, y).statistic)
    null = [stats.spearmanr(x, y[list(p)]).statistic for p in permutations(range(7))]
    assert p_up == pytest.approx(np.mean(np.array(null) >= rho - 1e-12))
    ref = stats.permutation_test(
        (y,),
        lambda v: stats.spearmanr(x, v).statistic,
        permutation_type="pairings",
        alternative="greater",
        n_resamples=np.inf,
    )
    assert p_up == pytest.approx(ref.pvalue)
    assert p_down == pytest.approx(np.mean(np.array(null) <= rho + 1e-12))
    x20 = np.arange(20.0)
    rho, p_up, p_down, method = verdicts.spearman(x20, x20**2)
    assert method.startswith("permutation") and rho == 1.0
    assert p_up == 1 / (1 + verdicts.PERMUTATIONS) and p_down == 1.0
    noisy = x20 + np.random.default_rng(9).normal(0, 8, 20)
    rho, p_up, _, _ = verdicts.spearman(x20, noisy)
    assert p_up == pytest.approx(
        stats.spearmanr(x20, noisy, alternative="greater").pvalue, abs=0.01
    )


def test_trend_needs_five_points():
    """Three increasing points: rho 1 with exact one-sided p 1/6 (never 0), and the verdict is
    inconclusive (n too small) however perfect the trend."""
    e = verdicts.trend([1, 2, 3], [0.5, 1.0, 2.0], "y on x")
    assert e.verdict == "inconclusive" and "n too small" in e.rule
    assert e.effect == pytest.approx(1.0) and e.p_value == pytest.approx(1 / 6) and e.n == 3
    e = verdicts.trend([1, 2, 3, 4], [1, 2, 3, 4], "y on x")
    assert e.verdict == "inconclusive" and e.p_value == pytest.approx(1 / 24)
    e = verdicts.trend([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], "y on x")
    assert e.verdict == "holds" and e.p_value == pytest.approx(1 / 120) and "exact" in e.rule


def test_trend_rule_on_planted_series():
    x = np.arange(12.0)
    assert verdicts.trend(x, x + RNG.normal(0, 0.5, 12), "r").verdict == "holds"
    assert verdicts.trend(x, -x + RNG.normal(0, 0.5, 12), "r").verdict == "does not hold"
    assert verdicts.trend(x, -x, "r", claimed="decreasing").verdict == "holds"
    flat = np.array([1.0, 3, 2, 2.5, 1.5, 2.8, 1.2, 2.2, 1.9, 2.1, 1.7, 2.4])
    assert verdicts.trend(x, flat, "r").verdict == "inconclusive"
    assert verdicts.trend(x, np.ones(12), "r").verdict == "inconclusive"


def test_share_rule_uses_the_exact_binomial_interval():
    e = verdicts.share(85, 100, "share", 0.5)
    ci = stats.binomtest(85, 100).proportion_ci(method="exact")
    assert e.verdict == "holds" and (e.ci_low, e.ci_high) == (ci.low, ci.high)
    assert verdicts.share(10, 100, "share", 0.5).verdict == "does not hold"
    assert verdicts.share(52, 100, "share", 0.5).verdict == "inconclusive"
    assert verdicts.share(12, 100, "t", 0.2, 0.05).verdict == "inconclusive"
    assert verdicts.share(2, 400, "t", 0.2, 0.05).verdict == "does not hold"


def test_rank_count_threshold_and_all_of():
    assert verdicts.rank(1, 12, "r", 1, 3).verdict == "holds"
    assert verdicts.rank(2, 12, "r", 1, 3).verdict == "inconclusive"
    assert verdicts.rank(4, 12, "r", 1, 3).verdict == "does not hold"
    assert verdicts.count(2, 3, "c", 2, 1).verdict == "holds"
    assert verdicts.count(0, 3, "c", 2, 1).verdict == "does not hold"
    assert verdicts.threshold(None, math.nan, 3, "t").verdict == "inconclusive"
    yes, no = verdicts.threshold(True, 1, 1, "a"), verdicts.threshold(False, 0, 1, "b")
    maybe = verdicts.inconclusive("c")
    assert verdicts.all_of(yes, yes).verdict == "holds"
    assert verdicts.all_of(yes, no).verdict == "does not hold"
    assert verdicts.all_of(maybe, no).verdict == "does not hold"
    both = verdicts.all_of(yes, maybe)
    assert both.verdict == "inconclusive" and "[holds] a" in both.rule and " AND " in both.rule
    assert verdicts.all_of(yes, verdicts.not_run("x")).verdict == "inconclusive"


def test_findings_carry_evidence_and_refuse_bare_verdicts():
    e = verdicts.interval(0.02, 0.01, 0.03, 2600, "95% paired bootstrap CI of dF1 above 0")
    df = findings_frame([finding("s", "c", "claim", "m", e, 0.02, "d")])
    assert df.schema == pl.Schema(FINDINGS_SCHEMA)
    row = df.row(0, named=True)
    assert (row["verdict"], row["ci_low"], row["n"]) == ("holds", 0.01, 2600)
    assert row["rule"].startswith("95% paired") and row["p_value"] is None
    with pytest.raises(TypeError, match="Evidence"):
        finding("s", "c", "claim", "m", "holds", 1.0, "d")
    with pytest.raises(ValueError, match="rule"):
        verdicts.Evidence("holds", "")
    with pytest.raises(ValueError, match="verdict"):
        verdicts.Evidence("maybe", "r")


# --- the classifier's paired bootstrap over test sentences ----------------------------------


def _predictions(truth: list[str], pred: list[str], variant: str) -> pl.DataFrame:
    n = len(truth)
    return pl.DataFrame(
        {
            "model": "m",
            "variant": variant,
            "row": np.arange(n, dtype=np.int32),
            "id": [str(i) for i in range(n)],
            "pair": [f"{t}:a" for t in truth],
            "subject": truth,
            "attribute": "a",
            "pred_pair": [f"{p}:a" for p in pred],
            "pred_subject": pred,
            "pred_attribute": "a",
        }
    )


def _noisy(truth, accuracy, classes, rng):
    return [t if rng.random() < accuracy else rng.choice(classes) for t in truth]


def test_weighted_f1_at_unit_weights_equals_the_metrics_table():
    rng = np.random.default_rng(1)
    classes = ["s0", "s1", "s2", "s3"]
    truth = list(rng.choice(classes[:3], 200))  # s3 is predicted but never true
    pred = _noisy(truth, 0.6, classes, rng)
    frame = _predictions(truth, pred, "all")
    pairs = [f"{c}:a" for c in classes]
    table = metrics_frame(frame, pairs, "m", "all").filter(pl.col("level") == "subject")
    pos = {c: i for i, c in enumerate(classes)}
    t = np.array([pos[c] for c in truth])
    p = np.array([pos[c] for c in pred])
    macro = weighted_macro_f1(t, p, 4, np.ones((1, 200)))[0]
    assert macro == pytest.approx(table.filter(pl.col("class") == "macro")["f1"][0])
    per_class = weighted_class_f1(t, p, 4, np.ones((1, 200)))[0]
    for c, f in table.filter(pl.col("class") != "macro").select("class", "f1").iter_rows():
        assert per_class[pos[c]] == pytest.approx(f, nan_ok=True)


@pytest.mark.parametrize(
    ("acc_all", "acc_tails", "expected"),
    [(0.5, 0.8, "holds"), (0.8, 0.5, "does not hold"), (0.7, 0.7, "inconclusive")],
)
def test_tails_vs_all_paired_bootstrap(acc_all, acc_tails, expected):
    rng = np.random.default_rng(2)
    classes = [f"s{i}" for i in range(5)]
    truth = list(rng.choice(classes, 600))
    correct = rng.random(600)  # one draw per sentence: equal accuracies give equal predictions
    wrong = [classes[(classes.index(t) + 1) % 5] for t in truth]
    all_pred = [t if c < acc_all else w for t, c, w in zip(truth, correct, wrong, strict=True)]
    tail_pred = [t if c < acc_tails else w for t, c, w in zip(truth, correct, wrong, strict=True)]
    preds = {
        "all": _predictions(truth, all_pred, "all"),
        # the same sentences in another row order: the bootstrap aligns them by index row
        "tails": _predictions(truth, tail_pred, "tails").reverse(),
    }
    e = tails_vs_all(preds, "subject", 400, 0)
    assert e.verdict == expected and e.n == 600 and "paired bootstrap" in e.rule
    pos = {c: i for i, c in enumerate(classes)}
    t = np.array([pos[c] for c in truth])

    def macro(pred):
        return weighted_macro_f1(t, np.array([pos[c] for c in pred]), 5, np.ones((1, 600)))[0]

    assert e.effect == pytest.approx(macro(tail_pred) - macro(all_pred))
    if expected != "inconclusive":
        assert e.ci_low < e.effect < e.ci_high


def test_top_subjects_must_be_the_top_two():
    """EA and football second and third (a third subject beats them): does not hold, where the
    old rule (each within the top len + 1) said holds."""
    rng = np.random.default_rng(3)
    accuracy = {"ea": 0.8, "football": 0.8, "best": 0.99, "x": 0.3, "y": 0.3}
    classes = list(accuracy)
    truth = list(rng.choice(classes, 1500))
    pred = [t if rng.random() < accuracy[t] else rng.choice(classes) for t in truth]
    frame = _predictions(truth, pred, "all")
    part = metrics_frame(frame, [f"{c}:a" for c in classes], "m", "all").filter(
        (pl.col("level") == "subject") & (pl.col("class") != "macro")
    )
    e, value, _ = top_subjects(frame, part, ["ea", "football"], "all", 400, 0)
    assert e.verdict == "does not hold" and e.ci_high < 0
    accuracy["best"] = 0.3
    pred = [t if rng.random() < accuracy[t] else rng.choice(classes) for t in truth]
    frame = _predictions(truth, pred, "all")
    part = metrics_frame(frame, [f"{c}:a" for c in classes], "m", "all").filter(
        (pl.col("level") == "subject") & (pl.col("class") != "macro")
    )
    e, value, _ = top_subjects(frame, part, ["ea", "football"], "all", 400, 0)
    assert e.verdict == "holds" and e.ci_low > 0 and value > 0.6
    e, _, _ = top_subjects(frame, part, ["ea", "nowhere"], "all", 400, 0)
    assert e.verdict == "not run"
