"""One model's facts: sample sentences, stream token activations, take gradients, measure every
parameter, fit, compute spectra and norms, write the tables, figures and findings."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from resid_atlas.core.atomic import write_parquet
from resid_atlas.core.tables import read_table
from resid_atlas.facts import figures as figs
from resid_atlas.facts.outputs import FIGURES
from resid_atlas.facts.passes import activation_pass, loss_gradients, sample_corpus, tokenize
from resid_atlas.facts.streaming import StreamSettings
from resid_atlas.facts.tables import (
    FIT_SCHEMA,
    POWERLAW_SCHEMA,
    SPECTRUM_SCHEMA,
    activation_tables,
    frame,
    massive_table,
    matrix_tables,
    norm_tables,
)
from resid_atlas.facts.verdicts import findings
from resid_atlas.models.loading import LoadedModel
from resid_atlas.models.matrices import pieces
from resid_atlas.stats.findings import findings_frame

log = logging.getLogger(__name__)


def stream_settings(settings: dict, n_values: int) -> StreamSettings:
    """Sampling probability such that about `fit_sample` values per layer reach the fits."""
    return StreamSettings(
        hist_bins=settings["hist_bins"],
        hist_range=settings["hist_range"],
        outlier_k=settings["outlier_k"],
        n_buckets=settings["position_buckets"],
        top_n=settings["top_massive"],
        sample_prob=min(1.0, 1.2 * settings["fit_sample"] / max(n_values, 1)),
    )


def facts_tables(lm: LoadedModel, corpus: pl.DataFrame, settings: dict) -> dict[str, pl.DataFrame]:
    """Every facts table of one model (the findings included)."""
    model = lm.name
    seed = settings["seed"]
    sample = sample_corpus(corpus, settings["n_sentences"], seed)
    ids = tokenize(
        lm.tokenizer, sample["text"].to_list(), settings["max_tokens"], settings["prepend_bos"]
    )
    skip_first = settings["skip_first"]
    n_counted = sum(max(len(r) - (1 if skip_first else 0), 0) for r in ids)
    started = time.perf_counter()
    streams = activation_pass(
        lm,
        ids,
        settings["batch_size"],
        skip_first,
        stream_settings(settings, n_counted * lm.d_model),
        seed,
    )
    finished = {layer: s.finish() for layer, s in streams.items()}
    log.info("activations: %d tokens in %.1fs", n_counted, time.perf_counter() - started)
    t = activation_tables(model, finished, settings)
    t["massive"] = massive_table(model, finished, ids, sample["id"].to_list(), lm.tokenizer)
    del finished, streams

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    w = matrix_tables(model, "weight", pieces(lm.model), settings, rng, spectra=True)
    log.info("weights and spectra in %.1fs", time.perf_counter() - started)
    started = time.perf_counter()
    grads, loss, n_pred = loss_gradients(
        lm, ids[: settings["grad_sentences"]], settings["grad_batch_size"]
    )
    log.info("gradients: loss %.3f over %d tokens", loss, n_pred)
    g = matrix_tables(model, "gradient", pieces(lm.model, grads), settings, rng, spectra=False)
    del grads
    log.info("gradients in %.1fs", time.perf_counter() - started)

    t["weights"] = w["matrices"]
    t["gradients"] = g["matrices"]
    t["fits"] = frame(t["fits"] + w["fits"] + g["fits"], FIT_SCHEMA)
    t["spectra"] = frame(w["spectra"] + t["spectra"], SPECTRUM_SCHEMA)
    t["powerlaw"] = frame(w["powerlaw"] + t["powerlaw"], POWERLAW_SCHEMA)
    t.update(norm_tables(model, t["weights"], t["activations"]))
    return t


def run_facts(lm: LoadedModel, corpus: pl.DataFrame, settings: dict, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    t = facts_tables(lm, corpus, settings)
    figure_paths = {name: out_dir / f"{name}.png" for name in FIGURES}
    t["findings"] = findings_frame(
        findings(lm.name, t, settings["verdicts"], {k: str(p) for k, p in figure_paths.items()})
    )
    for name, fn in figs.FIGURES.items():
        fn(lm.name, t, figure_paths[name])
    for name, table in t.items():
        write_parquet(table, out_dir / f"{name}.parquet")


def measure(
    corpus: str, model: str, models: dict, settings: dict, out_dir: str, threads: int | None
) -> None:
    """Step `facts measure`: every facts table, figure and the findings of one model into
    `out_dir` (names: facts/outputs.py)."""
    from resid_atlas.models.loading import load_for_step

    lm = load_for_step(model, models, settings, threads)
    run_facts(lm, read_table(corpus), settings, out_dir)
