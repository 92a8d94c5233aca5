"""Representation geometry: planted structure, agreement with the loop definition and libraries,
clear errors, and the tiny end-to-end outputs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from resid_atlas.core.errors import AtlasError
from resid_atlas.geometry.attraction import attraction_loop, attraction_scores
from resid_atlas.geometry.cells import cell_grid
from resid_atlas.geometry.grouping import within_between
from resid_atlas.geometry.layer import GROUPING_SCHEMA, SCORES_SCHEMA, layer_tables, project
from resid_atlas.geometry.similarity import (
    mean_pairwise_cosine_loop,
    set_similarity,
    unit_rows,
)

SETTINGS = {
    "variants": ["raw", "centred", "pca"],
    "pca_variance": 0.9,
    "similarity": "pairwise",
    "rows": "all",
    "min_per_pair": 2,
    "silhouette_metric": "cosine",
    "silhouette_sample": 0,
    "seed": 0,
}


def planted(
    n_s=4,
    n_a=5,
    per=6,
    d=48,
    subject_w=1.0,
    attribute_w=1.0,
    noise=0.3,
    seed=0,
    subject_boost=None,
    attribute_boost=None,
):
    """Sentence vectors = weighted subject direction + attribute direction + offset + noise."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_s, d))
    v = rng.normal(size=(n_a, d))
    sw = np.full(n_s, subject_w)
    aw = np.full(n_a, attribute_w)
    if subject_boost:
        sw[subject_boost[0]] = subject_boost[1]
    if attribute_boost:
        aw[attribute_boost[0]] = attribute_boost[1]
    offset = rng.normal(size=d) * 2.0
    rows, subjects, attributes = [], [], []
    for s in range(n_s):
        for a in range(n_a):
            for _ in range(per):
                rows.append(offset + sw[s] * u[s] + aw[a] * v[a] + noise * rng.normal(size=d))
                subjects.append(f"s{s}")
                attributes.append(f"a{a}")
    index = pl.DataFrame(
        {
            "row": np.arange(len(rows), dtype=np.int32),
            "subject": subjects,
            "attribute": attributes,
            "pair": [f"{s}:{a}" for s, a in zip(subjects, attributes, strict=True)],
            "split": ["train" if i % 4 else "test" for i in range(len(rows))],
        }
    )
    return np.array(rows), index


def scores_of(x, index, method="pairwise", variant="raw"):
    grid = cell_grid(index, "all", 2, "test")
    z, _, _ = project(x[grid.rows], variant, 0.9)
    sim = set_similarity(z, grid.labels, grid.n_cells, method)
    return attraction_scores(sim, grid.present), grid


@pytest.mark.parametrize("variant", ["raw", "pca"])
def test_subject_dominated_scores_positive(variant):
    x, index = planted(subject_w=3.0, attribute_w=0.5)
    att, _ = scores_of(x, index, variant=variant)
    assert (att.score > 0).all()


@pytest.mark.parametrize("variant", ["raw", "pca"])
def test_attribute_dominated_scores_negative(variant):
    x, index = planted(subject_w=0.5, attribute_w=3.0)
    att, _ = scores_of(x, index, variant=variant)
    assert (att.score < 0).all()


def test_stronger_pull_gives_larger_magnitude():
    x_weak, index = planted(subject_w=1.2, attribute_w=1.0)
    x_strong, _ = planted(subject_w=3.0, attribute_w=1.0)
    weak, _ = scores_of(x_weak, index)
    strong, _ = scores_of(x_strong, index)
    assert np.abs(strong.score).mean() > np.abs(weak.score).mean()


def test_boosted_subject_and_attribute_rank_first():
    x, index = planted(subject_boost=(2, 3.0), attribute_boost=(4, 3.0))
    att, _ = scores_of(x, index, variant="pca")
    subject_pull = att.score.mean(axis=1)
    attribute_pull = -att.score.mean(axis=0)
    assert int(np.argmax(subject_pull)) == 2
    assert int(np.argmax(attribute_pull)) == 4


