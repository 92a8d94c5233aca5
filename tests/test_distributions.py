"""Distribution atlas: KDE against scipy, fits against scipy's MLE on real activations, planted
modes, statuses for bad samples, and the tiny end-to-end outputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest
import scipy.stats as st
import torch
from hardening import write_meta
from scipy.optimize import check_grad, curve_fit

from resid_atlas.activations.shards import load_layer
from resid_atlas.core.errors import AtlasError
from resid_atlas.distributions.authors import authors_fit, study_start
from resid_atlas.distributions.families import (
    FAMILY_NAMES,
    FAST_LOGPDF,
    BinnedSample,
    _johnsonsb_profile,
    exact_loglik,
    fit_family,
    logpdf,
    vonmises_fit,
)
from resid_atlas.distributions.fits import FITS_SCHEMA, POOLED, fit_sample
from resid_atlas.distributions.modes import MODES_SCHEMA, find_modes
from resid_atlas.distributions.self_check import SELF_CHECK_SCHEMA, check_samples, pick_samples
from resid_atlas.distributions.tails import log_tail_weight, study_tail_weight, tail_shares
from resid_atlas.stats.kde import kde_on_grid


@pytest.fixture(scope="module")
def real_values() -> np.ndarray:
    """Real residual values: a tiny random-init Llama's centred last-block residuals of 64
    random token windows (6,144 values, heavy-tailed like trained models' early layers)."""
    from conftest import tiny_entry
    from resid_atlas.models.loading import load_model

    torch.manual_seed(0)
    lm = load_model("tiny-llama", {"tiny-llama": tiny_entry("llama")}, device="cpu")
    ids = torch.randint(3, 259, (16, 12))
    with torch.no_grad():
        h = lm.model(ids, output_hidden_states=True).hidden_states[2][:, -4:, :]
    h = h - h.mean(-1, keepdim=True)
    return h.reshape(-1).double().numpy()


@pytest.mark.parametrize("factor", [1.0, 4.5])
def test_kde_matches_scipy(real_values, factor):
    x = real_values
    grid, dens = kde_on_grid(x, (x.min(), x.max(), 1000), bw_factor=factor)
    kde = st.gaussian_kde(x)
    kde.set_bandwidth(kde.factor * factor)
    ref = kde(grid)
    big = ref > 1e-6 * ref.max()
    assert np.max(np.abs(dens[big] - ref[big]) / ref[big]) < 1e-3
    assert np.max(np.abs(dens - ref)) < 1e-4 * ref.max()


def test_kde_weights_and_explicit_grid():
    rng = np.random.default_rng(1)
    x = rng.standard_t(3, 2000)
    w = rng.uniform(0.5, 1.5, 2000)
    grid = np.linspace(-5, 5, 301)
    _, dens = kde_on_grid(x, grid, bw_factor=2.0, weights=w)
    kde = st.gaussian_kde(x, weights=w)
    kde.set_bandwidth(kde.factor * 2.0)
    ref = kde(grid)
    assert np.max(np.abs(dens - ref) / ref) < 1e-3
    with pytest.raises(ValueError, match="evenly spaced"):
        kde_on_grid(x, np.array([0.0, 1.0, 3.0]))


def test_logpdf_matches_scipy():
    x = np.linspace(-4, 4, 50)
    params = {
        "crystalball": (2.0, 3.0),
        "johnsonsu": (0.3, 1.2),
        "norminvgauss": (1.5, 0.3),
        "t": (3.0,),
        "genlogistic": (0.8,),
    }
    for name, shapes in params.items():
        ref = getattr(st, name).logpdf(x, *shapes, loc=0.2, scale=1.3)
        np.testing.assert_allclose(logpdf(name, x, shapes, 0.2, 1.3), ref, rtol=1e-10)
    # pearson3 is our own expression (FAST_LOGPDF): both skew signs, scipy's normal switch, a
    # support edge inside the range, and the broadcast (parameter columns) form the fits use
    for skew in (0.7, -1.3, 1e-6, -0.02, 3.0):
        ref = st.pearson3.logpdf(x, skew, loc=0.2, scale=1.3)
        np.testing.assert_allclose(logpdf("pearson3", x, (skew,), 0.2, 1.3), ref, rtol=1e-10)
    # johnsonsb is our log-space expression: equal where scipy's log of its pdf is finite,
    # finite where that underflows (a value 60 normal scores out)
    for a, b in ((0.5, 1.2), (-2.0, 0.4), (274.0, 40.0)):
        y = np.linspace(1e-4, 1 - 1e-4, 200)
        ref = st.johnsonsb.logpdf(y, a, b, loc=0.2, scale=1.3)
        ours = logpdf("johnsonsb", y, (a, b), 0.2, 1.3)
        ok = ref > -700
        np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-10)
        assert np.all(np.isfinite(ours[(y > 0.2) & (y < 1.5)]))
    far = logpdf("johnsonsb", np.array([0.2 + 1.3 * 0.0048]), (274.0, 40.0), 0.2, 1.3)
    assert np.isfinite(far[0]) and far[0] < -1000
    assert np.isneginf(st.johnsonsb.logpdf(0.2 + 1.3 * 0.0048, 274.0, 40.0, loc=0.2, scale=1.3))
    skews = np.array([[0.4], [-0.9]])
    np.testing.assert_allclose(
        FAST_LOGPDF["pearson3"](x[None, :], skews), st.pearson3.logpdf(x[None, :], skews)
    )


