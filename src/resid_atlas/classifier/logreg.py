"""The reference the study lacked: plain multinomial logistic regression (scikit-learn, lbfgs) on
the same pooled vectors, standardised with the training mean and sd. Returns log-probabilities in
the classifier's pair order, so predictions and metrics go through the same code."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_score(
    x_train: np.ndarray, y_train: list[str], x_test: np.ndarray, pairs: list[str], settings: dict
) -> np.ndarray:
    clf = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=settings["C"], max_iter=settings["max_iter"], random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a budget, by design
        clf.fit(x_train, y_train)
    logp = clf.predict_log_proba(x_test)
    out = np.full((x_test.shape[0], len(pairs)), -np.inf)
    column = {c: i for i, c in enumerate(clf.classes_)}
    for j, pair in enumerate(pairs):
        if pair in column:
            out[:, j] = logp[:, column[pair]]
    # a pair absent from training can never win; keep scores finite for top_k's check
    return np.where(np.isfinite(out), out, np.finfo(np.float64).min)