@pytest.mark.parametrize("method", ["pairwise", "centroid"])
def test_vectorised_score_matches_loop_definition(method):
    x, index = planted(n_s=3, n_a=4, per=4, d=16, seed=3)
    att, grid = scores_of(x, index, method=method)
    groups = {
        (s, a): x[grid.rows][grid.labels == s * grid.shape[1] + a]
        for s in range(grid.shape[0])
        for a in range(grid.shape[1])
    }
    if method == "pairwise":

        def sim(a, b):
            return float(cosine_similarity(a, b).mean())
    else:

        def sim(a, b):
            return float(
                cosine_similarity(a.mean(0, keepdims=True), b.mean(0, keepdims=True))[0, 0]
            )

    expected = attraction_loop(groups, *grid.shape, sim)
    np.testing.assert_allclose(att.score, expected, atol=1e-12)


def test_set_similarity_matches_sklearn_and_the_sentence_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 12)) + 0.5
    labels = np.repeat(np.arange(5), 6)
    sim = set_similarity(x, labels, 5, "pairwise")
    for i in range(5):
        for j in range(5):
            a, b = x[labels == i], x[labels == j]
            if i == j:
                c = cosine_similarity(a)
                expected = (c.sum() - np.trace(c)) / (len(a) * (len(a) - 1))
            else:
                expected = cosine_similarity(a, b).mean()
                assert mean_pairwise_cosine_loop(a, b) == pytest.approx(expected, abs=1e-12)
            assert sim[i, j] == pytest.approx(expected, abs=1e-12)


def test_fast_pca_solver_matches_the_full_svd():
    from sklearn.decomposition import PCA

    from resid_atlas.geometry.layer import pca_solver

    x, _ = planted(n_s=4, n_a=5, per=10, d=24, noise=0.5)
    assert pca_solver(*x.shape) == "covariance_eigh" and pca_solver(10, 24) == "full"
    z, k, kept = project(x, "pca", 0.9)
    full = PCA(n_components=0.9, svd_solver="full").fit(x)
    assert k == full.n_components_ and kept == pytest.approx(
        full.explained_variance_ratio_.sum(), abs=1e-10
    )
    np.testing.assert_allclose(
        cosine_similarity(z), cosine_similarity(full.transform(x)), atol=1e-8
    )


def test_within_between_matches_brute_force():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(25, 8))
    labels = rng.integers(0, 4, size=25)
    c = cosine_similarity(x)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(25, dtype=bool)
    within, between = within_between(unit_rows(x, "t"), labels)
    assert within == pytest.approx(c[same & off].mean(), abs=1e-12)
    assert between == pytest.approx(c[~same].mean(), abs=1e-12)


def test_incomplete_grid_skips_quadruples_with_missing_cells():
    x, index = planted(n_s=3, n_a=3, per=4, d=16)
    keep = (index["pair"] != "s0:a0").to_numpy()
    index = index.filter(keep).with_columns(row=pl.int_range(pl.len(), dtype=pl.Int32))
    att, grid = scores_of(x[keep], index)
    s = {name: i for i, name in enumerate(grid.subjects)}
    a = {name: i for i, name in enumerate(grid.attributes)}
    assert np.isnan(att.score[s["s0"], a["a0"]]) and grid.counts[s["s0"], a["a0"]] == 0
    # each present cell has 2 x 2 quadruples; those with a cell at s0:a0 are skipped
    assert att.n_terms[s["s1"], a["a1"]] == 3  # (s2, a2) = (s0, a0) skipped
    assert att.n_terms[s["s1"], a["a2"]] == 3  # (s0, a0) skipped
    assert att.n_terms[s["s0"], a["a1"]] == 2  # (s1, a0) and (s2, a0) skipped
    assert att.n_terms[s["s1"], a["a0"]] == 2  # (s0, a1) and (s0, a2) skipped
    assert np.isfinite(att.score[grid.present]).all()


def test_too_few_sentences_is_a_clear_error():
    _, index = planted(n_s=2, n_a=2, per=3, d=8)
    with pytest.raises(AtlasError, match=r"'s0:a0' \(3\).*min_per_pair"):
        cell_grid(index, "all", 5, "index.parquet")


def test_single_attribute_is_a_clear_error():
    _, index = planted(n_s=2, n_a=2, per=3, d=8)
    with pytest.raises(AtlasError, match="at least 2 of each"):
        cell_grid(
            index.filter(pl.col("attribute") == "a0").with_columns(
                row=pl.int_range(pl.len(), dtype=pl.Int32)
            ),
            "all",
            2,
            "index.parquet",
        )


def test_zero_vector_is_a_clear_error():
    x = np.ones((4, 3))
    x[2] = 0
    with pytest.raises(AtlasError, match="row 2 is the zero vector"):
        unit_rows(x, "layer_0.npy")


