"""Stable regions: paths, sharpness, patched curves, slices, summary and the tiny run's outputs."""

import copy
import json

import numpy as np
import polars as pl
import pytest
import torch

from resid_atlas.core.config import validate_config
from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import resolve_sites
from resid_atlas.models.residual import ResidualStream
from resid_atlas.regions.curves import clean_runs, curve_tables, interpolate_pair
from resid_atlas.regions.pairs import build_pairs, relation
from resid_atlas.regions.paths import arc_path, linear_path, normalise, rescaled_arc, sharpness
from resid_atlas.regions.slices import grid_points, similarities, slice_through
from resid_atlas.regions.summary import findings_rows, semantic_table, summarise
from resid_atlas.stats.bootstrap import median_ci

SETTINGS = {
    "pairings": ["stream", "meaning"],
    "paths": ["linear", "arc"],
    "stream_sampling": "random",
    "n_pairs": 6,
    "prompt_length": 10,
    "prepend_bos": True,
    "read_site": "hidden_states",
    "arc": "rescale",
    "steps": 11,
    "smooth_below": 1.2,
    "sharp_above": 5.0,
    "bootstrap": 200,
    "seed": 0,
}


# --- paths and sharpness --------------------------------------------------------------------


@pytest.mark.parametrize("steps", [3, 11, 101])
def test_straight_line_has_sharpness_one(steps):
    line = np.linspace(0, 2.5, steps)[None]
    assert sharpness(normalise(line)) == pytest.approx([1.0])


KEYS = ("write_layer", "read_layer")


def test_one_jump_has_sharpness_steps_minus_one_and_step_count_matters():
    for steps in (11, 21):
        jump = (np.arange(steps) >= steps // 2).astype(float)[None] * 3.0
        assert sharpness(normalise(jump)) == pytest.approx([steps - 1])
    assert np.isnan(normalise(np.zeros((1, 5)))).all()


def test_linear_path_end_points_and_even_steps():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    x = linear_path(a, b, 11)
    torch.testing.assert_close(x[0], a, rtol=0, atol=1e-6)
    torch.testing.assert_close(x[-1], b, rtol=0, atol=1e-6)
    gaps = (x[1:] - x[:-1]).norm(dim=1)
    torch.testing.assert_close(gaps, gaps.mean().expand_as(gaps))


def test_arc_keeps_its_norm_and_moves_evenly():
    g = torch.Generator().manual_seed(0)
    centre = torch.randn(32, generator=g, dtype=torch.float64)
    u, v = (
        torch.randn(32, generator=g, dtype=torch.float64),
        torch.randn(32, generator=g, dtype=torch.float64),
    )
    a, b = centre + 5 * u / u.norm(), centre + 5 * v / v.norm()
    x = arc_path(a, b, centre, 21)
    torch.testing.assert_close(
        (x - centre).norm(dim=1), torch.full((21,), 5.0, dtype=torch.float64)
    )
    torch.testing.assert_close(x[0], a)
    torch.testing.assert_close(x[-1], b)
    cos = torch.nn.functional.cosine_similarity(x[1:] - centre, x[:-1] - centre, dim=1)
    torch.testing.assert_close(cos, cos.mean().expand_as(cos))  # equal angles per step
    # unequal radii: the radius moves linearly between them
    x = arc_path(centre + 2 * u / u.norm(), b, centre, 11)
    torch.testing.assert_close(
        (x - centre).norm(dim=1), torch.linspace(2, 5, 11, dtype=torch.float64)
    )


def test_rescaled_arc_keeps_the_distance_to_the_mean():
    g = torch.Generator().manual_seed(1)
    centre, a, b = (torch.randn(32, generator=g, dtype=torch.float64) for _ in range(3))
    x = rescaled_arc(a, b, centre, 11)
    radius = (a - centre).norm()
    torch.testing.assert_close((x - centre).norm(dim=1), radius.expand(11))
    torch.testing.assert_close(x[0], a)
    # it ends on the ray from the centre through b, and every point is the rescaled line
    torch.testing.assert_close(x[-1], centre + (b - centre) * radius / (b - centre).norm())
    line = linear_path(a, b, 11) - centre
    cos = torch.nn.functional.cosine_similarity(x - centre, line, dim=1)
    torch.testing.assert_close(cos, torch.ones(11, dtype=torch.float64))


# --- patched runs on tiny models ------------------------------------------------------------


def _windows(lm, n=4, length=8):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, lm.model.config.vocab_size, (n, length), generator=g).numpy()


