"""Post-hoc calibration of match_probability, fitted on reviewers' labels.

The model's one-person probability is only as honest as its m, u and independence assumptions.
Where reviewers have labelled enough candidates, a monotone map of its log-odds is fitted on them
and stored in the model file (`calibration`); scoring applies it. Two maps:

- `isotonic` (the default): pool-adjacent-violators on the labelled pairs sorted by log-odds, each
  block's share of matches shrunk towards the model's own mean probability in the block (two
  pseudo-labels), then linear interpolation between blocks. Why: the candidates' log-odds are
  bimodal (most at 0 or 1), so a two-parameter line fitted through them bends the confident
  matches it barely saw; a step map only changes the region the labels cover.
- `platt`: p' = 1 / (1 + exp(-(a * logit(p) + b))), with a ridge towards the identity.

Both are monotone, so ranks never change. Why fitting on a review queue is fair: the queue selects
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
    method = cal.get("method")
    if method == "isotonic":
        return _isotonic(np.asarray(prob, dtype=float), cal)
    if method != "platt":
        return np.asarray(prob, dtype=float)
    z = float(cal["a"]) * logit(prob) + float(cal["b"])
    return 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))


def _isotonic(prob: np.ndarray, cal: dict) -> np.ndarray:
    """Inside a labelled block: the block's value. Between blocks (no labels there): the model's
    own probability, kept between the neighbouring blocks' values, so the map stays monotone and
    changes nothing the labels did not see."""
    lo, hi, val = (np.asarray(cal[k], dtype=float) for k in ("lo", "hi", "p"))
    z = logit(prob)
    k = np.searchsorted(lo, z, side="right") - 1  # the last block starting at or below z
    inside = (k >= 0) & (z <= hi[np.maximum(k, 0)])
    below = np.where(k >= 0, val[np.maximum(k, 0)], 0.0)
    above = np.where(k + 1 < len(val), val[np.minimum(k + 1, len(val) - 1)], 1.0)
    own = np.clip(prob, below, above)
    return np.where(inside, val[np.maximum(k, 0)], own)


def fit_isotonic(x: np.ndarray, y: np.ndarray, prior: float = 2.0) -> dict[str, list[float]]:
    """Blocks (lo, hi log-odds, probability) of a monotone map: pool-adjacent-violators on y
    sorted by x, then each block's match share shrunk towards the model's own mean probability in
    it (`prior` pseudo-labels: a block of one label says little). x: log-odds; y: 1 / 0 labels."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    own = 1.0 / (1.0 + np.exp(-x))
    # blocks as [sum_y, sum_own, n, x_first, x_last]; merge while a block is not above its predecessor
    blocks: list[list[float]] = []
    for xi, yi, oi in zip(x, y, own):
        if blocks and blocks[-1][4] == xi:  # ties in x belong to one block
            b = blocks[-1]
            b[0] += yi; b[1] += oi; b[2] += 1  # noqa: E702
        else:
            blocks.append([yi, oi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][2] >= blocks[-1][0] / blocks[-1][2]:
            b = blocks.pop()
            a = blocks[-1]
            a[0] += b[0]; a[1] += b[1]; a[2] += b[2]; a[4] = b[4]  # noqa: E702
    values = np.maximum.accumulate([_value(b, prior) for b in blocks])  # shrinking may not break monotony
    return {"lo": [float(b[3]) for b in blocks], "hi": [float(b[4]) for b in blocks],
            "p": [float(v) for v in values]}


def _value(block: list[float], prior: float) -> float:
    sum_y, sum_own, n = block[0], block[1], block[2]
    return (sum_y + prior * sum_own / n) / (n + prior)


def _loss(beta: np.ndarray, X: np.ndarray, t: np.ndarray, w: np.ndarray, ridge: float, beta0: np.ndarray) -> float:
    z = X @ beta
    # -[t log p + (1 - t) log(1 - p)] with p = sigmoid(z), computed stably
    nll = np.logaddexp(0.0, z) - t * z
    return float((w * nll).sum() + 0.5 * ridge * ((beta - beta0) ** 2).sum())


def fit_platt(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, iterations: int = 100,
              ridge: float = 1.0, clip: float = 30.0) -> tuple[float, float]:
    """(a, b) of the logistic regression y ~ sigmoid(a * x + b): damped Newton steps on the
    log-loss plus a ridge pulling towards the identity map (a = 1, b = 0), so a small or perfectly
    separated labelled set moves the model's probabilities only as far as the labels justify.
    x: log-odds (clipped to +-clip: beyond, 1e-13 from certainty, the model's own figure is noise);
    y: 1 / 0 labels. Platt's targets (n+1)/(n+2) and 1/(n+2) instead of 1 and 0."""
    x = np.clip(np.asarray(x, dtype=float), -clip, clip)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    n_pos, n_neg = (w * y).sum(), (w * (1 - y)).sum()
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    X = np.column_stack([x, np.ones_like(x)])
    beta0 = np.array([1.0, 0.0])
    beta = beta0.copy()
    loss = _loss(beta, X, t, w, ridge, beta0)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -700, 700)))
        grad = X.T @ (w * (p - t)) + ridge * (beta - beta0)
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:  # backtrack until the loss goes down
            new = beta - scale * step
            new_loss = _loss(new, X, t, w, ridge, beta0)
            if new_loss <= loss:
                break
            scale /= 2
        else:
            break
        beta, converged = new, loss - new_loss < 1e-10
        loss = new_loss
        if converged:
            break
    return float(beta[0]), float(beta[1])