def test_layer_tables_schema_and_ordering():
    x, index = planted(subject_w=0.5, attribute_w=3.0, per=8)
    grid = cell_grid(index, "train", 2, "index.parquet")
    scores, groups = layer_tables(x[grid.rows], grid, SETTINGS, "d", "m", 3, "where")
    assert scores.schema == pl.Schema(SCORES_SCHEMA)
    assert groups.schema == pl.Schema(GROUPING_SCHEMA)
    assert scores.height == 3 * 20 and groups.height == 3 * 2
    assert (scores["score"] < 0).all()
    assert (scores["n_sentences"] == 6).all()  # 8 per pair, 2 in test
    for variant in SETTINGS["variants"]:
        g = {
            r["grouping"]: r
            for r in groups.filter(pl.col("variant") == variant).iter_rows(named=True)
        }
        assert g["attribute"]["silhouette"] > g["subject"]["silhouette"]
        assert g["attribute"]["gap"] > g["subject"]["gap"] > -1
    pca = scores.filter(pl.col("variant") == "pca")
    assert pca["n_components"][0] < 48 and pca["explained_variance"][0] >= 0.9


# --- across layers: summaries, trend, findings ----------------------------------------------

NAMED = ["in an angry tone", "in all lower case", "in a childish style", "in english", "in spanish"]


def shrinking_model(n_layers=6):
    """Per-layer tables of a model whose attribute pull fades with depth; three of the study's
    named attributes pull hardest."""
    scores, groups = [], []
    for layer in range(n_layers):
        x, index = planted(
            n_s=3, n_a=5, per=5, d=32, attribute_w=2.0 / (1 + layer), subject_w=0.2, seed=layer
        )
        weights = {"a0": 3.0, "a1": 2.5, "a2": 2.0}
        rng = np.random.default_rng(100 + layer)
        extra = rng.normal(size=(3, 32))
        for k, (name, w) in enumerate(weights.items()):
            rows = (index["attribute"] == name).to_numpy()
            x[rows] += w / (1 + layer) * extra[k]
        index = index.with_columns(
            attribute=pl.col("attribute").replace({f"a{i}": n for i, n in enumerate(NAMED)})
        )
        grid = cell_grid(index, "all", 2, "index")
        sc, gr = layer_tables(
            x, grid, {**SETTINGS, "variants": ["raw", "pca"]}, "d", "m", layer, "w"
        )
        scores.append(sc)
        groups.append(gr)
    return scores, groups


def test_summary_trend_and_findings_on_a_fading_model():
    from resid_atlas.geometry.summary import (
        PULLS_SCHEMA,
        SUMMARY_SCHEMA,
        TREND_SCHEMA,
        findings,
        summarise,
        trend,
    )

    scores, groups = shrinking_model()
    summary, pulls = summarise(scores, groups, n_layers=6)
    assert summary.schema == pl.Schema(SUMMARY_SCHEMA) and summary.height == 12
    assert pulls.schema == pl.Schema(PULLS_SCHEMA) and pulls.height == 2 * 6 * (3 + 5)
    assert (summary["groups_more_by"] == "attribute").head(2).all()
    t = trend(summary)
    assert t.schema == pl.Schema(TREND_SCHEMA)
    assert (t["spearman_rho"] < -0.8).all() and (t["ratio_last_first"] < 0.7).all()
    rows = {r["claim_id"]: r for r in findings(summary, pulls, t, "m", 0.05, {})}
    assert rows["distinctiveness-shrinks-with-depth"]["verdict"] == "holds"
    assert rows["distinctiveness-shrinks-with-depth-raw"]["verdict"] == "holds"
    assert rows["named-attributes-attract-most"]["verdict"] == "holds"
    assert rows["named-attributes-attract-most"]["value"] == 3
    assert rows["lower-case-stays-distinctive"]["verdict"] == "holds"
    shrink = rows["distinctiveness-shrinks-with-depth"]
    assert shrink["n"] == 6 and shrink["p_value"] == pytest.approx(1 / 720)  # exact, 6 layers
    assert "Spearman" in shrink["rule"] and "exact" in shrink["rule"]
    top = summary.filter(pl.col("variant") == "pca")["top_attribute"].to_list()
    assert top[0] == "in an angry tone"


