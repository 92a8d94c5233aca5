"""Likelihood classifier (study 001): densities, the tail walk, the compiled scoring kernel
against the per-sentence loop, planted classes, edge cases, and the tiny run's outputs."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hardening import write_meta
from scipy.stats import gaussian_kde

from resid_atlas.classifier.density import fit_densities, kde_grid, tail_cutoffs
from resid_atlas.classifier.metrics import (
    METRICS_SCHEMA,
    PREDICTIONS_SCHEMA,
    class_metrics,
    top_k,
)
from resid_atlas.classifier.score import layer_scores, layer_scores_loop
from resid_atlas.classifier.study import run_classifier
from resid_atlas.classifier.variants import parse_variant
from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.errors import AtlasError

RULES = ["all", "tails", "std2", "std3"]
SETTINGS = {
    "n_grid": 300,
    "eps": 1e-6,
    "min_tail": 3,
    "tail_density": 1e-4,
    "tail_window": 4,
    "tail_rising": 3,
    "tail_no_mode": "edge",
    "tail_walk": "study",
    "sink_factor": 2.0,
    "logreg": {"layers": [], "C": 1.0, "max_iter": 100},
}


def mixture(rng, n, minor_at=12.0, share=0.02):
    """A logistic bulk with a small minor mode far in the right tail (the study's picture)."""
    x = rng.logistic(0, 1, n)
    k = int(n * share)
    x[:k] = rng.normal(minor_at, 0.3, k)
    return x


def test_kde_grid_matches_scipy():
    rng = np.random.default_rng(0)
    values = mixture(rng, 20_000)
    lo, hi = values.min(), values.max()
    ours = kde_grid(values, lo, hi, 1000)
    ref = gaussian_kde(values, bw_method="scott")(np.linspace(lo, hi, 1000))
    assert np.max(np.abs(ours - ref)) <= 1e-4 * ref.max()


def test_tail_walk_finds_the_minor_mode_and_nothing_without_one():
    rng = np.random.default_rng(1)
    values = mixture(rng, 40_000)
    grid = np.linspace(values.min(), values.max(), 1000)
    dens = kde_grid(values, grid[0], grid[-1], 1000)
    _, hi = tail_cutoffs(grid, dens)
    assert 5 < hi < 12  # between the bulk and the minor mode at 12
    # a lone Gaussian: the density never rises again on either side; the study's walk runs on
    # to the grid's ends (`edge`, the default), the `none` rule gives that side no tail
    g = np.linspace(-5, 5, 1000)
    plain = np.exp(-(g**2) / 2) / np.sqrt(2 * np.pi)
    assert tail_cutoffs(g, plain) == (-5.0, 5.0) == study_walk(g, plain)
    assert tail_cutoffs(g, plain, no_mode="none") == (-np.inf, np.inf)
    # a side with a minor mode keeps its cutoff under both rules
    assert tail_cutoffs(grid, dens, no_mode="none")[1] == hi
    # one side without: a half-Gaussian rising to a minor mode on the right only
    half = np.where(g < 0, plain, plain + 1e-3 * np.exp(-((g - 4.7) ** 2) * 50))
    lo_edge, hi_edge = tail_cutoffs(g, half)
    assert (lo_edge, hi_edge) == study_walk(g, half) and lo_edge == -5.0 and 4 < hi_edge < 4.7
    assert tail_cutoffs(g, half, no_mode="none") == (-np.inf, hi_edge)
    # the mirror image finds the left cutoff at minus the right one under `steps`; the study's
    # left slice leaves the point itself out, so its left cutoff sits one grid step further in
    step = grid[1] - grid[0]
    hi_steps = tail_cutoffs(grid, dens, walk="steps")[1]
    assert tail_cutoffs(-grid[::-1], dens[::-1], walk="steps")[0] == pytest.approx(-hi_steps)
    lo2, _ = tail_cutoffs(-grid[::-1], dens[::-1])
    assert abs(lo2 + hi) <= 1.001 * step


def study_walk(grid, density, below=1e-4):
    """The study's walk as its text describes it, written out: from the grid point nearest 0,
    step outward while the density is not below `below` or no minor mode starts; the point
    where the walk stops (the grid's end if nothing stops it) is the cutoff."""
    i = j = int(np.argmin(np.abs(grid)))
    while i > 0:
        ahead = density[max(0, i - 4) : i][::-1]
        if density[i] < below and len(ahead) >= 4 and np.sum(ahead[1:] > ahead[0]) >= 3:
            break
        i -= 1
    while j < len(grid) - 1:
        ahead = density[j : j + 5]
        if density[j] < below and len(ahead) >= 4 and np.sum(ahead[1:] > ahead[0]) >= 3:
            break
        j += 1
    return float(grid[i]), float(grid[j])


def test_walk_equals_the_studys_on_random_densities():
    """`walk: study` (the default) equals the study's walk written out on 200 KDEs of a
    logistic bulk with a minor mode of random size and side; `steps` (rising steps) is
    another rule and moves some cutoffs."""
    rng = np.random.default_rng(0)
    differ = 0
    for _ in range(200):
        x = rng.logistic(0, 1, 2000)
        k = int(rng.integers(0, 60))
        x[:k] = rng.normal(rng.choice([-1, 1]) * rng.uniform(8, 20), 0.5, k)
        grid = np.linspace(x.min(), x.max(), 1000)
        dens = kde_grid(x, grid[0], grid[-1], 1000)
        assert tail_cutoffs(grid, dens) == study_walk(grid, dens)
        differ += tail_cutoffs(grid, dens, walk="steps") != study_walk(grid, dens)
    assert differ > 10  # the two rules really differ (52 of 200 when measured)


@pytest.mark.parametrize("no_mode", ["edge", "none"])
def test_no_minor_mode_side_scores_values_beyond_the_training_range(no_mode):
    """A pair whose training density has no minor mode: under `edge` its tail values are the
    test values beyond the training range (scored at the edge density), under `none` it has no
    tail values and every sentence gets the floor d * log(eps)."""
    rng = np.random.default_rng(3)
    d, pairs = 40, ["s:a"]
    train = [[rng.logistic(0, 1, (30, d))]]
    models = fit_densities(train, pairs, [0], n_grid=300, tail_no_mode=no_mode)
    lo, hi = models.lo[0, 0], models.hi[0, 0]
    expected = (lo, hi) if no_mode == "edge" else (-np.inf, np.inf)
    assert (models.cut_lo[0, 0], models.cut_hi[0, 0]) == expected
    test = rng.logistic(0, 1, (3, d))
    test[0, :4] = hi + np.array([0.5, 1.0, 2.0, 3.0])  # four values beyond the range
    test[1, :2] = lo - 1.0  # two: fewer than min_tail
    test[2] = np.clip(test[2], lo + 1e-9, hi - 1e-9)  # none
    scores = layer_scores([test], models, ["tails"])["tails"][:, 0, 0]
    slow = layer_scores_loop([test], models, ["tails"])["tails"][:, 0, 0]
    np.testing.assert_allclose(scores, slow, rtol=1e-12)
    floor = d * np.log(1e-6)
    if no_mode == "edge":
        edge = models.density[0, 0, -1]  # the `edge` extrapolation: the end density
        assert scores[0] == pytest.approx(d * np.log(edge + 1e-6), rel=1e-9)
        assert scores[1] == scores[2] == floor
    else:
        assert np.all(scores == floor)


def planted(rng, n_pairs=6, n_layers=3, d=48, n_train=12, n_test=5, sep=3.0):
    """Every pair: a logistic bulk plus a minor mode at 8 + sep * p (sep=0: all the same)."""
    at = 8 + sep * np.arange(n_pairs)
    pairs = [f"s{p // 3}:a{p % 3}" for p in range(n_pairs)]
    train = [
        [mixture(rng, n_train * d, at[p], 0.1).reshape(n_train, d) for p in range(n_pairs)]
        for _ in range(n_layers)
    ]
    truth = np.repeat(np.arange(n_pairs), n_test)
    test = [np.stack([mixture(rng, d, at[p], 0.1) for p in truth]) for _ in range(n_layers)]
    return pairs, train, test, truth


@pytest.mark.parametrize("extrapolation", ["edge", "zero"])
def test_kernel_scores_equal_the_loop(extrapolation):
    rng = np.random.default_rng(2)
    pairs, train, test, _ = planted(rng)
    models = fit_densities(train, pairs, [0, 1, 2], n_grid=200)
    # one layer without any tail: the walk found no cutoff for pair 0 at layer 1
    models.cut_lo[0, 1], models.cut_hi[0, 1] = -np.inf, np.inf
    fast = layer_scores(test, models, RULES, extrapolation=extrapolation, threads=2)
    slow = layer_scores_loop(test, models, RULES, extrapolation=extrapolation)
    for rule in RULES:
        np.testing.assert_allclose(fast[rule], slow[rule], rtol=1e-10, atol=1e-8)
    floor = 48 * np.log(1e-6)
    assert np.all(fast["tails"][:, 0, 1] == floor)


@pytest.mark.parametrize("extrapolation", ["edge", "zero"])
def test_kernel_at_the_exact_ends_of_the_training_range(extrapolation):
    """A test value equal to a pair's training min or max (common with bf16 shards: few distinct
    values) is inside the grid, as in np.interp: the end density, never the `zero` outside."""
    rng = np.random.default_rng(5)
    pairs, train, test, _ = planted(rng)
    models = fit_densities(train, pairs, [0, 1, 2], n_grid=200)
    for li in range(3):
        for i, row in enumerate(test[li]):
            p = i % len(pairs)
            row[:3] = models.lo[p, li], models.hi[p, li], np.nextafter(models.lo[p, li], np.inf)
    fast = layer_scores(test, models, RULES, extrapolation=extrapolation)
    slow = layer_scores_loop(test, models, RULES, extrapolation=extrapolation)
    for rule in RULES:
        np.testing.assert_allclose(fast[rule], slow[rule], rtol=1e-10, atol=1e-8)


def test_kernel_products_of_16_and_their_overflow_fallback():
    """`all` takes one log per product of 16 densities; a product that overflows (a density
    above ~1e19) falls back to one log per value. d = 45: two blocks of 16 plus a remainder."""
    rng = np.random.default_rng(4)
    pairs, train, test, _ = planted(rng, d=45)
    models = fit_densities(train, pairs, [0, 1, 2], n_grid=200)
    models.density[0] *= 1e25  # pair 0: the densities of most values overflow in 16-products
    slow = layer_scores_loop(test, models, RULES)
    assert np.mean(slow["all"][:, 0]) / 45 > np.log(np.finfo(float).max) / 16
    for threads in (1, 2):
        fast = layer_scores(test, models, RULES, threads=threads)
        for rule in RULES:
            np.testing.assert_allclose(fast[rule], slow[rule], rtol=1e-12, atol=1e-8)


def test_planted_classes_separable_and_inseparable():
    rng = np.random.default_rng(3)
    pairs, train, test, truth = planted(rng, sep=6.0, n_train=40)
    models = fit_densities(train, pairs, [0, 1, 2], n_grid=300)
    scores = layer_scores(test, models, ["all", "tails", "std2"], extrapolation="zero")
    for rule, array in scores.items():
        assert (array.sum(2).argmax(1) == truth).mean() == 1.0, rule
    # the study's edge density: a narrow pair's minor-mode edge density covers the values far
    # beyond its range, so narrow pairs attract sentences of wider ones
    edge = layer_scores(test, models, ["all"])["all"].sum(2).argmax(1)
    assert (edge == truth).mean() < 0.9 and (edge <= truth).all()
    pairs, train, test, truth = planted(rng, sep=0.0, n_test=40)
    models = fit_densities(train, pairs, [0, 1, 2], n_grid=300)
    acc = (layer_scores(test, models, ["all"])["all"].sum(2).argmax(1) == truth).mean()
    assert acc < 0.4  # chance is 1/6


def test_ties_go_to_the_first_pair_and_topk_is_stable():
    total = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0]])
    order, scores = top_k(total)
    assert order.tolist() == [[1, 2, 3], [0, 1, 2]]
    assert scores[0].tolist() == [3.0, 3.0, 2.0]
    with pytest.raises(ValueError, match="non-finite"):
        top_k(np.array([[0.0, np.nan]]))


