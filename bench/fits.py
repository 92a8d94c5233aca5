"""Benchmark: the distribution atlas's fits and KDE against looping scipy on real activations.

Baselines (measured in the same run on the same full samples, one pair's ~100 sentences x 576):
  fits: `scipy.stats.<dist>.fit(values)` for each of the 19 families (what the study ran);
  KDE:  `scipy.stats.gaussian_kde(values)` with the bandwidth x 4.5 on 1,000 grid points.
Ours: `resid_atlas.distributions.fits.fit_sample` warm-started from the layer's pooled fit (the
pooled fit's own time is reported and amortised over the layer's samples, as in the pipeline) and
`resid_atlas.stats.kde.kde_on_grid`.
Times are CPU seconds of this process (time.process_time, one BLAS thread recommended:
OMP_NUM_THREADS=1), so other users' load on a shared machine does not distort the ratio.
Prints the speed ratios and the agreement rates: same SSE-best family (over all samples; over
those where scipy converged on both winning families: scipy "did not converge" on a family when
our fit's exact log-likelihood beats scipy's by more than 1 nat; and against scipy's MLE, where
for each family scipy did not converge on, `dist.fit` is run again from our parameters as its
initial guess, untimed, and the better of its two fits is scipy's MLE); log-likelihood (exact,
on the raw values) within 0.1% of scipy's MLE or better, over the fits where scipy's is finite.

    python bench/fits.py [--acts results/activations/corpus/smollm2-135m/seed] [--layers 0 10 20 29]
                         [--pairs 4]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from resid_atlas.activations.shards import load_layer
from resid_atlas.distributions.families import FAMILY_NAMES, exact_loglik
from resid_atlas.distributions.fits import fit_sample, layer_samples
from resid_atlas.stats.kde import kde_on_grid


def scipy_fit(name: str, x: np.ndarray, hist, centres, start=()) -> tuple[float, float] | None:
    """(exact log-likelihood, SSE) of scipy's `dist.fit`, from its own start or from `start`."""
    d = getattr(st, name)
    try:
        p = d.fit(x, *start[:-2], loc=start[-2], scale=start[-1]) if start else d.fit(x)
        return exact_loglik(name, x, p), float(np.sum((hist - d.pdf(centres, *p)) ** 2))
    except Exception:  # scipy failed: no comparison for this family
        return None


