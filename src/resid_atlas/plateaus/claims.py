"""The study's claims as a findings table (resid_atlas.stats.findings): one row per (claim,
model), each a difference of medians with a percentile-bootstrap 95% interval, decided by the
interval rule of resid_atlas.stats.verdicts (holds when the interval lies above zero, does not
hold when below, inconclusive when it contains zero); a claim whose conditions were not run says
so."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.errors import AtlasError
from resid_atlas.core.tables import read_table
from resid_atlas.plateaus.crossings import UNITS, censored_sizes
from resid_atlas.stats import verdicts
from resid_atlas.stats.bootstrap import median_sum_ci
from resid_atlas.stats.findings import finding, write_findings

STUDY = "003 activation-plateaus"

log = logging.getLogger(__name__)


def _sizes(frame: pl.DataFrame, condition: str, which: str) -> np.ndarray | None:
    rows = frame.filter(pl.col("condition") == condition)
    return censored_sizes(rows, which) if rows.height else None


def _fmt(x: np.ndarray, unit: str) -> str:
    med = float(np.median(x))
    return f"{np.degrees(med):.1f} deg" if unit == "radians" else f"{med:.3f}"


def _difference_row(
    claim_id, claim, model, samples, signs, labels, which, unit, seed, figure, n_resamples=2000
) -> dict:
    """A claim that sum(signs * medians) > 0 over the named conditions' samples."""
    missing = [label for label, s in zip(labels, samples, strict=True) if s is None]
    if missing:
        return finding(
            STUDY, claim_id, claim, model,
            verdicts.not_run(f"conditions not in plateaus.conditions: {', '.join(missing)}"),
            None, f"conditions not in plateaus.conditions: {', '.join(missing)}", figure,
        )  # fmt: skip
    value, low, high = median_sum_ci(samples, signs, n_resamples, seed)
    scale = np.degrees if unit == "radians" else (lambda v: v)
    parts = [
        f"{label}: median {which} {_fmt(s, unit)} (n={len(s)})"
        for label, s in zip(labels, samples, strict=True)
    ]
    detail = (
        "; ".join(parts)
        + f"; difference {scale(value):.3g} [95% CI {scale(low):.3g}, {scale(high):.3g}]"
        + (" deg" if unit == "radians" else " x ||base||")
        + "; non-crossing curves count as one step beyond the sweep"
    )
    terms = " ".join(
        f"{'+' if sign > 0 else '-'} median({label})"
        for sign, label in zip(signs, labels, strict=True)
    )
    evidence = verdicts.interval(
        value,
        low,
        high,
        sum(len(x) for x in samples),
        f"95% bootstrap CI (over curves, each condition resampled) of {terms} "
        f"({which} size) above 0",
    )
    return finding(STUDY, claim_id, claim, model, evidence, value, detail, figure)


def model_claims(
    model: str, frame: pl.DataFrame, triangle: pl.DataFrame, modes: list[str], seed: int,
    figures: dict[str, str], n_resamples: int = 2000,
) -> list[dict]:  # fmt: skip
    rows = []
    for mode in modes:
        unit = UNITS[mode]

        def c(base, direction, mode=mode):
            return f"{base}.{direction}.{mode}"

        def s(name, which):
            return _sizes(frame, name, which)

        specs = [
            (
                f"real-bases-plateau-{mode}",
                "Real base activations sit on a plateau: random-direction perturbations of "
                "them leave the plateau later than the same perturbations of cov-random bases "
                f"({mode}).",
                [c("real", "random"), c("cov-random", "random")],
                [1.0, -1.0],
                "plateau",
                figures["curves"],
            ),
            (
                f"real-other-more-sensitive-{mode}",
                "Directions towards another prompt's real activation are more sensitive (cross "
                f"KL 0.5 earlier) than cov-random directions ({mode}).",
                [c("real", "random"), c("real", "real-other")],
                [1.0, -1.0],
                "crossing",
                figures["thresholds"],
            ),
            (
                f"isotropic-less-sensitive-{mode}",
                "Isotropic random directions are much less sensitive than cov-random ones "
                f"({mode}).",
                [c("real", "isotropic"), c("real", "random")],
                [1.0, -1.0],
                "crossing",
                figures["thresholds"],
            ),
            (
                f"real-other-beats-mixture-{mode}",
                "Real-other directions stay more sensitive than the fairer cov-random mixture "
                f"baseline, which does not subtract the base (Lee & Heimersheim) ({mode}).",
                [c("real", "cov-random-mixture"), c("real", "real-other")],
                [1.0, -1.0],
                "crossing",
                figures["thresholds"],
            ),
        ]
        for claim_id, claim, names, signs, which, figure in specs:
            samples = [s(n, which) for n in names]
            rows.append(
                _difference_row(
                    claim_id,
                    claim,
                    model,
                    samples,
                    signs,
                    names,
                    which,
                    unit,
                    seed,
                    figure,
                    n_resamples,
                )
            )
    rows.append(_local_optimum(model, triangle, seed, figures["triangle"], n_resamples))
    return rows