def test_class_metrics_mark_undefined_values():
    # class 2 has no test sentences; class 1 is never predicted
    m = class_metrics(np.array([[2, 0, 1], [1, 0, 0], [0, 0, 0]]))
    assert m["status"].tolist() == ["ok", "never predicted", "no test sentences"]
    assert m["precision"][1] == 0.0 and np.isnan(m["recall"][2])
    assert m["f1"][0] == pytest.approx(2 * 2 / (3 + 3))


def test_variant_names():
    v = parse_variant("tails_L1-2_zero", 3)
    assert (v.rule, v.layers, v.extrapolation) == ("tails", (1, 2), "zero")
    assert parse_variant("std2.5", 4).layers == (0, 1, 2, 3)
    with pytest.raises(AtlasError, match="not a variant name"):
        parse_variant("tail", 3)
    with pytest.raises(AtlasError, match="layers 2..5"):
        parse_variant("all_L2-5", 3)


def write_acts(path, rng, drop_test_for=None, drop_train_for=None, nan=False):
    pairs, train, test, truth = planted(rng, n_layers=2, n_test=3, sep=6.0, n_train=40)
    rows = []
    for p, pair in enumerate(pairs):
        for i in range(40):
            rows.append((pair, "train", ("train", p, i)))
        for i in np.flatnonzero(truth == p):
            rows.append((pair, "test", ("test", p, i)))
    keep = [
        r
        for r in rows
        if not (r[0] == drop_test_for and r[1] == "test")
        and not (r[0] == drop_train_for and r[1] == "train")
    ]
    path.mkdir(parents=True)
    for layer in range(2):
        vecs = [
            train[layer][p][i] if kind == "train" else test[layer][i] for _, _, (kind, p, i) in keep
        ]
        shard = np.stack(vecs).astype(np.float32)
        if nan and layer == 1:
            shard[3, 5] = np.nan
        np.save(path / f"layer_{layer}.npy", shard)
    index = pl.DataFrame(
        {
            "row": list(range(len(keep))),
            "id": [f"x{i}" for i in range(len(keep))],
            "pair": [r[0] for r in keep],
            "subject": [r[0].split(":")[0] for r in keep],
            "attribute": [r[0].split(":")[1] for r in keep],
            "split": [r[1] for r in keep],
        }
    )
    write_parquet(index, path / "index.parquet")
    write_meta(path, 2, shard.shape[1], len(keep))
    return pairs