def scipy_fits(x: np.ndarray, hist, centres) -> dict:
    fits = {name: scipy_fit(name, x, hist, centres) for name in FAMILY_NAMES}
    return {name: fit for name, fit in fits.items() if fit is not None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--acts", default="results/activations/corpus/smollm2-135m/seed")
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 10, 20, 29])
    ap.add_argument("--pairs", type=int, default=4, help="pair samples per layer")
    args = ap.parse_args()
    acts = Path(args.acts)
    if not (acts / "index.parquet").exists():
        sys.exit(
            f"{acts}/index.parquet not found: run the extraction first, e.g. "
            "snakemake --cores 2 results/activations/corpus/smollm2-135m/seed/index.parquet"
        )
    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    t_scipy = t_ours = t_pooled = t_kde_scipy = t_kde_ours = 0.0
    n_samples = n_same_best = n_ll = n_ll_ok = n_judged = n_judged_same = n_same_mle = 0
    pairs_per_layer = []
    worst: list[tuple] = []
    kde_err = 0.0
    for layer in args.layers:
        shard, index = load_layer(
            acts / f"layer_{layer}.npy", acts / "index.parquet", acts / "meta.json"
        )
        samples = layer_samples(shard, index)
        pairs_per_layer.append(len(samples) - 1)
        t0 = time.process_time()
        _, warm = fit_sample(samples[-1][3])
        t_pooled += time.process_time() - t0
        for pair, _, _, values in samples[: args.pairs]:
            x = np.asarray(values, dtype=np.float64)
            hist, edges = np.histogram(x, bins=150, density=True)
            centres = (edges[:-1] + edges[1:]) / 2
            t0 = time.process_time()
            ref = scipy_fits(x, hist, centres)
            t_scipy += time.process_time() - t0
            t0 = time.process_time()
            rows, fits = fit_sample(x, warm=warm)
            t_ours += time.process_time() - t0
            n_samples += 1
            ours_best = next((r["family"] for r in rows if r["best_sse"]), None)
            ref_best = min(ref, key=lambda k: ref[k][1])
            n_same_best += ours_best == ref_best
            # scipy "converged" on a family unless our fit's likelihood beats it by over 1 nat
            converged = {}
            for name, (ll_ref, _) in ref.items():
                if not np.isfinite(ll_ref) or name not in fits:
                    continue
                ll = exact_loglik(name, x, fits[name].params)
                n_ll += 1
                ok = ll >= ll_ref - 1e-3 * abs(ll_ref)
                n_ll_ok += ok
                converged[name] = ll <= ll_ref + 1.0
                if not ok:
                    worst.append((layer, pair, name, (ll - ll_ref) / abs(ll_ref)))
            judged = converged.get(ours_best, False) and converged.get(ref_best, False)
            n_judged += judged
            n_judged_same += judged and ours_best == ref_best
            # scipy's MLE: where its fit did not converge, dist.fit again from our parameters
            mle = dict(ref)
            for name in (n for n, ok in converged.items() if not ok):
                again = scipy_fit(name, x, hist, centres, fits[name].params)
                if again is not None and again[0] > mle[name][0]:
                    mle[name] = again
            mle_best = min(mle, key=lambda k: mle[k][1])
            n_same_mle += ours_best == mle_best
            if ours_best != ref_best:
                print(
                    f"  layer {layer} {pair}: best {ours_best} vs scipy {ref_best}"
                    + ("" if judged else " (scipy's MLE of one of them not converged)")
                    + f"; vs scipy's MLE {mle_best}"
                )
            t0 = time.process_time()
            kde = st.gaussian_kde(x)
            kde.set_bandwidth(kde.factor * 4.5)
            grid = np.linspace(x.min(), x.max(), 1000)
            dens_ref = kde(grid)
            t_kde_scipy += time.process_time() - t0
            t0 = time.process_time()
            _, dens = kde_on_grid(x, grid, bw_factor=4.5)
            t_kde_ours += time.process_time() - t0
            big = dens_ref > 1e-6 * dens_ref.max()
            kde_err = max(kde_err, float(np.max(np.abs(dens[big] - dens_ref[big]) / dens_ref[big])))
        print(f"layer {layer}: done ({n_samples} samples so far)", flush=True)
    amortised = t_pooled / sum(pairs_per_layer) * n_samples
    print(
        f"\nsamples: {n_samples} (layers {args.layers}, {args.pairs} pairs each, "
        f"~{x.size} values per sample)"
    )
    print(f"fits  baseline scipy dist.fit loop: {t_scipy / n_samples * 1e3:8.1f} ms/sample")
    print(
        f"fits  resid_atlas warm-start:       {t_ours / n_samples * 1e3:8.1f} ms/sample "
        f"(+ pooled fit amortised {amortised / n_samples * 1e3:.1f} ms/sample; pooled "
        f"{t_pooled / len(args.layers):.2f} s/layer)"
    )
    print(
        f"fits  speed ratio: {t_scipy / t_ours:.1f}x "
        f"({t_scipy / (t_ours + amortised):.1f}x with the pooled fit amortised)"
    )
    print(f"fits  same SSE-best family: {n_same_best}/{n_samples} = {n_same_best / n_samples:.1%}")
    print(
        f"fits  same SSE-best family where scipy converged on both winners: "
        f"{n_judged_same}/{n_judged} = {n_judged_same / max(n_judged, 1):.1%}"
    )
    print(
        f"fits  same SSE-best family as scipy's MLE (scipy refitted from ours where it had not "
        f"converged): {n_same_mle}/{n_samples} = {n_same_mle / n_samples:.1%}"
    )
    print(
        f"fits  log-likelihood within 0.1% of scipy's MLE or better: {n_ll_ok}/{n_ll} = "
        f"{n_ll_ok / n_ll:.1%}"
    )
    for layer, pair, name, rel in sorted(worst, key=lambda w: w[3])[:10]:
        print(f"  worse than scipy: layer {layer} {pair} {name} {rel:+.3%}")
    print(f"kde   baseline scipy gaussian_kde:  {t_kde_scipy / n_samples * 1e3:8.1f} ms/sample")
    print(f"kde   resid_atlas kde_on_grid:      {t_kde_ours / n_samples * 1e3:8.1f} ms/sample")
    print(
        f"kde   speed ratio: {t_kde_scipy / t_kde_ours:.0f}x; max relative error "
        f"{kde_err:.1e} (where density > 1e-6 max)"
    )


if __name__ == "__main__":
    main()
