"""Activation plateaus: paths keep their invariants, a zero perturbation changes nothing, the
cached sweep equals full re-runs, thresholds are found on planted curves, claims get verdicts."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from resid_atlas.core.errors import AtlasError
from resid_atlas.models.catalog import resolve_sites
from resid_atlas.models.residual import PrefixCache, ResidualStream
from resid_atlas.models.tokenizer import byte_tokenizer
from resid_atlas.plateaus.claims import model_claims, twin_claims
from resid_atlas.plateaus.conditions import parse
from resid_atlas.plateaus.crossings import (
    CURVE_IDS,
    THRESHOLDS_SCHEMA,
    TRIANGLE_CROSSINGS_SCHEMA,
    first_crossing,
    summary_table,
    thresholds,
)
from resid_atlas.plateaus.perturb import Vectors, barycentric_grid, sphere, straight
from resid_atlas.plateaus.prompts import prompt_windows
from resid_atlas.plateaus.statistics import (
    positive_definite,
    reference_statistics,
    site_activations,
)
from resid_atlas.plateaus.sweep import (
    CURVES_SCHEMA,
    cached_runner,
    full_runner,
    measure,
    run_conditions,
)
from resid_atlas.stats.bootstrap import median_ci, median_sum_ci
from resid_atlas.stats.findings import FINDINGS_SCHEMA, VERDICTS
from resid_atlas.stats.verdicts import interval


def test_straight_path_scales_to_the_base_norm():
    rng = np.random.default_rng(0)
    base, direction = rng.normal(size=16) + 3, rng.normal(size=16)
    vectors, alphas = straight(base, direction, 11)
    assert alphas[0] == 0 and alphas[-1] == 1 and len(alphas) == 11
    offsets = vectors - base
    np.testing.assert_allclose(vectors[0], base)
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), alphas * np.linalg.norm(base))
    np.testing.assert_allclose(offsets.mean(axis=1), 0, atol=1e-12)  # mean-centred direction
    unit = (direction - direction.mean()) / np.linalg.norm(direction - direction.mean())
    np.testing.assert_allclose(offsets[-1] / np.linalg.norm(base), unit, atol=1e-12)


def test_sphere_path_keeps_the_norm_and_turns_by_the_angle():
    rng = np.random.default_rng(1)
    base, direction = rng.normal(size=16) + 1, rng.normal(size=16)
    vectors, angles = sphere(base, direction, 9)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.linalg.norm(base))
    cos = vectors @ base / np.linalg.norm(base) ** 2
    np.testing.assert_allclose(np.arccos(np.clip(cos, -1, 1)), angles, atol=1e-7)
    np.testing.assert_allclose(vectors[0], base, atol=1e-12)
    np.testing.assert_allclose(vectors[-1], -base, atol=1e-12)
    # the rotation stays in the plane of the base and the centred direction
    plane = np.linalg.qr(np.stack([base, direction - direction.mean()], axis=1))[0]
    np.testing.assert_allclose(plane @ (plane.T @ vectors.T), vectors.T, atol=1e-10)


def test_zero_length_direction_is_refused():
    with pytest.raises(ValueError, match="zero length"):
        straight(np.ones(4), np.full(4, 2.0), 5)  # constant: nothing left after centring


def test_barycentric_grid():
    grid = barycentric_grid(4)
    assert grid.shape == (15, 3)
    np.testing.assert_allclose(grid.sum(1), 1)
    assert len({tuple(r) for r in grid.round(9)}) == 15
    assert [1.0, 0.0, 0.0] in grid.tolist()


def test_condition_names():
    c = parse("real.cov-random-mixture.sphere")
    assert (c.base, c.direction, c.mode) == ("real", "cov-random-mixture", "sphere")
    with pytest.raises(AtlasError, match="plateaus.conditions"):
        parse("real.sideways.straight")


def test_reference_statistics_repair_and_sampling():
    rng = np.random.default_rng(2)
    mixing = rng.normal(size=(6, 6))
    acts = rng.normal(size=(4000, 6)) @ mixing + 5
    ref = reference_statistics(acts)
    assert not ref.repaired
    draws = ref.sample(np.random.default_rng(3), 20000)
    np.testing.assert_allclose(draws.mean(0), acts.mean(0), atol=0.15)
    np.testing.assert_allclose(
        np.cov(draws, rowvar=False), np.cov(acts, rowvar=False), rtol=0.1, atol=0.3
    )
    iso = ref.isotropic(np.random.default_rng(4), 20000)
    np.testing.assert_allclose(np.trace(np.cov(iso, rowvar=False)), ref.total_variance, rtol=0.05)
    # fewer prompts than dimensions: singular covariance, repaired to positive definite
    few = reference_statistics(rng.normal(size=(5, 12)))
    assert few.repaired and few.n_clipped >= 8
    assert np.linalg.eigvalsh(few.cov).min() > 0
    np.linalg.cholesky(few.cov)
    _, vals, _, n, raw = positive_definite(np.diag([4.0, 1.0, -1.0]))
    assert n == 1 and raw == -1.0 and vals.min() == pytest.approx(4e-6)
    with pytest.raises(AtlasError, match="reference_prompts"):
        reference_statistics(acts[:1])


def test_site_activations_stop_early_but_equal_the_full_read(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    windows = np.random.default_rng(5).integers(0, 250, size=(7, 10))
    fast = site_activations(stream, windows, 1, batch_size=3)
    full = stream.read(torch.as_tensor(windows), pool=lambda h: h[:, -1], layers=[1])[0]
    np.testing.assert_allclose(fast, full.double().numpy(), rtol=0, atol=0)


def _vectors(stream, seed=0):
    rng = np.random.default_rng(seed)
    windows = rng.integers(0, 250, size=(30, 10))
    acts = site_activations(stream, windows, 0)
    return windows[:3], Vectors(acts[:3], acts[3:6], reference_statistics(acts[6:]), seed)


def test_zero_perturbation_gives_zero_kl(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    windows, vectors = _vectors(stream)
    cache = PrefixCache(stream, torch.as_tensor(windows[0]))
    base = vectors.base("real", 0)
    curve = np.repeat(base[None], 5, axis=0)
    (out,) = measure(cached_runner(cache, 0, 2), [curve], 2, chunk=2)
    assert np.abs(out["kl"]).max() < 1e-10
    np.testing.assert_allclose(out["l2"], 0, atol=1e-6)
    np.testing.assert_allclose(out["cosine"], 1, atol=1e-6)
    # the real base written back equals the clean run: KL against the model's own output is 0
    clean = tiny_lm.model(torch.as_tensor(windows[:1])).logits[0, -1]
    patched = cache.run(0, torch.as_tensor(base[None], dtype=torch.float32)).logits[0]
    assert (patched - clean).abs().max() < 1e-5


def test_cached_sweep_equals_full_reruns(tiny_lm):
    stream = ResidualStream(tiny_lm.model)
    windows, vectors = _vectors(stream)
    ids = torch.as_tensor(windows[1])
    curves = [
        vectors.curve(parse(n), 1, 7)[0]
        for n in ("real.random.straight", "cov-random.real-other.sphere")
    ]
    fast = measure(cached_runner(PrefixCache(stream, ids), 0, 2), curves, 2, chunk=5)
    slow = measure(full_runner(stream, ids, 0, 2), curves, 2, chunk=5)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a["kl"], b["kl"], atol=1e-6)
        np.testing.assert_allclose(a["l2"], b["l2"], rtol=1e-4, atol=1e-5)
        assert a["kl"].max() > 0


def test_run_conditions_shares_random_targets_across_conditions():
    from conftest import tiny_entry
    from resid_atlas.models.loading import load_model

    lm = load_model("t", {"t": tiny_entry("llama")}, device="cpu")
    stream = ResidualStream(lm.model)
    windows, vectors = _vectors(stream)
    names = ["real.random.straight", "cov-random.random.straight", "real.real-other.sphere"]
    frames = run_conditions(stream, windows, vectors, [parse(n) for n in names], 6, 0, 2, "t")
    assert set(frames) == set(names)
    for frame in frames.values():
        assert frame.schema == pl.Schema(CURVES_SCHEMA) and frame.height == 3 * 6
        assert frame.filter(pl.col("step") == 0)["kl"].abs().max() < 1e-10
    # both random-direction conditions aim at the same cov-random target on each curve
    a = vectors.curve(parse(names[0]), 2, 6)[0][-1]
    b = vectors.curve(parse(names[1]), 2, 6)[0][-1]
    assert not np.allclose(a, b)  # different bases
    target = vectors.cov_random_target(2)
    for vecs, base in ((a, vectors.base("real", 2)), (b, vectors.base("cov-random", 2))):
        d = target - base
        d = d - d.mean()
        np.testing.assert_allclose((vecs - base) / np.linalg.norm(base), d / np.linalg.norm(d))


def _planted(kind: str, crossing_at: list[float | None], steps: int = 21) -> pl.DataFrame:
    """Curves rising steeply at given sizes (None: flat, never crossing)."""
    sizes = np.linspace(0, 1, steps)
    rows = []
    for curve, at in enumerate(crossing_at):
        kl = np.zeros(steps) if at is None else 2.0 / (1 + np.exp(-(sizes - at) * 200))
        base, direction, mode = kind.split(".")
        rows.append(
            pl.DataFrame(
                {
                    "model": "m", "condition": kind, "base": base, "direction": direction,
                    "mode": mode, "curve": curve, "prompt": curve, "step": np.arange(steps),
                    "size": sizes, "distance": sizes, "kl": kl, "l2": kl, "cosine": 1 - kl,
                }
            )
        )  # fmt: skip
    return pl.concat(rows).cast(CURVES_SCHEMA)


def test_first_crossing():
    kl = np.array([[0, 0.1, 0.6, 0.2], [0, 0.1, 0.2, 0.3], [0.7, 0.9, 1, 1]])
    assert first_crossing(kl, 0.5).tolist() == [2, -1, 0]


def test_thresholds_on_planted_curves():
    curves = _planted("real.random.straight", [0.3, 0.5, None])
    table = thresholds(curves, 0.5, 0.05)
    assert table.schema == pl.Schema(THRESHOLDS_SCHEMA) and table.height == 3
    # the sigmoid passes 0.5 just after its centre and 0.05 before it
    assert table["crossing_size"].to_list()[:2] == pytest.approx([0.3, 0.5])
    assert table["crossed"].to_list() == [True, True, False]
    assert table["crossing_step"][2] is None and table["crossing_size"][2] is None
    assert table["plateau_size"].to_list()[:2] == pytest.approx([0.3, 0.5])
    assert table["beyond_size"][0] == pytest.approx(1.05)
    row = summary_table(table, seed=0, n_resamples=200).row(0, named=True)
    assert row["n_curves"] == 3 and row["n_crossed"] == 2
    assert row["crossing_median"] == pytest.approx(0.5)


def test_bootstrap_intervals_match_the_library_and_detect_a_planted_shift():
    from scipy import stats

    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, 60)
    med, low, high = median_ci(x, n_resamples=500, seed=1)
    ref = stats.bootstrap(
        (x,), np.median, n_resamples=500, method="percentile", rng=np.random.default_rng(1)
    ).confidence_interval
    assert med == np.median(x) and (low, high) == pytest.approx((ref.low, ref.high))
    value, low, high = median_sum_ci([x + 2, x], [1.0, -1.0], n_resamples=500, seed=1)
    assert (
        value == pytest.approx(2)
        and low > 0
        and interval(value, low, high, 1, "r").verdict == "holds"
    )
    value, low, high = median_sum_ci([x, x + 2], [1.0, -1.0], n_resamples=500, seed=1)
    assert high < 0 and interval(value, low, high, 1, "r").verdict == "does not hold"
    assert interval(0, -1, 1, 1, "r").verdict == "inconclusive"
    assert interval(0, np.nan, 1, 1, "r").verdict == "inconclusive"


def test_claims_on_planted_thresholds():
    early = [0.2, 0.25, 0.3, 0.22, 0.28, 0.24]
    late = [0.6, 0.65, 0.7, 0.62, 0.68, 0.64]
    frames = [
        _planted("real.random.straight", late),
        _planted("cov-random.random.straight", early),
        _planted("real.real-other.straight", early),
        _planted("real.isotropic.straight", [None] * 6),
    ]
    table = thresholds(pl.concat(frames), 0.5, 0.05)
    tri = pl.DataFrame(schema=TRIANGLE_CROSSINGS_SCHEMA)
    figs = {"curves": "k.png", "thresholds": "t.png", "triangle": "tri.png"}
    rows = {r["claim_id"]: r for r in model_claims("m", table, tri, ["straight"], 0, figs, 200)}
    assert rows["real-bases-plateau-straight"]["verdict"] == "holds"
    assert rows["real-other-more-sensitive-straight"]["verdict"] == "holds"
    assert rows["isotropic-less-sensitive-straight"]["verdict"] == "holds"
    assert rows["real-other-beats-mixture-straight"]["verdict"] == "not run"
    assert rows["real-other-local-optimum"]["verdict"] == "not run"
    plateau = rows["real-bases-plateau-straight"]
    assert plateau["ci_low"] > 0 and plateau["n"] == 12 and "bootstrap CI" in plateau["rule"]
    assert plateau["effect"] == pytest.approx(np.median(late) - np.median(early))
    # a twin whose real and cov-random bases behave alike: the trained gap is larger
    same = [_planted("real.random.straight", early), _planted("cov-random.random.straight", early)]
    twin = thresholds(pl.concat(same), 0.5, 0.05)
    (row,) = twin_claims("m", "init", {"m": table, "init": twin}, ["straight"], 0, "k.png", 200)
    assert row["model"] == "init" and row["verdict"] == "holds"
    assert pl.DataFrame([row], schema=FINDINGS_SCHEMA).height == 1


def test_prompt_windows_are_disjoint_and_counted():
    tok = byte_tokenizer()
    texts = [f"sentence number {i} with some words" for i in range(40)]
    settings = {"curves": 3, "reference_prompts": 10, "prompt_length": 10, "prepend_bos": False,
                "seed": 0}  # fmt: skip
    w = prompt_windows(texts, tok, settings)
    assert [len(w[k]) for k in ("base", "other", "reference")] == [3, 3, 10]
    assert w["base"].shape[1] == 10
    with pytest.raises(AtlasError, match="lower plateaus.curves"):
        prompt_windows(texts[:2], tok, {**settings, "reference_prompts": 500})


def test_layers_are_checked():
    keys = ("site_layer", "readout_layer")
    assert resolve_sites("plateaus", {"site_layer": 0, "readout_layer": -1}, keys, 30, "m") == (
        0,
        29,
    )
    with pytest.raises(AtlasError, match="plateaus.site_layer = 30"):
        resolve_sites("plateaus", {"site_layer": 30, "readout_layer": -1}, keys, 30, "m")
    with pytest.raises(AtlasError, match="must come before plateaus.readout_layer"):
        resolve_sites("plateaus", {"site_layer": 5, "readout_layer": 2}, keys, 30, "m")


@pytest.mark.workflow
def test_tiny_run_plateaus(tiny_run):
    out = tiny_run / "results/plateaus/tiny-llama"
    meta = json.loads((out / "reference.json").read_text())
    assert (
        meta["site"] == "blocks.0.hook_resid_post" and meta["readout"] == "blocks.2.hook_resid_post"
    )
    assert meta["n_prompts"] == 40
    # tiny-llama has RMSNorm: the default auto centring leaves its site activations raw
    assert meta["centring"] == "none" and meta["norm_type"] == "rmsnorm"
    conditions = meta["conditions"]
    assert len(conditions) == 12
    for name in conditions:
        curves = pl.read_parquet(out / "curves" / f"{name}.parquet")
        assert curves.schema == pl.Schema(CURVES_SCHEMA) and curves.height == 4 * 12
        assert curves["condition"].unique().to_list() == [name]
        assert curves.filter(pl.col("step") == 0)["kl"].max() < 1e-8
    table = pl.read_parquet(out / "thresholds.parquet")
    assert table.schema == pl.Schema(THRESHOLDS_SCHEMA) and table.height == 12 * 4
    assert table.select(list(CURVE_IDS)).unique().height == 48
    tri = pl.read_parquet(out / "triangle_crossings.parquet")
    assert tri.schema == pl.Schema(TRIANGLE_CROSSINGS_SCHEMA) and tri.height == 2 * 2 * 6
    assert pl.read_parquet(out / "summary.parquet").height == 12
    for fig in ("kl_curves", "l2_curves", "thresholds", "triangle"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 10_000
    findings = pl.read_parquet(tiny_run / "results/plateaus/findings.parquet")
    assert findings.schema == pl.Schema(FINDINGS_SCHEMA)
    assert set(findings["verdict"]) <= set(VERDICTS) and findings.height == 9
    assert (findings["model"] == "tiny-llama").all()