def acts_of(folder):
    """The index, the shards (in layer order) and the meta.json of a folder from write_acts."""
    shards = [folder / f"layer_{i}.npy" for i in range(2)]
    return folder / "index.parquet", shards, folder / "meta.json"


def test_run_with_a_pair_without_test_sentences(tmp_path):
    rng = np.random.default_rng(4)
    pairs = write_acts(tmp_path / "acts", rng, drop_test_for="s0:a1")
    meta = run_classifier(
        *acts_of(tmp_path / "acts"),
        "m",
        SETTINGS,
        tmp_path / "out",
        ["all_zero", "tails", "std2_L1"],
    )
    assert meta["pairs"] == 6 and meta["n_test"] == 15
    metrics = pl.read_parquet(tmp_path / "out/all_zero/metrics.parquet")
    assert dict(metrics.schema) == METRICS_SCHEMA
    row = metrics.filter((pl.col("level") == "pair") & (pl.col("class") == "s0:a1"))
    assert row["status"][0] == "no test sentences" and row["support"][0] == 0
    assert metrics.filter(pl.col("class") == "macro").height == 3
    macro = metrics.filter((pl.col("level") == "pair") & (pl.col("class") == "macro"))["f1"][0]
    assert macro >= 0.9  # planted, separable
    pred = pl.read_parquet(tmp_path / "out/all_zero/predictions.parquet")
    assert dict(pred.schema) == PREDICTIONS_SCHEMA and pred.height == 15
    assert set(pred["pred_pair"]) <= set(pairs)
    conf = pl.read_parquet(tmp_path / "out/tails/confusion.parquet")
    assert conf.filter(pl.col("level") == "pair").height == 36
    assert conf.filter(pl.col("level") == "pair")["count"].sum() == 15
    sinks = pl.read_parquet(tmp_path / "out/std2_L1/sinks.parquet")
    assert sinks["predicted"].sum() == 15 and sinks["expected"][0] == pytest.approx(15 / 6)
    logreg = pl.read_parquet(tmp_path / "out/logreg/accuracy.parquet")
    # 3 levels x top-1..3; planted signal ignores coordinates, so logreg is near chance here
    assert logreg.height == 9 and logreg["accuracy"].is_between(0, 1).all()
    sweep = pl.read_parquet(tmp_path / "out/layer_sweep.parquet")
    assert sweep.height == 3 * 2  # (all, zero), (tails, edge), (std2, edge) x 2 layers


