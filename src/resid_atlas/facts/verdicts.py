"""The eight findings of "Basic Facts about Language Model Internals" (plus the critics' tail
claim and the residual-norm anchor) as verdicts on one model's tables, and the trained versus
random-init comparison: what is learned, what the architecture and initialisation already give.

Every threshold comes from `facts.verdicts` in the config (see config/README.md); "blocks" means
the outputs of the decoder blocks (layer >= 0), the embeddings being layer -1.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from resid_atlas.core.tables import read_table
from resid_atlas.stats import verdicts
from resid_atlas.stats.findings import FINDINGS_SCHEMA, finding

STUDY = "002 basic-facts"
CLAIMS = {
    "activations-near-gaussian": "Residual-stream activations are nearly Gaussian, with outliers.",
    "activations-exponential-tails": (
        "Activation tails are exponential rather than Gaussian: logistic fits beat the normal "
        "(the critics' reading)."
    ),
    "outlier-dims-consistent": (
        "Outlier dimensions are the same through the residual stream, across layers and token "
        "positions."
    ),
    "weights-gaussian-except-norms": (
        "Weights are nearly Gaussian, except the normalisation (LayerNorm/RMSNorm) parameters."
    ),
    "writing-weights-grow": (
        "Writing matrices (attention out, MLP out) grow in norm with depth while reading matrices "
        "(q, k, v, MLP in) stay constant."
    ),
    "gradients-gaussian": "Gradients of the next-token loss are nearly Gaussian.",
    "weights-power-law": "Every weight matrix has a power-law singular-value spectrum.",
    "activation-cov-power-law": "Activation covariances per layer have a power-law spectrum.",
    "dataset-cov-power-law": "The dataset (token embedding) covariance has a power-law spectrum.",
    "residual-norm-growth": (
        "The residual norm grows geometrically with depth (about 1.045x per layer in GPT2-XL, "
        "position 0 excluded)."
    ),
}
COMPARISON_SCHEMA = {
    "claim_id": pl.String,
    "claim": pl.String,
    "trained_model": pl.String,
    "init_model": pl.String,
    "trained_verdict": pl.String,
    "init_verdict": pl.String,
    "trained_value": pl.Float64,
    "init_value": pl.Float64,
    "reading": pl.String,  # learned | architecture | lost in training | neither | inconclusive
}


def _median(series) -> float:
    values = np.asarray(series, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


def _mean(series) -> float:
    values = np.asarray(series, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def findings(model: str, t: dict[str, pl.DataFrame], v: dict, figures: dict) -> list[dict]:
    """One finding row per claim from the model's tables `t` and the thresholds `v`."""
    rows = []

    def add(claim_id, evidence, value, detail, figure=""):
        rows.append(
            finding(STUDY, claim_id, CLAIMS[claim_id], model, evidence, value, detail, figure)
        )

    acts = t["activations"].filter((pl.col("layer") >= 0) & (pl.col("status") == "ok"))
    ks, maxz = _median(acts["ks_normal_robust"]), _median(acts["max_abs_z"])
    kurt = _median(acts["excess_kurtosis"])
    ok = None if math.isnan(ks) else (ks <= v["ks_gaussian"] and maxz >= v["outlier_max_z"])
    add(
        "activations-near-gaussian",
        verdicts.threshold(
            ok,
            ks,
            acts.height,
            f"median robust KS over blocks <= {v['ks_gaussian']} and median max |z| >= "
            f"{v['outlier_max_z']}",
        ),
        ks,
        f"median over {acts.height} blocks: robust KS to N(0,1) {ks:.3f} (nearly Gaussian if "
        f"<= {v['ks_gaussian']}), max |x - mean|/sd {maxz:.1f} (outliers if >= "
        f"{v['outlier_max_z']}), excess kurtosis {kurt:.2f}",
        figures.get("activations", ""),
    )

    fits = t["fits"].filter((pl.col("source") == "activation") & (pl.col("layer") >= 0))
    aic = fits.pivot(on="family", index="layer", values="aic") if fits.height else None
    if aic is not None and {"normal", "logistic"} <= set(aic.columns):
        share_logistic = float((aic["logistic"] < aic["normal"]).mean())
    else:
        share_logistic = math.nan
    tail_c = _median(acts["tail_exponent"])
    ok = (
        None
        if math.isnan(tail_c) or math.isnan(share_logistic)
        else bool(share_logistic >= 0.5 and tail_c < v["tail_exponent_exponential"])
    )
    add(
        "activations-exponential-tails",
        verdicts.threshold(
            ok,
            tail_c,
            acts.height,
            f"median tail exponent < {v['tail_exponent_exponential']} and logistic AIC below "
            "normal in at least half the blocks",
        ),
        tail_c,
        f"median tail exponent c of log p = a - b|z|^c: {tail_c:.2f} (2 Gaussian, 1 exponential; "
        f"exponential if < {v['tail_exponent_exponential']}); logistic AIC below normal in "
        f"{share_logistic:.0%} of blocks; best family by AIC per block: "
        f"{_counts(acts['best_fit'])}",
        figures.get("activations", ""),
    )

    rows.append(_outlier_finding(model, t, v, figures))

    w = t["weights"]
    mats = w.filter((pl.col("kind") == "weight") & (pl.col("cols") > 1) & (pl.col("layer") >= 0))
    mats_ok = mats.filter(pl.col("status") == "ok")
    norms = w.filter(pl.col("kind") == "norm")
    ks_m = _median(mats_ok["ks_normal_robust"])
    n_const = int((norms["status"] == "constant").sum())
    ks_n = _median(norms.filter(pl.col("status") == "ok")["ks_normal_robust"])
    weights_part = verdicts.threshold(
        None if math.isnan(ks_m) else bool(ks_m <= v["ks_gaussian"]),
        ks_m,
        mats_ok.height,
        f"median robust KS of the block weight matrices <= {v['ks_gaussian']}",
    )
    add(
        "weights-gaussian-except-norms",
        verdicts.all_of(weights_part, norms_part(norms, v["ks_gaussian"])),
        ks_m,
        f"median robust KS of {mats_ok.height} block matrices {ks_m:.3f}, median excess kurtosis "
        f"{_median(mats_ok['excess_kurtosis']):.2f}; norm parameters: {norms.height} tensors, "
        f"{n_const} constant, median KS of the rest {ks_n:.3f}, "
        f"median mean {_median(norms['mean']):.3f}",
        figures.get("weights", ""),
    )

    growth = t["growth"]
    rate = {q: r for q, r in zip(growth["quantity"], growth["rate"], strict=True)}
    wr, rr = rate.get("writing", math.nan), rate.get("reading", math.nan)
    tol = v["growth_tol"]
    ok = None if math.isnan(wr) or math.isnan(rr) else bool(wr > 1 + tol and abs(rr - 1) <= tol)
    n_layers = int(w.filter(pl.col("layer") >= 0)["layer"].n_unique())
    roles = ", ".join(
        f"{q} {r:.3f}" for q, r in sorted(rate.items()) if q not in ("reading", "writing")
    )
    add(
        "writing-weights-grow",
        verdicts.threshold(
            ok,
            wr,
            n_layers,
            f"writing-norm growth per layer > 1 + {tol} and reading growth within {tol} of 1",
        ),
        wr,
        f"Frobenius norm growth per layer: writing {wr:.4f}, reading {rr:.4f} (growth if > "
        f"1 + {tol}, constant if within {tol} of 1); by role: {roles}",
        figures.get("weights", ""),
    )

    g = t["gradients"]
    gm = g.filter((pl.col("kind") == "weight") & (pl.col("cols") > 1) & (pl.col("status") == "ok"))
    ks_g = _median(gm["ks_normal_robust"])
    add(
        "gradients-gaussian",
        verdicts.threshold(
            None if math.isnan(ks_g) else bool(ks_g <= v["ks_gaussian"]),
            ks_g,
            gm.height,
            f"median robust KS of the gradient matrices <= {v['ks_gaussian']}",
        ),
        ks_g,
        f"median robust KS of {gm.height} gradient matrices {ks_g:.3f} (nearly Gaussian if <= "
        f"{v['ks_gaussian']}), median excess kurtosis {_median(gm['excess_kurtosis']):.2f}, "
        f"best family by AIC: {_counts(gm['best_fit'])}",
        figures.get("weights", ""),
    )

    laws = t["powerlaw"]
    for claim_id, source, blocks_only in (
        ("weights-power-law", "weight-sv", False),
        ("activation-cov-power-law", "activation-cov", True),
        ("dataset-cov-power-law", "embedding-cov", False),
    ):
        part = laws.filter(pl.col("source") == source)
        if blocks_only:
            part = part.filter(pl.col("layer") >= 0)
        rows.append(_power_law_finding(model, claim_id, part, v, figures.get("spectra", "")))

    rn = growth.filter(pl.col("quantity") == "residual_norm")
    r, r2 = (float(rn["rate"][0]), float(rn["r2"][0])) if rn.height else (math.nan, math.nan)
    ok = None if math.isnan(r) else bool(r > 1 + tol and r2 >= v["growth_r2"])
    add(
        "residual-norm-growth",
        verdicts.threshold(
            ok,
            r,
            n_layers,
            f"residual-norm growth per block > 1 + {tol} with log-linear R^2 >= {v['growth_r2']}",
        ),
        r,
        f"mean residual norm grows {r:.4f}x per block (R^2 of log-linear fit {r2:.2f}; geometric "
        f"if rate > 1 + {tol} and R^2 >= {v['growth_r2']}); GPT2-XL anchor 1.045",
        figures.get("norms", ""),
    )
    return rows


