"""Post-hoc calibration of match_probability, fitted on reviewers' labels.

The model's one-person probability is only as honest as its m, u and independence assumptions.
Where reviewers have labelled enough candidates, a logistic (Platt) map of its log-odds,
p' = 1 / (1 + exp(-(a * logit(p) + b))), is fitted on them and stored in the model file
(`calibration`); scoring applies it. Why Platt and not isotonic: two numbers, monotone (ranks never
change), and stable with a few hundred labels. Why it is fair on a review queue: the queue selects
pairs by their score, and P(match | score) does not depend on how pairs were selected by score.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def logit(prob: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(prob, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def calibrated(prob: np.ndarray, model) -> np.ndarray:
    """The calibrated probability: the model's Platt map applied to `prob` (the one-person
    match_probability), or `prob` unchanged when the model has no calibration."""
    cal = getattr(model, "calibration", None) or {}
    if cal.get("method") != "platt":
        return np.asarray(prob, dtype=float)
    z = float(cal["a"]) * logit(prob) + float(cal["b"])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))


def fit_platt(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, iterations: int = 50,
              ridge: float = 1e-3) -> tuple[float, float]:
    """(a, b) of the logistic regression y ~ sigmoid(a * x + b), by Newton steps with a small
    ridge (so a perfectly separated set stays finite). x: log-odds, y: 1 / 0 labels."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    # Platt's targets: not exactly 0 and 1, so a separated set does not push a to infinity
    n_pos, n_neg = (w * y).sum(), (w * (1 - y)).sum()
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    X = np.column_stack([x, np.ones_like(x)])
    beta = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -700, 700)))
        grad = X.T @ (w * (p - t)) + ridge * (beta - np.array([1.0, 0.0]))
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta = beta - step
        if np.abs(step).max() < 1e-9:
            break
    return float(beta[0]), float(beta[1])