def test_bad_inputs_name_the_problem(tmp_path):
    rng = np.random.default_rng(5)
    write_acts(tmp_path / "a", rng, drop_train_for="s1:a0")
    with pytest.raises(AtlasError, match="'s1:a0' has no training sentences"):
        run_classifier(
            *acts_of(tmp_path / "a"), "m", SETTINGS, tmp_path / "o", ["all"], with_logreg=False
        )
    write_acts(tmp_path / "b", rng, nan=True)
    with pytest.raises(AtlasError, match=r"layer_1.npy: row 3 \(sentence x3\), dimension 5 is nan"):
        run_classifier(
            *acts_of(tmp_path / "b"), "m", SETTINGS, tmp_path / "o", ["all"], with_logreg=False
        )
    with pytest.raises(AtlasError, match="index.parquet: not found"):
        run_classifier(*acts_of(tmp_path / "c"), "m", SETTINGS, tmp_path / "o", ["all"])


@pytest.mark.workflow
def test_tiny_run_outputs(tiny_run, tiny_config):
    base = tiny_run / "results/classifier/tiny/tiny-llama"
    variants = tiny_config["classifier"]["variants"]
    index = tiny_run / "results/activations/tiny/tiny-llama/seed/index.parquet"
    n_test = pl.read_parquet(index).filter(pl.col("split") == "test").height
    for variant in [*variants, "logreg"]:
        folder = base / variant
        pred = pl.read_parquet(folder / "predictions.parquet")
        assert pred.height == n_test and dict(pred.schema) == PREDICTIONS_SCHEMA
        for name in ("confusion", "metrics", "accuracy", "sinks"):
            assert pl.read_parquet(folder / f"{name}.parquet").height > 0
        assert (folder / "confusion.png").stat().st_size > 0
    summary = pl.read_parquet(base / "summary.parquet")
    assert set(summary["protocol"]) == {"seed", "last"}
    assert summary["macro_f1"].is_finite().all()
    findings = pl.read_parquet(base / "findings.parquet")
    assert findings.height == 7 and findings["claim_id"].n_unique() == 7
    assert findings["rule"].str.len_chars().min() > 0
    tails = findings.filter(pl.col("claim_id").str.starts_with("tails-beat-all"))
    assert (tails["n"] == n_test).all() and tails["rule"].str.contains("paired bootstrap").all()
    control = pl.read_parquet(base / "japanese_control.parquet")
    assert set(control["variant"]) == {"all", "tails"}
    meta = json.loads((base / "meta.json").read_text())
    assert meta["layers"] == 3 and meta["pairs"] == 6