def norms_part(norms: pl.DataFrame, ks_gaussian: float) -> verdicts.Evidence:
    """The "except the norm parameters" half of the weights claim: they differ from Gaussian.
    A model without norm parameters has nothing to differ (not a vacuous "holds")."""
    if norms.height == 0:
        return verdicts.not_run("the model has no normalisation parameters to compare")
    n_const = int((norms["status"] == "constant").sum())
    ks_n = _median(norms.filter(pl.col("status") == "ok")["ks_normal_robust"])
    # a constant tensor (LayerNorm's init: all ones or zeros) is as far from Gaussian as it gets
    differ = n_const == norms.height or (None if math.isnan(ks_n) else bool(ks_n > ks_gaussian))
    return verdicts.threshold(
        differ,
        ks_n,
        norms.height,
        f"norm parameters all constant or their median robust KS > {ks_gaussian}",
    )


def _counts(series: pl.Series) -> str:
    counts = series.drop_nulls().value_counts(sort=True)
    return ", ".join(f"{a} {n}" for a, n in counts.iter_rows() if a) or "none"


def _outlier_finding(model: str, t: dict, v: dict, figures: dict) -> dict:
    acts = t["activations"].filter(pl.col("layer") >= 0)
    jac = t["outlier_jaccard"]
    n_dims = acts["n_outlier_dims"].fill_null(0)
    layer_j = jac.filter(pl.col("axis") == "layer").with_columns(
        a=pl.col("a").cast(pl.Int32), b=pl.col("b").cast(pl.Int32)
    )
    consecutive = layer_j.filter((pl.col("b") == pl.col("a") + 1) & (pl.col("a") >= 0))
    j_layer = _median(consecutive["jaccard"].drop_nans().to_numpy())
    mean_layer = _mean(consecutive["jaccard"])
    pos = jac.filter((pl.col("axis") == "position") & (pl.col("layer") >= 0))
    pos = pos.filter(~pl.col("a").is_in(["positions 0"]))
    j_pos = _mean(pos["jaccard"])
    if int(n_dims.max() or 0) == 0:
        ok, value = False, 0.0  # no outlier dimension at all: nothing is consistent
    elif math.isnan(mean_layer):
        ok, value = None, math.nan
    else:
        value = mean_layer
        ok = bool(
            mean_layer >= v["jaccard_consistent"]
            and (math.isnan(j_pos) or j_pos >= v["jaccard_consistent"])
        )
    detail = (
        f"outlier dimensions per block (share >= outlier_share above k sd): median "
        f"{_median(n_dims)}, max {int(n_dims.max() or 0)}; Jaccard of consecutive blocks' sets "
        f"mean {mean_layer:.2f} (median {j_layer:.2f}); positions vs all tokens mean {j_pos:.2f} "
        f"(consistent if >= {v['jaccard_consistent']})"
    )
    evidence = verdicts.threshold(
        ok,
        value,
        consecutive.height,
        f"some block has outlier dimensions, the mean Jaccard of consecutive blocks' sets >= "
        f"{v['jaccard_consistent']} and (where measured) positions vs all tokens >= "
        f"{v['jaccard_consistent']}",
    )
    return finding(
        STUDY,
        "outlier-dims-consistent",
        CLAIMS["outlier-dims-consistent"],
        model,
        evidence,
        value,
        detail,
        figures.get("outliers", ""),
    )