def test_growing_distinctiveness_does_not_hold():
    from resid_atlas.geometry.summary import findings, summarise, trend

    scores, groups = shrinking_model()
    n = len(scores)
    flipped = [s.with_columns(layer=pl.lit(n - 1 - i, pl.Int32)) for i, s in enumerate(scores)]
    flipped_g = [g.with_columns(layer=pl.lit(n - 1 - i, pl.Int32)) for i, g in enumerate(groups)]
    summary, pulls = summarise(flipped, flipped_g, n_layers=n)
    rows = {r["claim_id"]: r for r in findings(summary, pulls, trend(summary), "m", 0.05, {})}
    assert rows["distinctiveness-shrinks-with-depth"]["verdict"] == "does not hold"


def test_depth_trend_over_four_layers_is_inconclusive():
    """Four layers shrinking perfectly: exact one-sided p 1/24, but n < 5, so no verdict."""
    from resid_atlas.geometry.summary import findings, summarise, trend

    scores, groups = shrinking_model(n_layers=4)
    summary, pulls = summarise(scores, groups, n_layers=4)
    rows = {r["claim_id"]: r for r in findings(summary, pulls, trend(summary), "m", 0.05, {})}
    row = rows["distinctiveness-shrinks-with-depth"]
    assert row["verdict"] == "inconclusive" and "n too small" in row["rule"]
    assert row["n"] == 4 and row["p_value"] == pytest.approx(1 / 24)


def test_summary_needs_every_layer():
    from resid_atlas.geometry.summary import summarise

    scores, groups = shrinking_model(n_layers=2)
    with pytest.raises(AtlasError, match="expected 0..2"):
        summarise(scores, groups, n_layers=3)


# --- the link to the distribution atlas's mode catalogs -------------------------------------


def synthetic_modes(scores: pl.DataFrame) -> pl.DataFrame:
    """A mode catalog (MODES_SCHEMA columns the link reads) whose count of left modes follows
    each pair's raw score rank, plus a pooled row and a degenerate pair."""
    raw = scores.filter(pl.col("variant") == "raw").sort("score")
    rows = []
    for rank, r in enumerate(raw.iter_rows(named=True)):
        n_left = rank // 3
        base = {
            "layer": r["layer"],
            "pair": r["pair"],
            "status": "ok",
            "n_left": n_left,
            "n_right": 1,
        }
        rows.append(
            {
                **base,
                "side": "main",
                "rel_height": 1.0,
                "volume": 0.5,
                "spread": 1.0,
                "dist_main_sd": 0.0,
            }
        )
        for k in range(n_left):
            rows.append(
                {
                    **base,
                    "side": "left",
                    "rel_height": 0.01 * (k + 1),
                    "volume": 0.001,
                    "spread": 0.1,
                    "dist_main_sd": -3.0 - k,
                }
            )
        rows.append(
            {
                **base,
                "side": "right",
                "rel_height": 0.02,
                "volume": 0.002,
                "spread": 0.1,
                "dist_main_sd": 4.0,
            }
        )
    rows.append(
        {
            "layer": 0,
            "pair": "(pooled)",
            "status": "ok",
            "n_left": 9,
            "n_right": 9,
            "side": "main",
            "rel_height": 1.0,
            "volume": 1.0,
            "spread": 1.0,
            "dist_main_sd": 0.0,
        }
    )
    return pl.DataFrame(rows)


def test_mode_link_recovers_a_planted_correlation():
    from resid_atlas.geometry.modes_link import (
        CORRELATION_SCHEMA,
        correlate,
        modes_findings,
        pair_characteristics,
    )

    x, index = planted(n_s=4, n_a=5, per=5, d=32, subject_w=1.0, attribute_w=1.3, noise=1.0)
    grid = cell_grid(index, "all", 2, "index")
    scores, _ = layer_tables(x, grid, {**SETTINGS, "variants": ["raw", "pca"]}, "d", "m", 0, "w")
    modes = synthetic_modes(scores)
    chars = pair_characteristics(modes)
    assert chars.height == 20  # the pooled sample is left out
    settings = {"correlation": "spearman", "alpha": 0.05}
    table = correlate(scores, modes, settings)
    assert table.schema == pl.Schema(CORRELATION_SCHEMA)
    row = table.filter(
        (pl.col("variant") == "raw")
        & (pl.col("characteristic") == "n_left")
        & (pl.col("target") == "score")
    ).row(0, named=True)
    assert row["r"] > 0.95 and row["q_value"] < 0.01 and row["n_pairs"] == 20
    const = table.filter(pl.col("characteristic") == "n_right")["status"].unique().to_list()
    assert const == ["constant values"]
    f = modes_findings(table, "m", settings, "fig.png")[0]
    assert f["verdict"] == "holds" and f["claim_id"] == "mode-characteristics-correlate"