def test_findings_decide_by_paired_bootstrap_and_test_the_whole_claim():
    """Planted predictions over 3 subjects x 2 attributes: tails is right more often than all on
    the same sentences (holds, with its interval over the test sentences); a third subject beats
    EA and football, so they are not THE top two (does not hold)."""
    from resid_atlas.classifier.metrics import metrics_frame, predictions_frame
    from resid_atlas.classifier.summary import SUMMARY_SCHEMA, findings_rows

    rng = np.random.default_rng(0)
    subjects = ["about effective altruism", "about american football", "about cats"]
    pairs = [f"{s}:{a}" for s in subjects for a in ("in english", "in japanese")]
    n = 900
    truth = rng.integers(0, len(pairs), n)
    test = pl.DataFrame(
        {
            "row": np.arange(n, dtype=np.int32),
            "id": [str(i) for i in range(n)],
            "pair": [pairs[t] for t in truth],
        }
    ).with_columns(
        subject=pl.col("pair").str.split(":").list.first(),
        attribute=pl.col("pair").str.split(":").list.last(),
    )
    draw = rng.random(n)
    accuracy = {"about cats": 0.95}  # the best subject is not one the study named

    def scores(base):
        total = rng.normal(0, 0.01, (n, len(pairs)))
        for i, t in enumerate(truth):
            acc = accuracy.get(pairs[t].split(":")[0], base)
            total[i, t if draw[i] < acc else (t + 1) % len(pairs)] += 1
        return total

    preds, metrics, summary = {}, {}, []
    for variant, base in (("all", 0.55), ("tails", 0.75)):
        preds[variant] = predictions_frame("m", variant, test, pairs, scores(base))
        metrics[variant] = metrics_frame(preds[variant], pairs, "m", variant)
        for level in ("pair", "subject", "attribute"):
            macro = metrics[variant].filter(
                (pl.col("level") == level) & (pl.col("class") == "macro")
            )
            summary.append(("m", "seed", variant, level, macro["f1"][0], 0.0, 0.0, 0, 1.0))
    summary = pl.DataFrame(summary, schema=SUMMARY_SCHEMA, orient="row")
    rules = {
        "main_variant": "all",
        "bootstrap": 400,
        "seed": 0,
        "predictable_attributes": ["in japanese"],
        "top_attributes": 1,
        "subject_f1_range": [0.2, 0.35],
        "top_subjects": subjects[:2],
        "japanese_attribute": "in japanese",
        "sink_factor": 2.0,
    }
    rows = {r["claim_id"]: r for r in findings_rows(summary, metrics, preds, None, "m", rules, {})}
    tails = rows["tails-beat-all-subject"]
    assert tails["verdict"] == "holds" and tails["n"] == n and 0 < tails["ci_low"] < tails["effect"]
    assert tails["effect"] == pytest.approx(
        summary.filter((pl.col("variant") == "tails") & (pl.col("level") == "subject"))["macro_f1"][
            0
        ]
        - summary.filter((pl.col("variant") == "all") & (pl.col("level") == "subject"))["macro_f1"][
            0
        ]
    )
    top = rows["ea-and-football-top-subjects"]
    assert top["verdict"] == "does not hold" and top["ci_high"] < 0
    assert rows["japanese-not-a-pooling-artifact"]["verdict"] == "not run"
    assert all(r["rule"] for r in rows.values())
    # a claim naming an attribute the corpus lacks is not run, not judged on the rest
    rules["predictable_attributes"] = ["in japanese", "in klingon"]
    rows = {r["claim_id"]: r for r in findings_rows(summary, metrics, preds, None, "m", rules, {})}
    assert rows["language-and-case-most-predictable"]["verdict"] == "not run"


