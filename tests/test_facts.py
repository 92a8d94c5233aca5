"""Basic facts (study 002): parameter roles on all three architectures, streaming statistics
against scipy on the same values, planted outlier dimension, planted power laws, gradients,
verdict logic, and the tiny end-to-end outputs."""

from __future__ import annotations

import copy
import math

import numpy as np
import polars as pl
import pytest
import torch
from scipy import stats

from conftest import ROOT
from resid_atlas.core.config import validate_config
from resid_atlas.core.errors import AtlasError
from resid_atlas.facts.outputs import FIGURES, TABLES
from resid_atlas.facts.passes import activation_pass, loss_gradients
from resid_atlas.facts.spectra import covariance_eigenvalues, power_law, singular_values
from resid_atlas.facts.stats import describe, fit_families, moments_from_sums, tail_fit
from resid_atlas.facts.streaming import LayerStream, StreamSettings, position_buckets
from resid_atlas.facts.tables import activation_tables, growth, jaccard
from resid_atlas.facts.verdicts import compare, norms_part, reading
from resid_atlas.models.matrices import pieces
from resid_atlas.stats.findings import FINDINGS_SCHEMA, finding
from resid_atlas.stats.verdicts import Evidence

SETTINGS = {
    "skip_first": True,
    "fit_sample": 3000,
    "tail_range": [2.0, 10.0],
    "tail_min_count": 5,
    "outlier_share": 0.25,
    "position_buckets": 8,
    "min_bucket_tokens": 10,
    "powerlaw_ranks": [0.01, 0.5],
}


# --- parameter roles ---------------------------------------------------------------------------


def test_pieces_name_every_matrix_with_the_right_shape(tiny_lm):
    model = tiny_lm.model
    items = pieces(model)
    d = tiny_lm.d_model
    by_role: dict[str, list] = {}
    for piece, tensor in items:
        by_role.setdefault(piece.role, []).append((piece, tensor))
    for role in ("attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out", "embedding"):
        assert role in by_role, role
    weights = {r: [(p, t) for p, t in v if p.kind == "weight"] for r, v in by_role.items()}
    assert len(weights["attn_q"]) == tiny_lm.n_layers == len(weights["mlp_out"])
    for piece, tensor in weights["attn_q"] + weights["attn_out"]:
        assert tensor.shape[1] == d, piece  # [out, in]: reads d_model
    for piece, tensor in weights["mlp_out"]:
        assert tensor.shape[0] == d and tensor.shape[1] > d, piece
    for piece, tensor in weights["mlp_in"]:
        assert tensor.shape[1] == d and tensor.shape[0] > d, piece
    kv_dim = d * getattr(model.config, "num_key_value_heads", 4) // 4
    assert all(t.shape == (kv_dim, d) for _p, t in weights["attn_k"])
    assert all(p.kind == "norm" for p, _t in by_role["norm"])
    assert all(p.group == "writing" for p, _t in weights["attn_out"] + weights["mlp_out"])
    assert all(p.group == "reading" for p, _t in weights["attn_v"])
    assert "other" not in by_role
    covered = {p.param for p, _t in items}
    assert covered == {name for name, _ in model.named_parameters()}


def test_fused_pieces_compute_the_model_own_projections(tiny_lm):
    """q, k, v pieces applied to a hidden state equal what the model's fused layer computes."""
    model = tiny_lm.model
    arch = model.config.model_type
    items = {p.name: t for p, t in pieces(model)}
    x = torch.randn(5, tiny_lm.d_model)
    if arch == "gpt2":
        attn = model.transformer.h[1].attn
        fused = attn.c_attn(x)
        q, k, v = fused.split(tiny_lm.d_model, dim=-1)
        base = "transformer.h.1.attn.c_attn"
    elif arch == "gpt_neox":
        attn = model.gpt_neox.layers[1].attention
        heads = model.config.num_attention_heads
        qkv = attn.query_key_value(x).view(5, heads, -1)
        q, k, v = (part.reshape(5, -1) for part in qkv.chunk(3, dim=-1))
        base = "gpt_neox.layers.1.attention.query_key_value"
    else:
        attn = model.model.layers[1].self_attn
        q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
        for name, want in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
            w = items[f"model.layers.1.self_attn.{name}.weight"]
            torch.testing.assert_close(x @ w.T, want)
        return
    for tag, want in zip("qkv", (q, k, v), strict=True):
        w, b = items[f"{base}.weight[{tag}]"], items[f"{base}.bias[{tag}]"]
        torch.testing.assert_close(x @ w.T + b, want)