def test_mode_catalog_with_missing_columns_is_a_clear_error(tmp_path):
    from resid_atlas.geometry.modes_link import read_modes

    path = tmp_path / "layer_0.parquet"
    pl.DataFrame({"layer": [0], "pair": ["a:b"]}).write_parquet(path)
    with pytest.raises(AtlasError, match="lacks column"):
        read_modes([str(path)])


# --- the tiny end-to-end run ------------------------------------------------------------------


@pytest.mark.workflow
def test_tiny_run_geometry_outputs(tiny_run):
    from PIL import Image

    from resid_atlas.geometry.summary import PULLS_SCHEMA, SUMMARY_SCHEMA, TREND_SCHEMA
    from resid_atlas.stats.findings import FINDINGS_SCHEMA, VERDICTS

    base = tiny_run / "results/geometry/tiny/tiny-llama"
    variants = ["raw", "centred", "pca"]  # config/tiny.yaml
    for layer in range(3):
        scores = pl.read_parquet(base / f"scores/layer_{layer}.parquet")
        assert scores.schema == pl.Schema(SCORES_SCHEMA)
        assert scores.height == len(variants) * 6  # 2 subjects x 3 attributes
        assert scores["score"].is_finite().all() and (scores["n_terms"] == 2).all()
        grouping = pl.read_parquet(base / f"grouping/layer_{layer}.parquet")
        assert grouping.schema == pl.Schema(GROUPING_SCHEMA) and grouping.height == 6
    summary = pl.read_parquet(base / "summary.parquet")
    assert summary.schema == pl.Schema(SUMMARY_SCHEMA) and summary.height == 9
    assert pl.read_parquet(base / "pulls.parquet").schema == pl.Schema(PULLS_SCHEMA)
    trend = pl.read_parquet(base / "trend.parquet")
    assert trend.schema == pl.Schema(TREND_SCHEMA) and sorted(trend["variant"]) == sorted(variants)
    findings = pl.read_parquet(base / "findings.parquet")
    assert findings.schema == pl.Schema(FINDINGS_SCHEMA) and findings.height == 5
    assert set(findings["verdict"]) <= set(VERDICTS)
    for variant in variants:
        assert (base / f"figures/heatmaps_{variant}.png").stat().st_size > 0
        with Image.open(base / f"figures/heatmaps_{variant}.gif") as gif:
            assert gif.n_frames == 3
    assert (base / "figures/depth.png").exists() and (base / "figures/grouping.png").exists()
    from resid_atlas.geometry.modes_link import CHARACTERISTICS, CORRELATION_SCHEMA

    corr = pl.read_parquet(base / "modes_correlation.parquet")
    assert corr.schema == pl.Schema(CORRELATION_SCHEMA)
    assert corr.height == 3 * len(variants) * len(CHARACTERISTICS) * 2
    assert set(corr["status"]) <= {"ok", "too few pairs", "constant values"}
    ok = corr.filter(pl.col("status") == "ok")
    assert ok["r"].is_finite().all() and ok["q_value"].is_between(0, 1).all()
    link = pl.read_parquet(base / "modes_findings.parquet")
    assert link.schema == pl.Schema(FINDINGS_SCHEMA) and link.height == 1
    assert (base / "figures/modes_correlation.png").exists()


def test_figures_render(tmp_path):
    from PIL import Image

    from resid_atlas.geometry.figures import (
        depth_figure,
        grouping_figure,
        heatmap_gif,
        heatmap_grid,
    )
    from resid_atlas.geometry.summary import summarise

    scores, groups = shrinking_model(n_layers=3)
    summary, _ = summarise(scores, groups, n_layers=3)
    allscores = pl.concat(scores)
    heatmap_grid(allscores, "pca", "m", tmp_path / "grid.png")
    heatmap_gif(allscores, "pca", "m", tmp_path / "anim.gif", 100)
    depth_figure(summary, "m", tmp_path / "depth.png")
    grouping_figure(pl.concat(groups), "m", tmp_path / "grouping.png")
    with Image.open(tmp_path / "anim.gif") as gif:
        assert gif.n_frames == 3
    for name in ("grid.png", "depth.png", "grouping.png"):
        with Image.open(tmp_path / name) as img:
            assert img.size[0] > 300