def test_sinks_weaker_is_a_paired_interval_of_the_sentences_sinks_absorb():
    """One pair absorbs a third of the sentences under `all` and none under `tails`: the claim
    holds, with an interval over the test sentences; swapped, it does not hold. The effect at
    the observed sentences is the sinks tables' excess (predicted beyond 2 x expected), all
    minus tails."""
    from resid_atlas.classifier.metrics import sinks_frame
    from resid_atlas.classifier.summary import sinks_weaker

    rng = np.random.default_rng(1)
    pairs = [f"about s{i}:in a{j}" for i in range(5) for j in range(4)]
    n = 800
    truth = rng.integers(0, len(pairs), n)
    sunk = np.where(rng.random(n) < 1 / 3, 0, truth)  # a third predicted as pairs[0]

    def frame(pred):
        return pl.DataFrame(
            {
                "row": np.arange(n, dtype=np.int32),
                "pair": [pairs[t] for t in truth],
                "pred_pair": [pairs[p] for p in pred],
            }
        )

    preds = {"all": frame(sunk), "tails": frame(truth)}

    def excess(pred):
        sinks = sinks_frame(pred, pairs, "m", "v", 2.0)
        return float((sinks["predicted"] - 2.0 * sinks["expected"]).clip(0, None).sum() / n)

    ev = sinks_weaker(preds, 2.0, 400, 0)
    assert ev.verdict == "holds" and ev.n == n and 0 < ev.ci_low < ev.effect < ev.ci_high
    assert ev.effect == pytest.approx(excess(preds["all"]) - excess(preds["tails"]))
    assert excess(preds["tails"]) == 0 and excess(preds["all"]) > 0.2  # ~1/3 + 1/20 - 2/20
    swapped = sinks_weaker({"all": preds["tails"], "tails": preds["all"]}, 2.0, 400, 0)
    assert swapped.verdict == "does not hold" and swapped.ci_high < 0