def test_pieces_of_gradients_follow_the_same_names(tiny_lm):
    grads = {n: torch.full_like(p, 2.0) for n, p in tiny_lm.model.named_parameters()}
    a = [p for p, _ in pieces(tiny_lm.model)]
    b = pieces(tiny_lm.model, grads)
    assert [p for p, _ in b] == a
    assert all(float(t.mean()) == 2.0 for _, t in b)


# --- statistics ------------------------------------------------------------------------------


def test_moments_from_sums_equal_scipy():
    x = np.random.default_rng(1).standard_t(5, 20000) * 3 + 7
    y = x - 6.5
    m = moments_from_sums(y.size, y.sum(), (y**2).sum(), (y**3).sum(), (y**4).sum())
    assert m["mean"] + 6.5 == pytest.approx(x.mean())
    assert m["sd"] == pytest.approx(x.std())
    assert m["skew"] == pytest.approx(stats.skew(x), rel=1e-6)
    assert m["excess_kurtosis"] == pytest.approx(stats.kurtosis(x), rel=1e-6)
    d = describe(x)
    assert d["excess_kurtosis"] == pytest.approx(stats.kurtosis(x), rel=1e-9)


def test_fits_pick_the_generating_family():
    rng = np.random.default_rng(0)
    for family, sample in (
        ("laplace", rng.laplace(size=5000)),
        ("t", rng.standard_t(2.5, size=5000)),
    ):
        rows = fit_families(sample)
        best = next(r for r in rows if r["is_best"])
        assert best["family"] == family
    normal = {r["family"]: r for r in fit_families(rng.normal(size=5000))}
    assert normal["normal"]["delta_aic"] < 4  # normal is best or within noise of the t
    assert normal["t"]["shape"] > 20


def test_tail_exponent_separates_gaussian_from_exponential_tails():
    rng = np.random.default_rng(0)
    edges = np.linspace(-12, 12, 481)
    for sample, want in ((rng.normal(size=2_000_000), 2.0), (rng.laplace(size=2_000_000), 1.0)):
        z = (sample - sample.mean()) / sample.std()
        counts, _ = np.histogram(z, edges)
        tail = tail_fit(counts, edges, 2.0, 10.0, 5)
        assert tail["tail_exponent"] == pytest.approx(want, abs=0.3)


def test_layer_stream_equals_direct_computation():
    """Every streamed statistic against numpy/scipy on the same (masked) tokens."""
    rng = np.random.default_rng(0)
    settings = StreamSettings(hist_bins=240, hist_range=12.0, outlier_k=4.0, sample_prob=1.0)
    s = LayerStream(8, settings, seed=0)
    kept = []
    for _ in range(3):
        h = torch.from_numpy(rng.standard_t(6, (4, 10, 8))).float() * 2 + 1
        lengths = torch.tensor([10, 7, 3, 1])
        pos = torch.arange(10)[None].expand(4, 10)
        valid = pos < lengths[:, None]
        counted = valid & (pos >= 1)
        s.update(h, valid, counted, position_buckets(pos, 8), torch.arange(4))
        kept.append(h[counted].double().numpy())
    f = s.finish()
    x = np.concatenate(kept)
    assert f["n_tokens"] == x.shape[0] and f["n_values"] == x.size
    assert f["mean"] == pytest.approx(x.mean()) and f["sd"] == pytest.approx(x.std(), rel=1e-5)
    assert f["skew"] == pytest.approx(stats.skew(x.ravel()), rel=1e-4)
    assert f["excess_kurtosis"] == pytest.approx(stats.kurtosis(x.ravel()), rel=1e-4)
    np.testing.assert_allclose(f["covariance"], np.cov(x.T, bias=True), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f["dim_mean"], x.mean(0), rtol=1e-5)
    assert f["norm_mean"] == pytest.approx(np.linalg.norm(x, axis=1).mean(), rel=1e-6)
    assert f["hist_counts"].sum() + f["hist_underflow"] + f["hist_overflow"] == x.size
    assert f["sample"].size == x.size  # sample_prob 1: as many draws as values, all real values
    assert np.isin(f["sample"].astype(np.float32), x.ravel().astype(np.float32)).all()
    assert f["top"][0][0] >= np.abs(x).max() - 1e-5  # position 0 is scanned too


def test_position_buckets_are_powers_of_two():
    got = position_buckets(torch.arange(10), 5).tolist()
    assert got == [0, 1, 2, 2, 3, 3, 3, 3, 4, 4]


# --- outlier dimensions and spectra ----------------------------------------------------------