def _local_optimum(
    model: str, triangle: pl.DataFrame, seed: int, figure: str, n_resamples: int = 2000
) -> dict:
    claim_id = "real-other-local-optimum"
    claim = (
        "A real-other direction is a local optimum of sensitivity: it crosses KL 0.5 earlier "
        "than directions interpolated a step towards two random ones."
    )
    real = triangle.filter(pl.col("triangle") == "real-other")
    if real.is_empty():
        return finding(
            STUDY, claim_id, claim, model, verdicts.not_run("no triangle run"), None,
            "no triangle run", figure,
        )  # fmt: skip
    top_w = real["w_top"].max()
    below = real.filter(pl.col("w_top") < top_w)["w_top"].max()
    top = censored_sizes(real.filter(pl.col("w_top") == top_w))
    near = censored_sizes(real.filter(pl.col("w_top") == below))
    unit = UNITS[real["mode"][0]]
    return _difference_row(
        claim_id,
        claim,
        model,
        [near, top],
        [1.0, -1.0],
        [f"neighbours (w_top={below:.2f})", "real-other corner"],
        "crossing",
        unit,
        seed,
        figure,
        n_resamples,
    )


def twin_claims(
    trained: str, init: str, frames: dict[str, pl.DataFrame], modes: list[str], seed: int,
    figure: str, n_resamples: int = 2000,
) -> list[dict]:  # fmt: skip
    """Training makes the plateau: the real-vs-cov-random plateau gap of the trained model
    exceeds that of its random-init twin."""
    rows = []
    for mode in modes:
        names = [f"real.random.{mode}", f"cov-random.random.{mode}"]
        samples = [
            _sizes(frames[m], n, "plateau") for m in (trained, init) for n in names
        ]  # fmt: skip
        labels = [f"{m} {n}" for m in (trained, init) for n in names]
        rows.append(
            _difference_row(
                f"training-makes-plateaus-{mode}",
                f"The plateau around real activations is a product of training: its gap over "
                f"cov-random bases is larger in {trained} than in its random-init twin ({mode}).",
                init,
                samples,
                [1.0, -1.0, -1.0, 1.0],
                labels,
                "plateau",
                UNITS[mode],
                seed,
                figure,
                n_resamples,
            )
        )
    return rows


def findings(
    thresholds: list[str], triangles: list[str], models: dict, settings: dict, out: str
) -> None:
    """Step `plateaus findings`: the study's claims for every model and trained/random-init
    twin, from each model's thresholds and triangle crossings (given in the same model order)."""
    s = settings
    frames, triangle_frames, figs = {}, {}, {}
    if len(thresholds) != len(triangles):
        raise AtlasError(
            f"{len(thresholds)} thresholds tables but {len(triangles)} triangle tables; give one "
            "of each per model, in the same order."
        )
    for path, tri in zip(map(Path, thresholds), triangles, strict=True):
        frame = read_table(path)
        model = path.parent.name
        frames[model] = frame
        triangle_frames[model] = read_table(tri)
        figs[model] = {
            name: str(path.parent / "figures" / f"{name if name != 'curves' else 'kl_curves'}.png")
            for name in ("curves", "thresholds", "triangle")
        }
    modes = sorted({n.split(".")[2] for n in s["conditions"]}, reverse=True)
    rows = []
    for model, frame in frames.items():
        rows += model_claims(
            model, frame, triangle_frames[model], modes, s["seed"], figs[model], s["bootstrap"]
        )
    for init, entry in models.items():
        trained = entry.get("like")
        if init in frames and trained in frames:
            rows += twin_claims(
                trained, init, frames, modes, s["seed"], figs[init]["curves"], s["bootstrap"]
            )
    write_findings(rows, out)
    for row in rows:
        log.info("%s %s: %s (%s)", row["model"], row["claim_id"], row["verdict"], row["detail"])
