"""From per-layer scores to predictions and their evaluation: top-3 pairs per sentence (argmax over
pairs; ties go to the pair that sorts first), confusion matrices and precision/recall/F1 for pairs,
subjects and attributes, top-k accuracy and the prediction-sink table."""

from __future__ import annotations

import numpy as np
import polars as pl

LEVELS = ("pair", "subject", "attribute")
TOP_K = 3

PREDICTIONS_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "row": pl.Int32,
    "id": pl.String,
    "pair": pl.String,
    "subject": pl.String,
    "attribute": pl.String,
    "pred_pair": pl.String,
    "pred_subject": pl.String,
    "pred_attribute": pl.String,
    "pred_pair_2": pl.String,
    "pred_pair_3": pl.String,
    "score_1": pl.Float64,
    "score_2": pl.Float64,
    "score_3": pl.Float64,
}
CONFUSION_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "level": pl.String,
    "true": pl.String,
    "predicted": pl.String,
    "count": pl.Int64,
}
METRICS_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "level": pl.String,
    "class": pl.String,  # a pair, subject or attribute; "macro" for the unweighted mean
    "support": pl.Int64,
    "predicted": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "status": pl.String,  # ok / no test sentences / never predicted
}
ACCURACY_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "level": pl.String,
    "k": pl.Int32,
    "accuracy": pl.Float64,
    "n_test": pl.Int64,
}
SINKS_SCHEMA = {
    "model": pl.String,
    "variant": pl.String,
    "pair": pl.String,
    "predicted": pl.Int64,
    "support": pl.Int64,
    "expected": pl.Float64,
    "ratio": pl.Float64,
    "sink": pl.Boolean,
}