def planted_stream(n_tokens=2000, d=32, dim=7, offset=12.0, seed=0, first_only=False):
    rng = np.random.default_rng(seed)
    settings = StreamSettings(outlier_k=4.0, sample_prob=0.5)
    s = LayerStream(d, settings, seed=0)
    for _ in range(4):
        h = rng.normal(size=(10, n_tokens // 40, d))
        h[:, 1:, dim] += offset
        h = torch.from_numpy(h).float()
        pos = torch.arange(h.shape[1])[None].expand(10, -1)
        valid = torch.ones_like(pos, dtype=torch.bool)
        s.update(h, valid, valid & (pos >= 1), position_buckets(pos, 8), torch.arange(10))
    return s.finish()


def test_planted_outlier_dimension_is_found_in_every_layer_and_position():
    finished = {layer: planted_stream(seed=layer) for layer in range(3)}
    t = activation_tables("m", finished, SETTINGS)
    out = t["outlier_dims"].filter(pl.col("is_outlier"))
    assert out["dim"].unique().to_list() == [7]
    assert out["layer"].to_list() == [0, 1, 2]
    jac = t["outlier_jaccard"]
    assert jac.filter(pl.col("axis") == "layer")["jaccard"].to_list() == [1.0, 1.0, 1.0]
    pos = jac.filter((pl.col("axis") == "position") & (pl.col("a") != "positions 0"))
    assert pos.height > 0 and (pos["jaccard"] == 1.0).all()
    first = jac.filter(pl.col("a") == "positions 0")  # position 0 carries no offset
    assert (first["size_a"] == 0).all()


def test_no_outliers_in_gaussian_activations():
    finished = {0: planted_stream(offset=0.0)}
    t = activation_tables("m", finished, SETTINGS)
    assert not t["outlier_dims"]["is_outlier"].any()
    assert math.isnan(jaccard(set(), set()))


def test_known_power_law_is_recovered():
    rng = np.random.default_rng(0)
    n, alpha = 200, 0.8
    sv = np.arange(1, n + 1, dtype=float) ** -alpha
    u, _ = np.linalg.qr(rng.normal(size=(300, n)))
    v, _ = np.linalg.qr(rng.normal(size=(n, n)))
    matrix = torch.from_numpy(u @ np.diag(sv) @ v.T)
    got = singular_values(matrix)
    np.testing.assert_allclose(got, sv, rtol=1e-8)
    fit = power_law(got, (0.01, 0.5))
    assert fit["alpha"] == pytest.approx(alpha, abs=1e-6) and fit["r2"] > 0.999
    assert (fit["rank_lo"], fit["rank_hi"]) == (2, 100)
    cov = v @ np.diag(sv) @ v.T
    eig = covariance_eigenvalues(cov)
    assert power_law(eig, (0.01, 0.5))["alpha"] == pytest.approx(alpha, abs=1e-6)
    tall = torch.from_numpy(np.vstack([u @ np.diag(sv) @ v.T] * 5))  # Gram path
    np.testing.assert_allclose(singular_values(tall), sv * np.sqrt(5), rtol=1e-6)
    gaussian = singular_values(torch.from_numpy(rng.normal(size=(400, 400))))
    assert power_law(gaussian, (0.01, 0.5))["r2"] < 0.95  # Marchenko-Pastur is no power law


def test_growth_recovers_a_geometric_rate():
    layers = np.arange(20)
    got = growth(layers, 3.0 * 1.045**layers)
    assert got["rate"] == pytest.approx(1.045) and got["r2"] == pytest.approx(1.0)


# --- model passes ----------------------------------------------------------------------------


def test_activation_pass_matches_hidden_states(tiny_lm):
    tok = tiny_lm.tokenizer
    texts = ["The violin carried the melody.", "A drummer keeps time.", "Hi"]
    ids = [[tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"]] for t in texts]
    streams = activation_pass(tiny_lm, ids, 2, True, StreamSettings(sample_prob=1.0), 0)
    with torch.no_grad():
        for layer in (-1, 1):
            rows = []
            for r in ids:
                out = tiny_lm.model(torch.tensor([r]), output_hidden_states=True)
                rows.append(out.hidden_states[layer + 1][0, 1:])
            x = torch.cat(rows).double().numpy()
            f = streams[layer].finish()
            assert f["n_tokens"] == x.shape[0]
            assert f["mean"] == pytest.approx(x.mean(), abs=1e-6)
            assert f["sd"] == pytest.approx(x.std(), rel=1e-5)


def test_gradients_match_autograd_and_leave_the_model_frozen(tiny_lm):
    tok = tiny_lm.tokenizer
    ids = [
        [tok.bos_token_id, *tok(t, add_special_tokens=False)["input_ids"]] for t in ("ab c", "xyz")
    ]
    grads, loss, n = loss_gradients(tiny_lm, ids, batch_size=1)
    assert n == sum(len(r) - 1 for r in ids)
    assert all(not p.requires_grad and p.grad is None for p in tiny_lm.model.parameters())
    name, param = next(iter(tiny_lm.model.named_parameters()))
    p = param.detach().clone().requires_grad_(True)
    total = 0.0
    with torch.enable_grad():
        for r in ids:
            x = torch.tensor([r])
            logits = torch.func.functional_call(tiny_lm.model, {name: p}, (x,)).logits
            total = total + torch.nn.functional.cross_entropy(
                logits[0, :-1], x[0, 1:], reduction="sum"
            )
        (want,) = torch.autograd.grad(total / n, p)
    torch.testing.assert_close(grads[name], want, rtol=1e-4, atol=1e-7)
    assert loss == pytest.approx(float(total.detach()) / n, rel=1e-5)


# --- verdicts and config ---------------------------------------------------------------------


def test_norm_parameters_never_differ_vacuously():
    """No norm parameters: the 'except the norms' half is not run, so the weights claim can at
    most be inconclusive; Gaussian norm parameters make it fail, constant ones differ."""
    from resid_atlas.stats import verdicts

    empty = pl.DataFrame(schema={"status": pl.String, "ks_normal_robust": pl.Float64})
    assert norms_part(empty, 0.05).verdict == "not run"
    gaussian_weights = verdicts.threshold(True, 0.01, 10, "weights Gaussian")
    assert verdicts.all_of(gaussian_weights, norms_part(empty, 0.05)).verdict == "inconclusive"
    gaussian = pl.DataFrame({"status": ["ok"] * 3, "ks_normal_robust": [0.01, 0.02, 0.03]})
    assert norms_part(gaussian, 0.05).verdict == "does not hold"
    constant = pl.DataFrame({"status": ["constant"] * 2, "ks_normal_robust": [None, None]})
    assert norms_part(constant, 0.05).verdict == "holds"


def test_trained_vs_init_reading():
    def row(model, verdict):
        return finding("002", "c", "claim", model, Evidence(verdict, "r"), 1.0, "")

    frame = pl.DataFrame(
        [row("big", "holds"), row("big-init", "does not hold")], schema=FINDINGS_SCHEMA
    )
    models = {"big": {"source": "hf"}, "big-init": {"source": "random-init", "like": "big"}}
    got = compare(frame, models)
    assert got["reading"].to_list() == ["learned"]
    assert reading("holds", "holds") == "architecture"
    assert reading("inconclusive", "holds") == "inconclusive"


def test_bad_facts_config_names_the_key(tiny_config):
    config = copy.deepcopy(tiny_config)
    config["facts"]["dataset"] = "nope"
    with pytest.raises(AtlasError, match="facts.dataset"):
        validate_config(config)
    config = copy.deepcopy(tiny_config)
    config["facts"]["powerlaw_ranks"] = [0.5, 0.1]
    with pytest.raises(AtlasError, match="facts.powerlaw_ranks"):
        validate_config(config)


# --- tiny end-to-end -------------------------------------------------------------------------


@pytest.mark.workflow
def test_tiny_run_writes_every_facts_output(tiny_run):
    out = tiny_run / "results/facts/tiny-llama"
    for name in TABLES:
        assert (out / f"{name}.parquet").stat().st_size > 0, name
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 0, name
    acts = pl.read_parquet(out / "activations.parquet")
    assert acts["layer"].to_list() == [-1, 0, 1, 2]
    assert (acts["status"] == "ok").all() and acts["sd"].is_finite().all()
    findings = pl.read_parquet(out / "findings.parquet")
    assert findings.schema == pl.Schema(FINDINGS_SCHEMA) and findings.height == 10
    weights = pl.read_parquet(out / "weights.parquet")
    assert set(weights["role"]) >= {"attn_q", "attn_out", "mlp_gate", "norm", "embedding"}
    assert (weights.filter(pl.col("kind") == "norm")["status"] == "constant").all()
    laws = pl.read_parquet(out / "powerlaw.parquet")
    assert set(laws["source"]) == {"weight-sv", "activation-cov", "embedding-cov"}
    stacked = pl.read_parquet(tiny_run / "results/facts/findings.parquet")
    assert stacked.height == 10
    assert (ROOT / "workflow/report/facts/activations.rst").exists()