def _power_law_finding(model, claim_id, part: pl.DataFrame, v: dict, figure: str) -> dict:
    r2 = part["r2"].to_numpy()
    ok_share = float(np.mean(r2 >= v["power_law_r2"])) if r2.size else math.nan
    alpha = _median(part["alpha"])
    q1, q3 = (
        np.nanpercentile(part["alpha"].to_numpy(), [25, 75]) if part.height else (math.nan,) * 2
    )
    evidence = verdicts.threshold(
        None if math.isnan(ok_share) else bool(ok_share >= v["power_law_share"]),
        ok_share,
        part.height,
        f"share of spectra with log-log R^2 >= {v['power_law_r2']} at least "
        f"{v['power_law_share']:.0%}",
    )
    detail = (
        f"{part.height} spectra; log-log fit R^2 >= {v['power_law_r2']} in {ok_share:.0%} "
        f"(power law if >= {v['power_law_share']:.0%}); median R^2 {_median(part['r2']):.3f}; "
        f"alpha median {alpha:.3f} (IQR {q1:.3f}-{q3:.3f})"
    )
    return finding(STUDY, claim_id, CLAIMS[claim_id], model, evidence, alpha, detail, figure)


def compare(all_findings: pl.DataFrame, models: dict) -> pl.DataFrame:
    """Trained model versus its random-init twin (`like:`), claim by claim."""
    present = set(all_findings["model"].to_list())
    rows = []
    for init, spec in models.items():
        trained = spec.get("like")
        if spec.get("source") != "random-init" or trained not in present or init not in present:
            continue
        a = all_findings.filter(pl.col("model") == trained)
        b = all_findings.filter(pl.col("model") == init)
        for ra in a.iter_rows(named=True):
            rb = b.filter(pl.col("claim_id") == ra["claim_id"])
            if rb.height == 0:
                continue
            rb = rb.row(0, named=True)
            rows.append(
                {
                    "claim_id": ra["claim_id"],
                    "claim": ra["claim"],
                    "trained_model": trained,
                    "init_model": init,
                    "trained_verdict": ra["verdict"],
                    "init_verdict": rb["verdict"],
                    "trained_value": ra["value"],
                    "init_value": rb["value"],
                    "reading": reading(ra["verdict"], rb["verdict"]),
                }
            )
    return (
        pl.DataFrame(rows, schema=COMPARISON_SCHEMA)
        if rows
        else pl.DataFrame(schema=COMPARISON_SCHEMA)
    )


def reading(trained: str, init: str) -> str:
    if "inconclusive" in (trained, init) or "not run" in (trained, init):
        return "inconclusive"
    table = {
        ("holds", "holds"): "architecture",
        ("holds", "does not hold"): "learned",
        ("does not hold", "holds"): "lost in training",
        ("does not hold", "does not hold"): "neither",
    }
    return table[(trained, init)]


def stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames) if frames else pl.DataFrame(schema=FINDINGS_SCHEMA)


def summary(findings: list[str], models: dict, out_findings: str, out_comparison: str) -> None:
    """Step `facts summary`: every model's findings stacked, and each trained model read against
    its random-init twin."""
    from resid_atlas.core.atomic import write_parquet

    stacked = stack([read_table(path) for path in findings])
    write_parquet(stacked, out_findings)
    write_parquet(compare(stacked, models), out_comparison)