def top_k(total: np.ndarray, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """[n, P] scores -> ([n, k] pair indices, [n, k] scores), best first; ties keep pair order."""
    if not np.all(np.isfinite(total)):
        bad = np.argwhere(~np.isfinite(total))[0]
        raise ValueError(f"non-finite score for test row {bad[0]}, pair index {bad[1]}")
    k = min(k, total.shape[1])
    order = np.argsort(-total, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(total, order, axis=1)


def split_pair(pair: str) -> tuple[str, str]:
    subject, attribute = pair.split(":", 1)
    return subject, attribute


def predictions_frame(
    model: str, variant: str, test: pl.DataFrame, pairs: list[str], total: np.ndarray
) -> pl.DataFrame:
    """test: rows of the index (row, id, pair, subject, attribute) in score order."""
    order, scores = top_k(total)
    names = np.array(pairs, dtype=object)
    top = names[order]
    k = order.shape[1]

    def col(j):
        return top[:, j].tolist() if j < k else [None] * len(top)

    def score(j):
        return scores[:, j] if j < k else np.full(len(top), np.nan)

    pred = col(0)
    return pl.DataFrame(
        {
            "model": model,
            "variant": variant,
            "row": test["row"],
            "id": test["id"],
            "pair": test["pair"],
            "subject": test["subject"],
            "attribute": test["attribute"],
            "pred_pair": pred,
            "pred_subject": [split_pair(p)[0] for p in pred],
            "pred_attribute": [split_pair(p)[1] for p in pred],
            "pred_pair_2": col(1),
            "pred_pair_3": col(2),
            "score_1": score(0),
            "score_2": score(1),
            "score_3": score(2),
        },
        schema=PREDICTIONS_SCHEMA,
    )


def classes(pairs: list[str], level: str) -> list[str]:
    if level == "pair":
        return list(pairs)
    i = 0 if level == "subject" else 1
    return sorted({split_pair(p)[i] for p in pairs})


def _true_pred(pred: pl.DataFrame, level: str) -> tuple[list[str], list[str]]:
    return pred[level].to_list(), pred[f"pred_{level}"].to_list()


def confusion(pred: pl.DataFrame, pairs: list[str], level: str) -> np.ndarray:
    names = classes(pairs, level)
    pos = {c: i for i, c in enumerate(names)}
    truth, guess = _true_pred(pred, level)
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(matrix, ([pos[t] for t in truth], [pos[g] for g in guess]), 1)
    return matrix


def confusion_frame(pred: pl.DataFrame, pairs: list[str], model: str, variant: str):
    frames = []
    for level in LEVELS:
        names = classes(pairs, level)
        matrix = confusion(pred, pairs, level)
        frames.append(
            pl.DataFrame(
                {
                    "model": model,
                    "variant": variant,
                    "level": level,
                    "true": np.repeat(names, len(names)).tolist(),
                    "predicted": np.tile(names, len(names)).tolist(),
                    "count": matrix.ravel(),
                },
                schema=CONFUSION_SCHEMA,
            )
        )
    return pl.concat(frames)


def class_metrics(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 per class from a confusion matrix (rows true, columns predicted).
    Undefined values (no support, never predicted) are NaN and named in `status`."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
        f1 = np.where(support > 0, 2 * tp / (support + predicted), np.nan)
    precision = np.where((predicted == 0) & (support > 0), 0.0, precision)
    status = np.where(support == 0, "no test sentences", "ok")
    status = np.where((support > 0) & (predicted == 0), "never predicted", status)
    return {
        "support": support,
        "predicted": predicted,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "status": status,
    }


def metrics_frame(pred: pl.DataFrame, pairs: list[str], model: str, variant: str):
    """Per class and macro (mean over classes with test sentences; precision of a class never
    predicted counts as 0, as scikit-learn's zero_division=0)."""
    frames = []
    for level in LEVELS:
        names = classes(pairs, level)
        m = class_metrics(confusion(pred, pairs, level))
        present = m["support"] > 0
        macro = {
            key: float(np.mean(m[key][present])) if present.any() else np.nan
            for key in ("precision", "recall", "f1")
        }
        frames.append(
            pl.DataFrame(
                {
                    "model": model,
                    "variant": variant,
                    "level": level,
                    "class": [*names, "macro"],
                    "support": [*m["support"].tolist(), int(m["support"].sum())],
                    "predicted": [*m["predicted"].tolist(), int(m["predicted"].sum())],
                    "precision": [*m["precision"].tolist(), macro["precision"]],
                    "recall": [*m["recall"].tolist(), macro["recall"]],
                    "f1": [*m["f1"].tolist(), macro["f1"]],
                    "status": [*m["status"].tolist(), "ok" if present.any() else "no test"],
                },
                schema=METRICS_SCHEMA,
            )
        )
    return pl.concat(frames)


def accuracy_frame(pred: pl.DataFrame, model: str, variant: str) -> pl.DataFrame:
    """Top-k accuracy: the truth among the k best pairs (for subject/attribute: among their
    subjects/attributes)."""
    n = pred.height
    tops = [pred[c].to_list() for c in ("pred_pair", "pred_pair_2", "pred_pair_3")]
    rows = []
    for level in LEVELS:
        truth = pred[level].to_list()
        for k in range(1, TOP_K + 1):
            hits = 0
            for i in range(n):
                cands = [tops[j][i] for j in range(k) if tops[j][i] is not None]
                if level != "pair":
                    idx = 0 if level == "subject" else 1
                    cands = [split_pair(c)[idx] for c in cands]
                hits += truth[i] in cands
            rows.append((model, variant, level, k, hits / n if n else np.nan, n))
    return pl.DataFrame(rows, schema=ACCURACY_SCHEMA, orient="row")


def sinks_frame(
    pred: pl.DataFrame, pairs: list[str], model: str, variant: str, factor: float
) -> pl.DataFrame:
    """Pairs predicted more than `factor` x the expected count (test sentences / pairs)."""
    n = pred.height
    expected = n / len(pairs)
    predicted = dict(pred.group_by("pred_pair").len().iter_rows())
    support = dict(pred.group_by("pair").len().iter_rows())
    got = np.array([predicted.get(p, 0) for p in pairs], dtype=np.int64)
    return pl.DataFrame(
        {
            "model": model,
            "variant": variant,
            "pair": pairs,
            "predicted": got,
            "support": [support.get(p, 0) for p in pairs],
            "expected": expected,
            "ratio": got / expected,
            "sink": got > factor * expected,
        },
        schema=SINKS_SCHEMA,
    ).sort("predicted", descending=True)


def weighted_class_f1(
    truth: np.ndarray, pred: np.ndarray, n_classes: int, weights: np.ndarray
) -> np.ndarray:
    """[B, C] F1 per class of sentences weighted by each row of `weights` ([B, n]; a bootstrap
    resample's counts, or ones for the plain F1 of class_metrics). truth and pred are class
    indices [n]. NaN where a class has no weighted support."""
    true_1h = np.eye(n_classes)[truth]
    pred_1h = np.eye(n_classes)[pred]
    support = weights @ true_1h
    predicted = weights @ pred_1h
    tp = weights @ (true_1h * (truth == pred)[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 2 * tp / (support + predicted), np.nan)


def weighted_macro_f1(
    truth: np.ndarray, pred: np.ndarray, n_classes: int, weights: np.ndarray
) -> np.ndarray:
    """[B] macro F1 (mean over classes with support, as metrics_frame) per row of `weights`."""
    f1 = weighted_class_f1(truth, pred, n_classes, weights)
    present = np.isfinite(f1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, f1, 0.0).sum(axis=1) / present.sum(axis=1)