def test_fits_agree_with_scipy_on_real_activations(real_values):
    """Same SSE-best family (or a tie), log-likelihood within 0.1% of scipy's MLE (or better)."""
    x = real_values
    sample = BinnedSample.from_values(x)
    rows, fits = fit_sample(x, {"families": list(FAMILY_NAMES)})
    hist, edges = np.histogram(x, bins=150, density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    scipy_sse = {}
    worse = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name in FAMILY_NAMES:
            p = getattr(st, name).fit(x)
            ll_ref = exact_loglik(name, x, p)
            scipy_sse[name] = float(np.sum((hist - getattr(st, name).pdf(centres, *p)) ** 2))
            if name not in fits or not np.isfinite(ll_ref):
                continue
            ll = exact_loglik(name, x, fits[name].params)
            if ll < ll_ref - 1e-3 * abs(ll_ref):
                worse.append((name, ll, ll_ref))
    assert not worse, worse
    ours = next(r["family"] for r in rows if r["best_sse"])
    ref = min(scipy_sse, key=scipy_sse.get)
    if ours != ref:
        # Near-normal samples: several families fit almost equally; a different winner is
        # accepted only as a tie, within 1% SSE under scipy's fits and under ours.
        our_sse = {r["family"]: r["sse"] for r in rows}
        assert scipy_sse[ours] <= 1.01 * scipy_sse[ref], (ours, ref, scipy_sse)
        assert our_sse[ref] <= 1.01 * our_sse[ours], (ours, ref, our_sse)
    assert sample.centres.size < x.size / 3


def test_fit_recovers_planted_logistic():
    x = st.logistic.rvs(loc=0.5, scale=2.0, size=20000, random_state=3)
    fit = fit_family("logistic", BinnedSample.from_values(x))
    assert fit.converged
    assert abs(fit.loc - 0.5) < 0.1 and abs(fit.scale - 2.0) < 0.05
    rows, _ = fit_sample(x, {"families": ["logistic", "norm", "t", "laplace"]})
    assert next(r["family"] for r in rows if r["best_aic"]) in ("logistic", "t")


@pytest.mark.parametrize(
    "x",
    [
        st.t.rvs(3, loc=0.3, scale=2.0, size=100_000, random_state=2),  # wraps many times
        st.vonmises.rvs(4.0, loc=-2.9, size=20_000, random_state=3),  # mean near -pi
        np.full(50, 1.25),  # r = 1: scipy's "infinite" kappa
    ],
)
def test_vonmises_closed_form_equals_scipy(x):
    kappa, loc, scale = vonmises_fit(x)
    ref = st.vonmises.fit(x)
    assert scale == ref[2] == 1
    assert kappa == pytest.approx(ref[0], rel=1e-9)
    # the same angle (scipy's loc lies in [-pi, pi], as ours does)
    assert abs(np.angle(np.exp(1j * (loc - ref[1])))) < 1e-9


def test_johnsonsb_profile_gradient_and_mle():
    """The profiled likelihood's analytic gradient against finite differences, and its fit
    against scipy's 4-parameter MLE on a planted sample: the profile loses nothing."""
    x = st.johnsonsb.rvs(0.7, 1.3, loc=-2.0, scale=5.0, size=50_000, random_state=1)
    sample = BinnedSample.from_values(x)
    zlo, zhi = (sample.lo - sample.mean) / sample.sd, (sample.hi - sample.mean) / sample.sd
    _, nll_grad, _ = _johnsonsb_profile(sample.z, sample.counts, zlo, zhi)
    for u in ([0.1, -1.0], [-3.0, 2.0], [5.0, 5.0]):
        err = check_grad(lambda v: nll_grad(v)[0], lambda v: nll_grad(v)[1], np.array(u))
        assert err < 1e-6 * max(1.0, float(np.abs(nll_grad(np.array(u))[1]).max())) + 1e-6
    fit = fit_family("johnsonsb", sample)
    assert fit.converged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = st.johnsonsb.fit(x)
    ll, ll_ref = exact_loglik("johnsonsb", x, fit.params), exact_loglik("johnsonsb", x, ref)
    assert ll >= ll_ref - 1e-6 * abs(ll_ref)
    np.testing.assert_allclose(fit.params, ref, rtol=5e-3)
    # a heavy-tailed sample pushes the support out towards the normal limit: never worse than it
    y = st.t.rvs(3, size=20_000, random_state=4)
    far = fit_family("johnsonsb", BinnedSample.from_values(y))
    norm = fit_family("norm", BinnedSample.from_values(y))
    assert far.loglik >= norm.loglik - 1e-6 * abs(norm.loglik)


def test_vonmises_ranked_by_aic_only_within_one_period():
    """vonmises's density repeats every 2*pi: over a wider sample its likelihood beats every
    proper family's (an artefact), so it gets no AIC/BIC there; within one period it competes."""
    families = {"families": ["vonmises", "t", "norm", "logistic"]}
    wide = st.t.rvs(4, scale=5.0, size=20_000, random_state=6)
    rows, fits = fit_sample(wide, families)
    von = next(r for r in rows if r["family"] == "vonmises")
    assert fits["vonmises"].loglik > fits["t"].loglik  # the artefact the rule guards against
    assert np.isnan(von["aic"]) and np.isnan(von["bic"]) and von["rank_aic"] is None
    assert "periodic density" in von["message"] and von["rank_sse"] is not None
    assert next(r["family"] for r in rows if r["best_aic"]) == "t"
    narrow = st.norm.rvs(scale=0.3, size=20_000, random_state=7)
    rows, _ = fit_sample(narrow, families)
    von = next(r for r in rows if r["family"] == "vonmises")
    assert np.isfinite(von["aic"]) and von["rank_aic"] is not None and not von["message"]


TAIL = {"tail_points": 1000, "tail_from_sd": 2.0, "tail_to_sd": 10.0}


def straight_study_tail(name: str, params) -> tuple[float, float, float]:
    """The study's tail fit written out from its description: the fitted distribution's own
    mean and sd (the raw range 1.5..6 when either is not finite), 1,000 points from mean + 2 sd
    to mean + 10 sd, its pdf there, g exp(-b x^a) by curve_fit in linear density from
    (b, a, g) = (1, 1, 1), all >= 0, 2,000 evaluations. Returns (a, b, g)."""
    d = getattr(st, name)
    mu, sigma = d.stats(*params, moments="mv")
    mu, sigma = float(mu), float(np.sqrt(sigma))
    lo, hi = (mu + 2 * sigma, mu + 10 * sigma) if np.isfinite([mu, sigma]).all() else (1.5, 6)
    xs = np.linspace(lo, hi, 1000)
    ys = d.pdf(xs, *params)
    keep = np.isfinite(ys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (b, a, g), _ = curve_fit(
            lambda x, b, a, g: g * np.exp(-b * np.power(x, a)),
            xs[keep],
            ys[keep],
            p0=[1, 1, 1],
            bounds=(0, np.inf),
            maxfev=2000,
        )
    return a, b, g


def test_study_tail_fit_equals_a_straight_implementation(real_values):
    """On real residual values: the SSE-best family's tail fit as fit_sample stores it equals
    the straight implementation; on planted fits of several families too."""
    rows, fits = fit_sample(real_values)
    best = next(r for r in rows if r["best_sse"])
    assert best["tail_status"].startswith("ok")
    ref = straight_study_tail(best["family"], fits[best["family"]].params)
    np.testing.assert_allclose([best["tail_a"], best["tail_b"], best["tail_g"]], ref, rtol=1e-6)
    others = [r for r in rows if not r["best_sse"] and r["status"] == "ok"]
    assert others and all(np.isnan(r["tail_a"]) for r in others)
    assert all(r["tail_status"] == "not fitted: not the SSE-best family" for r in others)
    cases = [
        ("t", (4.0, 0.1, 0.8)),
        ("t", (1.5, 0.0, 1.0)),  # no finite mean or sd: the study's fixed range 1.5..6
        ("logistic", (0.2, 0.5)),
        ("genlogistic", (2.0, -0.1, 0.6)),
        ("johnsonsu", (0.3, 1.4, 0.0, 1.2)),
    ]
    for name, params in cases:
        got = study_tail_weight(name, params, TAIL)
        assert got["tail_status"].startswith("ok"), (name, got)
        np.testing.assert_allclose(
            [got["tail_a"], got["tail_b"], got["tail_g"]],
            straight_study_tail(name, params),
            rtol=1e-6,
            err_msg=name,
        )
    assert "fixed range" in study_tail_weight("t", (1.5, 0.0, 1.0), TAIL)["tail_status"]


@pytest.mark.parametrize(
    "name, params, truth",
    [
        # gennorm (beta, 0, s): pdf = beta / (2 s Gamma(1/beta)) exp(-(x/s)^beta) for x > 0
        ("gennorm", (1.5, 0.0, 2.0), (1.5, 2.0**-1.5, 1.5 / (4 * math.gamma(2 / 3)))),
        ("gennorm", (0.8, 0.0, 0.5), (0.8, 0.5**-0.8, 0.8 / (1.0 * math.gamma(1.25)))),
        ("norm", (0.0, 0.7), (2.0, 1 / (2 * 0.49), 1 / (0.7 * math.sqrt(2 * math.pi)))),
    ],
)
def test_study_tail_fit_recovers_planted_laws(name, params, truth):
    """Families whose right tail is exactly g exp(-b x^a) in the raw value: a, b, g recovered."""
    got = study_tail_weight(name, params, TAIL)
    assert got["tail_status"] == "ok"
    np.testing.assert_allclose([got["tail_a"], got["tail_b"], got["tail_g"]], truth, rtol=1e-4)


def test_tail_fits_say_when_they_fail_or_end_on_a_bound():
    # t with 2 < df < 3: the study's curve_fit runs out of its 2,000 evaluations
    failed = study_tail_weight("t", (2.5, 0.0, 1.0), TAIL)
    assert failed["tail_status"].startswith("failed") and np.isnan(failed["tail_a"])
    # a bounded support that ends before the range: a pdf of zeros fits no law
    zero = study_tail_weight("truncnorm", (-1.0, 1.0, 0.0, 1.0), TAIL)
    assert zero["tail_status"].startswith("failed") and np.isnan(zero["tail_g"])
    # the log-density fit: Gaussian a ~ 2, exponential (logistic) a ~ 1, both within the bounds
    norm = log_tail_weight("norm", (0.0, 1.0), 0.0, 1.0, TAIL)
    logi = log_tail_weight("logistic", (0.0, 1.0), 0.0, np.pi / np.sqrt(3), TAIL)
    assert abs(norm["tail_log_a"] - 2) < 0.05 and abs(logi["tail_log_a"] - 1) < 0.1
    assert norm["tail_log_status"] == logi["tail_log_status"] == "ok"
    # far out in a power-law tail (x from 6 to 30 scales) the log fit's a ends on its bound 0.05
    cauchy = log_tail_weight("t", (2.0, 0.0, 1.0), 0.0, 3.0, TAIL)
    assert cauchy["tail_log_status"] == "on bound: a = 0.05", cauchy


def test_tail_shares_kept_per_side():
    x = np.concatenate([np.zeros(90), np.full(6, 5.0), np.full(4, -7.0)])
    shares = tail_shares(x, 0.0, 1.0)
    assert shares["share_right_k2"] == 0.06 and shares["share_left_k2"] == 0.04
    assert shares["share_right_k6"] == 0.0 and shares["share_left_k6"] == 0.04
    assert shares["share_left_k7"] == 0.0  # strictly below mean - k sd
    rows, _ = fit_sample(st.t.rvs(5, size=5000, random_state=1), {"families": ["t", "norm"]})
    assert {"share_right_k3", "share_left_k3"} <= set(rows[0]) and "share_k3" not in rows[0]


def test_authors_starts_follow_the_study():
    """The study's guesses, from scipy.stats.describe moments (variance ddof 1, biased
    skewness, Fisher kurtosis), the median and the IQR; None where scipy starts alone."""
    x = st.t.rvs(5, loc=0.3, size=4001, random_state=4)
    mean, var = x.mean(), x.var(ddof=1)
    skew, kurt = st.skew(x), st.kurtosis(x)
    q25, med, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    s_log = (q75 - q25) / (2 * np.log(3))
    df = np.clip(6 / (kurt / 4 + 1), 2.1, 30)
    assert study_start("norm", x) == pytest.approx((mean, np.sqrt(var)))
    assert study_start("logistic", x) == pytest.approx((med, s_log))
    assert study_start("genlogistic", x) == pytest.approx((1 + abs(skew), med, s_log))
    assert study_start("t", x) == pytest.approx((df, med, np.sqrt(var * (df - 2) / df)))
    assert study_start("crystalball", x) == pytest.approx(
        (1.0, np.clip(abs(skew), 0.1, 3), med, max(0.1, np.sqrt(var)))
    )
    assert study_start("hypsecant", x) is None and study_start("johnsonsu", x) is None
    # authors_fit is scipy's dist.fit from that start, nothing else
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = st.t.fit(x, df, loc=med, scale=np.sqrt(var * (df - 2) / df))
        ref_su = st.johnsonsu.fit(x)
    assert authors_fit("t", x).params == pytest.approx(ref, rel=1e-12)
    assert authors_fit("johnsonsu", x).params == pytest.approx(ref_su, rel=1e-12)
    # the study's crystalball start m <= 1 is outside crystalball's domain: that fit fails
    near_symmetric = st.norm.rvs(size=3000, random_state=5)
    assert math.isnan(authors_fit("crystalball", near_symmetric).loc)


def test_authors_procedure_ranks_scipys_fits_by_sse():
    """procedure: authors = every family by scipy's dist.fit from the study's start, the best by
    SSE against the 150-bin histogram, as the study's loop picks it."""
    x = st.logistic.rvs(loc=0.2, scale=0.5, size=6000, random_state=6)
    families = ["logistic", "norm", "t", "laplace", "hypsecant"]
    rows, _ = fit_sample(x, {"families": families, "procedure": "authors"})
    hist, edges = np.histogram(x, bins=150, density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    sse = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in families:
            start = study_start(name, x)
            d = getattr(st, name)
            p = d.fit(x) if start is None else d.fit(x, *start[:-2], loc=start[-2], scale=start[-1])
            sse[name] = float(np.sum((hist - d.pdf(centres, *p)) ** 2))
    got = {r["family"]: r["sse"] for r in rows}
    assert got == pytest.approx(sse, rel=1e-9)
    assert next(r["family"] for r in rows if r["best_sse"]) == min(sse, key=sse.get)
    assert {r["procedure"] for r in rows} == {"authors"}


def test_self_check_draws_and_compares(tmp_path):
    cells = pick_samples([3, 1, 2], ["a", "b", "c"], 4, seed=0)
    assert cells == pick_samples([1, 2, 3], ["a", "b", "c"], 4, seed=0)
    assert len(set(cells)) == 4 and cells != pick_samples([1, 2, 3], ["a", "b", "c"], 4, seed=1)
    assert len(pick_samples([0], ["a"], 4, seed=0)) == 1
    rng = np.random.default_rng(0)
    shard = np.concatenate([rng.logistic(0, 1, (40, 32)), rng.standard_t(3, (40, 32))])
    index = pl.DataFrame(
        {
            "pair": ["s:a"] * 40 + ["s:b"] * 40,
            "subject": ["s"] * 80,
            "attribute": ["a"] * 40 + ["b"] * 40,
        }
    )
    settings = {"families": ["logistic", "norm", "t"], "self_check": {"samples": 2, "seed": 0}}
    table = check_samples(lambda layer: shard * (layer + 1), [0, 5], index, "m", settings)
    assert table.schema == pl.Schema(SELF_CHECK_SCHEMA) and table.height == 2
    for r in table.iter_rows(named=True):
        values = shard[(index["pair"] == r["pair"]).to_numpy()].ravel() * (r["layer"] + 1)
        best = {}
        for proc in ("binned", "authors"):
            rows, _ = fit_sample(values, {"families": settings["families"], "procedure": proc})
            best[proc] = next(x["family"] for x in rows if x["best_sse"])
        assert (r["best_binned"], r["best_authors"]) == (best["binned"], best["authors"])
        assert r["agree"] == (best["binned"] == best["authors"])
        # the binned MLE is at least as good as scipy's, to binning precision
        assert r["loglik_gap_binned_best"] > -1e-3 * abs(r["n_values"])


def test_bad_samples_get_a_status():
    rows, _ = fit_sample(np.full(500, 3.0), {"families": ["norm", "t"]})
    assert [r["status"] for r in rows] == ["degenerate sample"] * 2
    rows, _ = fit_sample(np.arange(5.0), {"families": ["norm"]})
    assert rows[0]["status"] == "degenerate sample" and "5 values" in rows[0]["message"]
    frame = pl.DataFrame(
        [
            {**r, "model": "m", "layer": 0, "pair": "p", "subject": "s", "attribute": "a"}
            for r in rows
        ],
        schema=FITS_SCHEMA,
    )
    assert frame.height == 1
    assert find_modes(np.full(500, 1.0))[0]["status"].startswith("degenerate")


def test_nonfinite_shard_names_file_and_row(tmp_path):
    shard = np.zeros((3, 4), dtype=np.float32)
    shard[1, 2] = np.nan
    np.save(tmp_path / "layer_0.npy", shard)
    pl.DataFrame(
        {
            "row": [0, 1, 2],
            "id": ["a", "b", "c"],
            "pair": ["p"] * 3,
            "subject": ["s"] * 3,
            "attribute": ["t"] * 3,
        }
    ).write_parquet(tmp_path / "index.parquet")
    write_meta(tmp_path, 1, 4, 3)
    with pytest.raises(AtlasError, match=r"layer_0.npy: row 1 \(sentence b\), dimension 2"):
        load_layer(tmp_path / "layer_0.npy", tmp_path / "index.parquet", tmp_path / "meta.json")


def test_modes_recover_planted_minor_modes():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.logistic(0, 1, 50000),
            rng.normal(-12, 0.8, 600),
            rng.normal(15, 0.8, 400),
        ]
    )
    rows = find_modes(x)
    sides = sorted(r["side"] for r in rows)
    assert sides == ["left", "main", "right"]
    left = next(r for r in rows if r["side"] == "left")
    right = next(r for r in rows if r["side"] == "right")
    assert abs(left["location"] + 12) < 0.5 and abs(right["location"] - 15) < 0.5
    assert rows[0]["n_left"] == 1 and rows[0]["n_right"] == 1
    assert 0 < left["rel_height"] < 0.1 and left["volume"] > 0


@pytest.mark.workflow
def test_tiny_run_distribution_outputs(tiny_run):
    base = tiny_run / "results/distributions/tiny/tiny-llama"
    for layer in range(3):
        fits = pl.read_parquet(base / f"fits/layer_{layer}.parquet")
        assert fits.schema == pl.Schema(FITS_SCHEMA)
        n_pairs = fits.filter(pl.col("pair") != POOLED)["pair"].n_unique()
        assert fits.height == (n_pairs + 1) * fits["family"].n_unique()
        assert fits.group_by("pair").agg(pl.col("best_sse").sum())["best_sse"].max() == 1
        statuses = {"ok", "not converged", "support penalty", "failed"}
        assert set(fits["status"].unique()) <= statuses
        assert (fits["status"] == "ok").mean() > 0.5
        failed = fits.filter(pl.col("status") == "failed")
        assert (failed["message"].str.len_chars() > 0).all() and failed["loglik"].is_nan().all()
        modes = pl.read_parquet(base / f"modes/layer_{layer}.parquet")
        assert modes.schema == pl.Schema(MODES_SCHEMA)
        assert (modes.filter(pl.col("side") == "main").height) == n_pairs + 1
    findings = pl.read_parquet(base / "findings.parquet")
    assert findings.height == 5 and findings["model"].unique().to_list() == ["tiny-llama"]
    check = pl.read_parquet(base / "self_check.parquet")
    assert check.schema == pl.Schema(SELF_CHECK_SCHEMA) and check.height == 4
    assert (check["agree"] == (check["best_binned"] == check["best_authors"])).all()
    assert "self-check" in findings.filter(pl.col("claim_id") == "heavier-t-tails")["detail"][0]
    assert (base / "fit_example.png").stat().st_size > 0
    shares = pl.read_parquet(base / "family_shares.parquet")
    overall = shares.filter(pl.col("scope") == "overall")
    assert overall.group_by("criterion").agg(pl.col("share").sum())["share"].round(6).to_list() == [
        1.0,
        1.0,
    ]


FINDINGS = {"alpha": 0.05, "constant_within": 0.25, "bootstrap": 300, "seed": 0}


def _mode_stats(left_by_layer, right_by_layer, n_pairs=40, seed=0):
    """Per-(layer, pair) mode counts: Poisson around the given per-layer means."""
    from resid_atlas.distributions.summary import modes_by

    rng = np.random.default_rng(seed)
    rows = [
        {
            "layer": layer,
            "pair": f"s{p}:a",
            "subject": f"s{p}",
            "attribute": "a",
            "n_left": int(rng.poisson(left)),
            "n_right": int(rng.poisson(right)),
            "secondary_rel_height": 0.0,
            "secondary_volume": 0.0,
            "leftmost_dist_sd": 0.0,
            "rightmost_dist_sd": 0.0,
        }
        for layer, (left, right) in enumerate(zip(left_by_layer, right_by_layer, strict=True))
        for p in range(n_pairs)
    ]
    stats = pl.DataFrame(rows)
    return stats, modes_by(stats, "layer", "m")


@pytest.mark.parametrize(
    ("right", "expected"),
    [
        ([2.0] * 10, "holds"),  # right modes constant
        (list(np.linspace(0.5, 3.0, 10)), "does not hold"),  # right modes grow sixfold
    ],
)
def test_left_modes_fall_and_right_modes_stay_constant(right, expected):
    """Both halves of the sentence are tested: left modes falling is not enough."""
    from resid_atlas.distributions.summary import left_right_row, right_mode_change

    left = list(np.linspace(4.0, 0.5, 10))
    stats, by_layer = _mode_stats(left, right, n_pairs=200)
    row = left_right_row(stats, by_layer, "m", {}, FINDINGS)
    assert row["verdict"] == expected
    assert row["effect"] < -0.9 and row["p_value"] < 0.01 and row["n"] == 10
    assert "AND" in row["rule"] and "Spearman" in row["rule"] and "bootstrap" in row["rule"]
    value, low, high, n = right_mode_change(stats, 300, 0)
    means = by_layer["n_right_mean"].to_numpy()
    depth = np.linspace(0, 1, 10)
    assert value == pytest.approx(np.polyfit(depth, means, 1)[0] / means.mean())
    assert low < value < high and n == 200


def test_summary_findings_on_planted_layers(tmp_path):
    """Two layers, four pairs; Japanese samples carry planted secondary modes."""
    from resid_atlas.distributions.fits import fit_layer
    from resid_atlas.distributions.modes import modes_layer
    from resid_atlas.distributions.summary import summary

    rng = np.random.default_rng(0)
    pairs = [(s, a) for s in ("music", "sport") for a in ("in english", "in japanese")]
    rows, index = [], []
    for s, a in pairs:
        for _ in range(20):
            v = rng.logistic(0, 1, 64)
            if a == "in japanese":
                v[:3] = rng.normal(-40, 0.5, 3)
            rows.append(v)
            index.append({"id": f"{s}{len(index)}", "subject": s, "attribute": a})
    shard = np.array(rows, dtype=np.float32)
    idx = pl.DataFrame(index).with_columns(
        pair=pl.concat_str("subject", pl.lit(":"), "attribute"),
        row=pl.int_range(pl.len(), dtype=pl.Int32),
    )
    acts = tmp_path / "activations"
    acts.mkdir()
    idx.write_parquet(acts / "index.parquet")
    write_meta(acts, 2, shard.shape[1], shard.shape[0])
    fit_paths, mode_paths = [], []
    for layer in range(2):
        np.save(acts / f"layer_{layer}.npy", shard)
        fits = fit_layer(shard, idx, "m", layer, {"families": ["logistic", "norm", "t"]})
        modes = modes_layer(shard, idx, "m", layer, {"distance": 11})
        fit_paths.append(tmp_path / f"fits_{layer}.parquet")
        mode_paths.append(tmp_path / f"modes_{layer}.parquet")
        fits.write_parquet(fit_paths[-1])
        modes.write_parquet(mode_paths[-1])
    out = tmp_path / "distributions"
    check = pl.DataFrame(
        {"model": ["m"] * 4, "layer": [0, 0, 1, 1], "pair": [f"{s}:{a}" for s, a in pairs]}
    ).with_columns(
        n_values=pl.lit(1280),
        best_binned=pl.Series(["t", "logistic", "t", "t"]),
        best_authors=pl.Series(["t", "logistic", "logistic", "t"]),
        agree=pl.Series([True, True, False, True]),
        sse_binned=pl.lit(0.1),
        sse_authors=pl.lit(0.1),
        loglik_gap_binned_best=pl.lit(0.5),
        loglik_gap_authors_best=pl.Series([0.5, 1.0, 2.0, 3.0]),
        authors_failed=pl.lit(""),
    )
    check_path = tmp_path / "self_check.parquet"
    check.cast(SELF_CHECK_SCHEMA).write_parquet(check_path)
    summary(
        fit_paths,
        mode_paths,
        "m",
        {"findings": FINDINGS},
        acts / "layer_1.npy",
        1,
        acts / "index.parquet",
        acts / "meta.json",
        out,
        str(check_path),
    )
    findings = pl.read_parquet(out / "findings.parquet")
    verdicts = dict(findings.select("claim_id", "verdict").iter_rows())
    assert len(verdicts) == 5
    assert findings["rule"].str.len_chars().min() > 0
    # two layers are too few for a trend: the left-mode half is inconclusive (n too small)
    assert verdicts["left-modes-fall-with-depth"] in ("inconclusive", "does not hold")
    assert (
        "n too small"
        in findings.filter(pl.col("claim_id") == "left-modes-fall-with-depth")["rule"][0]
    )
    evidence = dict(findings.select("claim_id", "detail").iter_rows())
    for claim in ("logistic-family-wins", "heavier-t-tails"):
        assert "same SSE-best family in 3 of 4 samples (75%)" in evidence[claim], evidence[claim]
        assert "median log-likelihood gap on scipy's winner +1.5 nats" in evidence[claim]
    tails = pl.read_parquet(out / "tails_by_layer.parquet")
    assert tails["n_samples"].to_list() == [4, 4]
    assert (tails["n_tail_ok"] + tails["n_tail_on_bound"] + tails["n_tail_failed"]).to_list() == [
        4,
        4,
    ]
    assert {"share_right_k2", "share_left_k2"} <= set(tails.columns)
    best = pl.read_parquet(fit_paths).filter(
        pl.col("best_sse") & (pl.col("attribute") == "in english")
    )
    assert best.height == 4 and set(best["family"]) <= {
        "logistic",
        "t",
    }  # t -> logistic as df grows
    shares = pl.read_parquet(out / "family_shares.parquet")
    assert shares.filter(pl.col("scope") == "overall")["n"].sum() == 2 * 8  # 2 criteria x 8
    assert verdicts["japanese-clearer-modes"] == "holds"
    assert (out / "fit_example.png").exists()
    with pytest.raises(AtlasError, match="figure_pair"):
        summary(
            fit_paths,
            mode_paths,
            "m",
            {"figure_pair": "no:such", "findings": FINDINGS},
            acts / "layer_1.npy",
            1,
            acts / "index.parquet",
            acts / "meta.json",
            out,
        )


def test_ks_matches_scipy_kstest():
    """The binned KS distance equals scipy's exact one within half the largest bin's mass."""
    x = st.t.rvs(4, loc=0.3, scale=1.7, size=30000, random_state=5)
    rows, fits = fit_sample(x, {"families": ["t", "norm", "logistic", "truncnorm", "johnsonsb"]})
    assert {r["family"] for r in rows} == set(fits)
    for r in rows:
        ref = st.kstest(x, r["family"], args=fits[r["family"]].params).statistic
        assert abs(r["ks"] - ref) < 2e-3, (r["family"], r["ks"], ref)
    assert min(rows, key=lambda r: r["ks"])["family"] == "t"
