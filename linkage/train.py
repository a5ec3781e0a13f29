"""Training: u from random pairs, m by expectation-maximisation with u fixed, prior from the data.

As in Splink, EM runs once per training blocking rule (a "session") on the pairs that rule
found, and does not estimate the comparisons the rule's keys use (they agree by construction
there). Each m is the mean of the sessions that estimated it; a level the data cannot support
falls back to the rules' default, and the model file says so.
"""

from __future__ import annotations

import math
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from linkage.compare import Gammas, compare
from linkage.model import ComparisonParams, Model, default_model
from linkage.settings import Settings

Log = Callable[[str], None]


def _level_shares(levels: np.ndarray, n_levels: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Share of each level among non-null observations (optionally weighted)."""
    has = levels >= 0
    w = np.ones(levels.shape[0]) if weights is None else weights
    counts = np.bincount(levels[has].astype(np.int64), weights=w[has], minlength=n_levels)[:n_levels]
    total = counts.sum()
    return (counts / total if total > 0 else counts), float(total)


def sample_u_pairs(con: duckdb.DuckDBPyConnection, n_pairs: int, seed: int) -> int:
    """Random (wanted, person) pairs into table `upairs`; almost all are non-matches."""
    n_w = con.execute("SELECT count(*) FROM w").fetchall()[0][0]
    n_p = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    n = int(min(n_pairs, n_w * n_p))
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "pair_idx": np.arange(n, dtype=np.int64),
            "w_idx": rng.integers(0, n_w, n, dtype=np.int64),
            "person_idx": rng.integers(0, n_p, n, dtype=np.int64),
        }
    )
    con.register("_upairs", table)
    con.execute("CREATE OR REPLACE TABLE upairs AS SELECT * FROM _upairs")
    con.unregister("_upairs")
    return n


def estimate_u(model: Model, gammas: Gammas) -> None:
    """u = level shares among random pairs; an unseen level gets one pseudo-observation."""
    for j, c in enumerate(model.comparisons):
        n_levels = len(c.levels)
        has = gammas.levels[:, j] >= 0
        counts = np.bincount(gammas.levels[has, j].astype(np.int64), minlength=n_levels)[:n_levels]
        total = counts.sum()
        if total == 0:
            model.warnings.append(f"{c.name}: no random pair had both values; u from the rules' defaults")
            continue
        for k, lv in enumerate(c.levels):
            if counts[k] == 0:
                lv.u = 1.0 / (total + 1)
                lv.u_source = f"random pairs: none of {total:,} observed, set to 1/(n+1)"
            else:
                lv.u = counts[k] / total
                lv.u_source = f"random pairs ({counts[k]:,} of {total:,})"


def _log_tables(model: Model, which: str) -> list[np.ndarray]:
    return [np.log(np.maximum([getattr(lv, which) for lv in c.levels], 1e-12)) for c in model.comparisons]


def _log_likelihood(levels: np.ndarray, logs: list[np.ndarray], only: list[int] | None = None) -> np.ndarray:
    total = np.zeros(levels.shape[0])
    for j, table in enumerate(logs):
        if only is not None and j not in only:
            continue
        lv = levels[:, j]
        has = lv >= 0
        total[has] += table[lv[has]]
    return total


def posterior(levels: np.ndarray, model: Model, prior: float, only: list[int] | None = None) -> np.ndarray:
    """P(match | levels) with the model's m and u (no term-frequency adjustment), over all
    comparisons or `only` the listed ones."""
    logit = (
        math.log(prior / (1 - prior))
        + _log_likelihood(levels, _log_tables(model, "m"), only)
        - _log_likelihood(levels, _log_tables(model, "u"), only)
    )
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))


def em_session(
    levels: np.ndarray, model: Model, estimate: list[int], max_iter: int, tol: float
) -> tuple[dict[int, np.ndarray], float, int]:
    """EM with u fixed: returns m per estimated comparison, the session's match share, iterations."""
    work = Model(wanted_match_share=model.wanted_match_share, comparisons=[
        ComparisonParams(c.name, c.tf, [type(lv)(lv.id, lv.m, lv.u) for lv in c.levels]) for c in model.comparisons
    ], rules_hash=model.rules_hash)
    lam = 0.5
    it = 0
    for it in range(1, max_iter + 1):
        # Only the estimated comparisons speak: the session's blocking rule makes the others agree
        # by construction, so counting them (at their default m) would call every pair a match.
        p = posterior(levels, work, lam, only=estimate)
        new_lam = float(np.clip(p.mean(), 1e-9, 1 - 1e-9))
        delta = abs(new_lam - lam)
        for j in estimate:
            c = work.comparisons[j]
            shares, total = _level_shares(levels[:, j], len(c.levels), p)
            if total <= 0:
                continue
            for k, lv in enumerate(c.levels):
                new_m = max(float(shares[k]), 1e-6)
                delta = max(delta, abs(new_m - lv.m))
                lv.m = new_m
        lam = new_lam
        if delta < tol:
            break
    ms = {j: np.array([lv.m for lv in work.comparisons[j].levels]) for j in estimate}
    return ms, lam, it


def _guard(model: Model, defaults: Model, observed: dict[int, np.ndarray], m_minimum: float) -> None:
    """Fall back to the rules' default m where EM is degenerate, and record why; no level's m goes
    below a floor, so one disagreement (a data-entry slip) cannot veto every other agreement."""
    for j, c in enumerate(model.comparisons):
        dflt = defaults.comparisons[j]
        for k, lv in enumerate(c.levels):
            seen = observed.get(j)
            if seen is not None and seen[k] == 0 and lv.m_source.startswith("EM"):
                model.warnings.append(f"{c.name}.{lv.id}: no training pair at this level; m from the rules' default")
                lv.m, lv.m_source = dflt.levels[k].m, "default (no observations)"
            elif lv.id != "else" and dflt.levels[k].m > dflt.levels[k].u and lv.m < lv.u:
                model.warnings.append(
                    f"{c.name}.{lv.id}: EM gave m={lv.m:.3g} below u={lv.u:.3g} on an agreeing level; "
                    "m from the rules' default"
                )
                lv.m, lv.m_source = dflt.levels[k].m, "default (EM gave m < u)"
        floor = float(m_minimum)
        for lv in c.levels:
            if lv.m < floor:
                lv.m = floor
                lv.m_source += f"; raised to the floor {floor:g}"
        total = sum(lv.m for lv in c.levels)
        for lv in c.levels:
            lv.m = lv.m / total


def train(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    gammas: Gammas,
    rules_hash: str,
    log: Log | None = None,
) -> Model:
    """Fit a model on the candidate pairs in `pairs` (with their levels in `gammas`)."""
    say = log or (lambda _m: None)
    cfg = settings.model
    model = default_model(settings, rules_hash)
    defaults = default_model(settings, rules_hash)
    n_u = sample_u_pairs(con, int(cfg.get("u_sample_pairs", 2_000_000)), int(cfg.get("seed", 42)))
    say(f"u: comparing {n_u:,} random pairs")
    estimate_u(model, compare(con, settings, source="upairs"))
    con.execute("DROP TABLE IF EXISTS upairs")

    rules_of_pair = con.execute("SELECT rules FROM pairs ORDER BY pair_idx").fetchnumpy()["rules"]
    rule_names = [r.name for r in settings.blocking]
    names = [c.name for c in model.comparisons]
    estimates: dict[int, list[np.ndarray]] = {}
    sessions = []
    for s in settings.sessions:
        bit = 1 << rule_names.index(s.rule)
        mask = (rules_of_pair[gammas.pair_idx] & bit) != 0
        estimate = [j for j, n in enumerate(names) if n not in s.fixed]
        if mask.sum() < 50:
            model.warnings.append(f"EM session '{s.rule}': only {int(mask.sum())} pairs; skipped")
            continue
        ms, lam, it = em_session(
            gammas.levels[mask], model, estimate, int(cfg.get("em_max_iterations", 25)), float(cfg.get("em_tolerance", 1e-4))
        )
        for j, m in ms.items():
            estimates.setdefault(j, []).append(m)
        sessions.append({"rule": s.rule, "pairs": int(mask.sum()), "match_share": round(lam, 6), "iterations": it})
        say(f"EM session {s.rule}: {int(mask.sum()):,} pairs, match share {lam:.3f}, {it} iterations")
    observed = {}
    for j, c in enumerate(model.comparisons):
        observed[j] = np.bincount(
            gammas.levels[gammas.levels[:, j] >= 0, j].astype(np.int64), minlength=len(c.levels)
        )[: len(c.levels)]
        if j in estimates:
            m = np.mean(estimates[j], axis=0)
            for k, lv in enumerate(c.levels):
                lv.m, lv.m_source = float(m[k]), f"EM ({len(estimates[j])} session(s))"
        else:
            model.warnings.append(f"{c.name}: no EM session estimated m; m from the rules' defaults")
    _guard(model, defaults, observed, float(cfg.get("m_minimum", 0.001)))

    # Prior: a wanted record has at most one true person, so the expected number of matches is the
    # sum over wanted records of their best candidate's posterior (namesakes do not add up).
    n_w = con.execute("SELECT count(*) FROM w").fetchall()[0][0]
    n_p = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    w_of_pair = con.execute("SELECT w_idx FROM pairs ORDER BY pair_idx").fetchnumpy()["w_idx"][gammas.pair_idx]
    expected = 0.0
    share = model.wanted_match_share
    for _ in range(50):
        prior = min(max(share / max(n_p, 1), 1e-15), 0.5)
        p = posterior(gammas.levels, model, prior)
        best = np.zeros(n_w)
        np.maximum.at(best, w_of_pair, p)
        expected = float(best.sum())
        new = float(np.clip(expected / n_w, 1e-6, 1.0))
        if abs(new - share) < 1e-6:
            break
        share = new
    model.wanted_match_share = share
    model.training = {
        "u_random_pairs": n_u,
        "candidate_pairs": int(len(gammas.pair_idx)),
        "sessions": sessions,
        "expected_matches": round(expected, 2),
        "wanted": int(n_w),
        "persons": int(n_p),
    }
    say(f"prior: {expected:,.0f} wanted records expected to have their person in the register (share {share:.3f})")
    return model