def test_interpolation_end_points_reproduce_clean_runs(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    windows = _windows(tiny_lm)
    write, read = resolve_sites(
        "regions", {"write_layer": 0, "read_layer": -1}, KEYS, stream.n_layers, "tiny"
    )
    # the raw residual at the read site and the even-angle arc, which ends at B
    clean = clean_runs(stream, windows, write, read, batch=3, read_site="resid_post")
    acts = torch.from_numpy(clean["write"])
    ids = torch.from_numpy(windows[0])
    dist, kl, h = interpolate_pair(
        stream, ids, acts[0], acts[1], acts.mean(0), write, read, 11, ["linear", "arc"],
        "slerp", "resid_post",
    )  # fmt: skip
    assert dist.shape == kl.shape == (2, 11) and h.shape[:2] == (2, 11)
    for k in range(2):
        # a = 0 is prompt A's own clean run
        np.testing.assert_allclose(h[k, 0], clean["read"][0], atol=1e-5, rtol=1e-5)
        assert dist[k, 0] == 0 and kl[k, 0] == 0
        # a = 1 is B's activation written into A's context: the full re-run gives the same
        full = stream.run_patched(ids, write, -1, acts[1:2], read_layers=(read,))
        np.testing.assert_allclose(h[k, -1], full.resid[read][0].numpy(), atol=1e-5, rtol=1e-5)
    reads = stream.read(torch.from_numpy(windows), layers=[read])[0][:, -1]
    np.testing.assert_allclose(clean["read"], reads.numpy(), atol=1e-5, rtol=1e-5)


def test_layers_are_checked():
    assert resolve_sites("regions", {"write_layer": 0, "read_layer": -1}, KEYS, 30, "m") == (0, 29)
    with pytest.raises(AtlasError, match="regions.read_layer = 40"):
        resolve_sites("regions", {"write_layer": 0, "read_layer": 40}, KEYS, 30, "m")
    with pytest.raises(AtlasError, match="must come before"):
        resolve_sites("regions", {"write_layer": -1, "read_layer": -1}, KEYS, 30, "m")


def test_settings_are_checked(tiny_config):
    config = copy.deepcopy(tiny_config)
    config["regions"].update(sharp_above=10, steps=11)
    with pytest.raises(AtlasError, match="regions.sharp_above = 10"):
        validate_config(config)
    config["regions"]["steps"] = 21
    validate_config(config)


def test_curve_tables_mark_degenerate_pairs():
    steps = 11
    dist = np.stack([np.linspace(0, 3, steps), np.zeros(steps)])[:, None, :]
    pairs = pl.DataFrame(
        {"pairing": ["stream"] * 2, "pair": [0, 1], "window_a": [0, 2], "window_b": [1, 3]},
        schema={"pairing": pl.String, "pair": pl.Int32, "window_a": pl.Int32, "window_b": pl.Int32},
    )
    clean = {"top": np.array([5, 5, 6, 7], dtype=np.int32)}
    curves, per_pair = curve_tables(dist, dist.copy(), pairs, clean, ["linear"], "m")
    assert curves.height == 2 * steps
    assert per_pair["sharpness"][0] == pytest.approx(1.0)
    assert per_pair["status"].to_list() == ["ok", "degenerate"]
    assert np.isnan(per_pair["sharpness"][1])
    assert per_pair["same_top"].to_list() == [True, False]


def test_pairs_stream_and_meaning(tiny_config):
    from resid_atlas.corpus.ingest import build_corpus
    from resid_atlas.models.tokenizer import byte_tokenizer

    corpus = build_corpus(tiny_config["datasets"]["tiny"], "tiny")
    tok = byte_tokenizer()
    windows, table = build_pairs(corpus, tok, SETTINGS, "stream")
    assert windows.shape == (7, 11)  # n_pairs + 1 drawn windows of BOS + 10 tokens
    assert (table["window_b"] == table["window_a"] + 1).all()  # neighbours in the draw
    windows, table = build_pairs(
        corpus, tok, {**SETTINGS, "stream_sampling": "consecutive"}, "stream"
    )
    assert windows.shape == (12, 11)
    assert table["window_a"].to_list() == list(range(0, 12, 2))
    windows, table = build_pairs(corpus, tok, {**SETTINGS, "n_pairs": 40}, "meaning")
    assert table.height == 40 and windows.shape[1] == 11
    assert sorted(table["relation"].unique()) == [
        "neither",
        "same-attribute",
        "same-both",
        "same-subject",
    ]
    for row in table.iter_rows(named=True):
        assert row["window_a"] != row["window_b"]
        assert row["relation"] == relation(
            row["subject_a"], row["attribute_a"], row["subject_b"], row["attribute_b"]
        )


# --- slices ---------------------------------------------------------------------------------


def test_slice_grid_lies_in_the_anchors_plane():
    g = torch.Generator().manual_seed(0)
    anchors = torch.randn(3, 20, generator=g, dtype=torch.float64)
    u, v, uv, points = grid_points(anchors, 9, 0.25)
    assert points.shape == (81, 20)
    origin = anchors.mean(0)
    e1 = (anchors[1] - anchors[0]) / (anchors[1] - anchors[0]).norm()
    assert uv[0, 1] == pytest.approx(uv[1, 1])  # e1 runs from anchor 0 to anchor 1
    # every grid point is origin + u e1 + v e2: reconstructing the anchors from (u, v) is exact
    e2 = anchors[2] - anchors[0] - ((anchors[2] - anchors[0]) @ e1) * e1
    e2 = e2 / e2.norm()
    recon = origin + uv[:, :1] * e1 + uv[:, 1:] * e2
    torch.testing.assert_close(recon, anchors)
    assert u[0] < uv[:, 0].min() and u[-1] > uv[:, 0].max()
    assert v[0] < uv[:, 1].min() and v[-1] > uv[:, 1].max()


def test_similarity_is_pure_colour_at_the_anchors():
    h = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    sims, nearest = similarities(h, h)
    assert np.diag(sims) == pytest.approx([1, 1, 1])
    assert nearest.tolist() == [0, 1, 2]


def test_slice_on_a_tiny_model(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    windows = _windows(tiny_lm, n=3)
    clean = clean_runs(stream, windows, 0, stream.n_layers - 1)
    result = slice_through(
        stream, torch.from_numpy(windows[0]), torch.from_numpy(clean["write"]), 0, 2, 8, batch=20
    )
    assert result["rgb"].shape == (8, 8, 3) and np.isfinite(result["rgb"]).all()
    assert result["rgb"].min() >= 0 and result["rgb"].max() <= 1
    assert result["nearest"].shape == (8, 8) and set(np.unique(result["nearest"])) <= {0, 1, 2}


# --- summary and findings -------------------------------------------------------------------


def _pairs_table(model, values, same_top, subject_b=None):
    n = len(values)
    return pl.DataFrame(
        {
            "model": model,
            "pairing": "stream",
            "pair": np.arange(n, dtype=np.int32),
            "path": "linear",
            "steps": 11,
            "sharpness": np.asarray(values, float),
            "sharpness_kl": np.asarray(values, float),
            "status": "ok",
            "same_top": same_top,
            "relation": None,
            "subject_a": "s",
            "subject_b": subject_b or ["s"] * n,
        },
        schema_overrides={"relation": pl.String, "steps": pl.Int32},
    )


def _meta(model, source, n_parameters=1000, like=None, revision=None, step=None):
    return {
        "model": model,
        "source": source,
        "n_parameters": n_parameters,
        "like": like,
        "revision": revision,
        "id": None,
        "training_step": 0 if source == "random-init" else step,
    }


def test_bootstrap_ci_brackets_the_median():
    x = np.random.default_rng(0).normal(3.0, 1.0, 400)
    _, lo, hi = median_ci(x, 500, 0)
    assert lo < np.median(x) < hi and hi - lo < 0.5


def test_findings_on_planted_sharpness():
    rng = np.random.default_rng(0)
    n = 60
    same = np.arange(n) % 2 == 0
    trained = np.where(same, rng.uniform(1.0, 1.15, n), rng.uniform(6.0, 9.5, n))
    init = rng.uniform(1.0, 1.1, n)
    pairs = pl.concat([_pairs_table("big", trained, same), _pairs_table("big-init", init, same)])
    metas = {"big": _meta("big", "hf"), "big-init": _meta("big-init", "random-init", like="big")}
    settings = {**SETTINGS, "pairings": ["stream"], "paths": ["linear"]}
    summary = summarise(pairs, metas, settings)
    assert summary.filter(pl.col("model") == "big")["median"][0] == pytest.approx(
        np.median(trained)
    )
    rows = {
        (r["claim_id"], r["model"]): r for r in findings_rows(pairs, summary, settings, "f.png")
    }
    assert rows[("trained-sharper-than-init", "big")]["verdict"] == "holds"
    assert rows[("random-init-straight", "big-init")]["verdict"] == "holds"
    assert rows[("same-prediction-same-region", "big")]["verdict"] == "holds"
    assert rows[("similar-prompts-same-region", "big")]["verdict"] == "not run"
    sharper = rows[("trained-sharper-than-init", "big")]
    assert sharper["ci_low"] > 0 and sharper["n"] == 2 * n and "bootstrap" in sharper["rule"]
    straight = rows[("random-init-straight", "big-init")]
    assert straight["ci_high"] < SETTINGS["smooth_below"] and straight["n"] == n
    same = rows[("same-prediction-same-region", "big")]
    assert same["p_value"] < 0.05 and "Fisher" in same["rule"]
    semantic = semantic_table(pairs, settings).filter(
        (pl.col("model") == "big") & (pl.col("split_by") == "same_top")
    )
    shared = semantic.filter(pl.col("group") == "shared")
    assert shared["n_pairs"][0] == n // 2 and shared["share_smooth"][0] == 1.0


def test_findings_trend_over_size_and_checkpoints():
    rng = np.random.default_rng(1)
    pairs, metas = [], {}
    for i, size in enumerate([70, 160, 410]):
        name = f"p{size}"
        pairs.append(_pairs_table(name, rng.uniform(2 + 2 * i, 3 + 2 * i, 20), np.ones(20, bool)))
        metas[name] = _meta(name, "hf", n_parameters=size * 10**6)
    for step in (1000, 10000):
        name = f"p160-step{step}"
        pairs.append(_pairs_table(name, rng.uniform(1, 1.5, 20) * step / 1000, np.ones(20, bool)))
        metas[name] = {
            **_meta(name, "hf", 160 * 10**6, revision=f"step{step}", step=step),
            "id": "pythia",
        }
    pairs.append(_pairs_table("p160-init", rng.uniform(1, 1.05, 20), np.ones(20, bool)))
    metas["p160-init"] = _meta("p160-init", "random-init", 160 * 10**6, like="p160-step1000")
    pairs = pl.concat(pairs)
    settings = {**SETTINGS, "pairings": ["stream"], "paths": ["linear"]}
    summary = summarise(pairs, metas, settings)
    rows = [r for r in findings_rows(pairs, summary, settings, "f.png")]
    size = [r for r in rows if r["claim_id"] == "sharper-with-size"]
    training = [r for r in rows if r["claim_id"] == "sharper-with-training"]
    assert len(size) == 1 and size[0]["value"] == pytest.approx(1.0)
    assert len(training) == 1 and training[0]["value"] == pytest.approx(1.0)
    assert "p160-init" in training[0]["model"]
    # three points: a perfect rank correlation, exact one-sided p 1/6 (not 0), and no verdict
    for row in (size[0], training[0]):
        assert row["verdict"] == "inconclusive" and "n too small" in row["rule"]
        assert row["p_value"] == pytest.approx(1 / 6) and row["n"] == 3


def test_size_trend_over_five_models_holds():
    rng = np.random.default_rng(2)
    pairs, metas = [], {}
    for i, size in enumerate([70, 160, 410, 1000, 1400]):
        name = f"p{size}"
        pairs.append(_pairs_table(name, rng.uniform(2 + 2 * i, 3 + 2 * i, 20), np.ones(20, bool)))
        metas[name] = _meta(name, "hf", n_parameters=size * 10**6)
    pairs = pl.concat(pairs)
    settings = {**SETTINGS, "pairings": ["stream"], "paths": ["linear"]}
    summary = summarise(pairs, metas, settings)
    (row,) = [r for r in findings_rows(pairs, summary, settings, "f") if "size" in r["claim_id"]]
    assert row["verdict"] == "holds" and row["n"] == 5
    assert row["p_value"] == pytest.approx(1 / 120) and "exact" in row["rule"]


# --- the tiny end-to-end run ----------------------------------------------------------------


@pytest.mark.workflow
def test_tiny_run_regions_outputs(tiny_run):
    out = tiny_run / "results/regions"
    run = out / "tiny-llama"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["write_site"] == "blocks.0.hook_resid_post"
    # the authors' read site: the last block's output after the final norm
    assert meta["read_site"] == "blocks.2.hook_resid_post + final norm (LlamaRMSNorm)"
    assert meta["settings"]["stream_sampling"] == "random" and meta["settings"]["arc"] == "rescale"
    assert meta["n_parameters"] > 0 and meta["training_step"] == 0
    sharp = pl.read_parquet(run / "sharpness.parquet")
    assert set(sharp["pairing"]) == {"stream", "meaning"} and set(sharp["path"]) == {
        "linear",
        "arc",
    }
    assert sharp.height == 2 * 2 * 8
    stream = sharp.filter(pl.col("pairing") == "stream")
    assert stream["id_a"].null_count() == 0 and stream["start_a"].null_count() == 0
    ok = sharp.filter(pl.col("status") == "ok")
    assert ok["sharpness"].is_finite().all() and (ok["sharpness"] >= 1.0 - 1e-9).all()
    curves = pl.read_parquet(run / "curves.parquet")
    assert curves.height == sharp.height * 11
    assert curves.filter(pl.col("step") == 0)["distance"].max() == 0.0
    slices = pl.read_parquet(run / "slices.parquet")
    assert slices.height == 16 * 16 and slices["slice"].n_unique() == 1
    anchors = pl.read_parquet(run / "slice_anchors.parquet")
    assert anchors.height == 3
    for name in ("curves.png", "slices.png"):
        assert (run / name).stat().st_size > 1000
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary.height == 4 and (summary["steps"] == 11).all()
    assert (summary["q25"] <= summary["median"]).all() and (
        summary["median"] <= summary["q75"]
    ).all()
    findings = pl.read_parquet(out / "findings.parquet")
    assert "random-init-straight" in findings["claim_id"].to_list()
    assert set(findings["verdict"]) <= {"holds", "does not hold", "inconclusive", "not run"}
    assert pl.read_parquet(out / "semantic.parquet").height > 0
    assert (out / "sharpness.png").stat().st_size > 1000


def test_meaning_pairs_keep_only_the_windows_they_use():
    import polars as pl

    from resid_atlas.models.tokenizer import byte_tokenizer
    from resid_atlas.regions.pairs import meaning_pairs

    corpus = pl.DataFrame(
        {
            "id": [f"s{i}" for i in range(200)],
            "subject": [f"subj{i % 4}" for i in range(200)],
            "attribute": [f"attr{i % 5}" for i in range(200)],
            "text": [f"sentence number {i} about something long enough" for i in range(200)],
        }
    )
    windows, table = meaning_pairs(corpus, byte_tokenizer(), 10, 8, False, seed=0)
    used = sorted(set(table["window_a"]) | set(table["window_b"]))
    assert used == list(range(windows.shape[0]))  # compact: no window without a pair
    assert windows.shape[0] <= 16 < corpus.height
    # The pair metadata still names the sentences the kept windows came from.
    tok = byte_tokenizer()
    for row in table.iter_rows(named=True):
        text = corpus.filter(pl.col("id") == row["id_a"])["text"][0]
        assert tok.decode(windows[row["window_a"]].tolist()) == text[:10]


# --- the authors' procedure, implemented independently -------------------------------------


def _blocks(model):
    """The decoder blocks by architecture, as the authors' resid_module_template names them."""
    kind = model.config.model_type
    base = {"gpt2": "transformer.h", "gpt_neox": "gpt_neox.layers"}.get(kind, "model.layers")
    return model.get_submodule(base)


@torch.no_grad()
def _authors_curves(model, texts, tok, seed, n_prompts, seq_len, layer_write, layer_read, steps):
    """reometry's get_input_ids + scripts/interpolate.py, on the corpus text instead of
    Gutenberg: the text as one token stream (each sentence followed by a newline) cut into
    seq_len windows without BOS, `random.sample` of n_prompts windows after random.seed(seed),
    pairs (A, B) = (windows[:-1], windows[1:]); B's write-site activation is interpolated into A's
    context and `hidden_states[layer_read + 1]` at the last position is compared with A's clean
    one. Returns the input ids and the distances {path: [n_prompts - 1, steps]}."""
    import random

    stream = tok("".join(t + "\n" for t in texts), add_special_tokens=False)["input_ids"]
    n = len(stream) // seq_len
    windows = torch.tensor(stream[: n * seq_len]).reshape(n, seq_len)
    random.seed(seed)
    input_ids = windows[random.sample(range(n), n_prompts)]
    clean = model(input_ids, output_hidden_states=True).hidden_states
    resid_write = clean[layer_write + 1][:, -1]
    read_clean = clean[layer_read + 1][:, -1][:-1]
    mean = resid_write.mean(0)
    a, b = resid_write[:-1], resid_write[1:]
    a_radius = (a - mean).norm(dim=-1, keepdim=True)
    out = {"linear": [], "arc": []}
    block = _blocks(model)[layer_write]
    for alpha in torch.linspace(0, 1, steps).tolist():
        lin = (1 - alpha) * a + alpha * b
        arc = (lin - mean) * a_radius / (lin - mean).norm(dim=-1, keepdim=True) + mean
        for name, pert in (("linear", lin), ("arc", arc)):

            def hook(module, args, output, pert=pert):
                hidden = output[0] if isinstance(output, tuple) else output
                hidden[:, -1] = pert

            handle = block.register_forward_hook(hook)
            try:
                hs = model(input_ids[:-1], output_hidden_states=True).hidden_states
            finally:
                handle.remove()
            out[name].append((hs[layer_read + 1][:, -1] - read_clean).norm(dim=-1))
    return input_ids, {k: torch.stack(v, 1).numpy() for k, v in out.items()}


def test_stream_curves_equal_the_authors_procedure(tiny_lm, tiny_config):
    from resid_atlas.corpus.ingest import build_corpus
    from resid_atlas.regions.curves import pair_curves

    corpus = build_corpus(tiny_config["datasets"]["tiny"], "tiny")
    settings = {
        **SETTINGS,
        "prepend_bos": False,
        "n_pairs": 5,
        "seed": 7,
        "paths": ["linear", "arc"],
    }
    stream = ResidualStream(tiny_lm.model)
    write, read = 0, stream.n_layers - 1
    windows, table = build_pairs(corpus, tiny_lm.tokenizer, settings, "stream")
    clean = clean_runs(stream, windows, write, read)
    curves, per_pair = pair_curves(stream, windows, table, clean, write, read, settings, "tiny")
    ids, want = _authors_curves(
        tiny_lm.model, corpus["text"].to_list(), tiny_lm.tokenizer, 7, 6, 10, write, read, 11
    )
    np.testing.assert_array_equal(windows, ids.numpy())  # the same prompts in the same order
    for kind in ("linear", "arc"):
        got = (
            curves.filter(pl.col("path") == kind)
            .sort("pair", "step")["distance"]
            .to_numpy()
            .reshape(5, 11)
        )
        np.testing.assert_allclose(got, want[kind], rtol=1e-4, atol=1e-5 * want[kind].max())
        sharp = np.diff(want[kind] / want[kind][:, -1:], axis=1).max(1) * 10
        np.testing.assert_allclose(
            per_pair.filter(pl.col("path") == kind).sort("pair")["sharpness"], sharp, rtol=1e-3
        )


def test_stream_pairs_span_the_corpus_and_name_their_sentences(tiny_config):
    from resid_atlas.corpus.ingest import build_corpus
    from resid_atlas.models.tokenizer import byte_tokenizer

    corpus = build_corpus(tiny_config["datasets"]["tiny"], "tiny")
    tok = byte_tokenizer()
    settings = {**SETTINGS, "prepend_bos": False, "n_pairs": 40}
    windows, table = build_pairs(corpus, tok, settings, "stream")
    # independently: where each sentence's tokens start in the newline-joined stream
    lengths = [len(tok(t + "\n", add_special_tokens=False)["input_ids"]) for t in corpus["text"]]
    first = np.concatenate([[0], np.cumsum(lengths)])
    total = first[-1]
    starts = np.concatenate([table["start_a"], table["start_b"][-1:]])
    stream = tok("".join(t + "\n" for t in corpus["text"]), add_special_tokens=False)["input_ids"]
    for row, start in enumerate(starts):
        assert windows[row].tolist() == stream[start : start + 10]
    sentence = np.searchsorted(first, starts, side="right") - 1
    ids = corpus["id"].to_numpy()
    assert table["id_a"].to_list() == ids[sentence[:-1]].tolist()
    assert table["id_b"].to_list() == ids[sentence[1:]].tolist()
    # drawn across the whole stream: every quarter of it holds some windows
    assert set(np.floor(4 * starts / total).astype(int)) == {0, 1, 2, 3}
    assert len(set(table["id_a"])) > 20  # of 48 sentences
    # the consecutive option stays at the start of the corpus
    _, cons = build_pairs(corpus, tok, {**settings, "stream_sampling": "consecutive"}, "stream")
    assert cons["start_b"].max() < 2 * 40 * 10 and cons["start_b"].max() < total / 2
