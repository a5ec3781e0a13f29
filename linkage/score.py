"""Scoring and ranking: match weight and probability per pair, rank per wanted record, top k.

All in numpy over the level matrix; the kept candidates go back to DuckDB as table `scored` for
the explanation and the output file.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from linkage.calibrate import calibrated
from linkage.compare import Gammas
from linkage.model import Model, TfValues, match_weights, prior_weight, probability, run_prior
from linkage.settings import Settings
from linkage.slices import in_slices


def tf_values(con: duckdb.DuckDBPyConnection, settings: Settings, w_idx: np.ndarray) -> TfValues:
    """Per pair, the register frequency of the wanted record's value, for each TF level.
    w_idx need not be dense (a workspace keeps numbers of removed records unused)."""
    out: TfValues = {}
    size = int(max(w_idx.max() if len(w_idx) else -1, 0)) + 1
    for c in settings.comparisons:
        ids = c.level_ids()
        for level_id, col in c.tf.items():
            got = con.execute(
                f"""
                SELECT w.w_idx, coalesce(tf.tf, 'NaN'::DOUBLE) AS tf FROM w
                LEFT JOIN tf ON tf.col = '{col}' AND tf.value = w.{col}
                WHERE w.w_idx < {size}
                ORDER BY w.w_idx
                """
            ).fetchnumpy()
            per_w = np.full(size, np.nan)
            per_w[np.asarray(got["w_idx"], dtype=np.int64)] = np.asarray(got["tf"], dtype=np.float64)
            out.setdefault(c.name, {})[ids.index(level_id)] = per_w[w_idx]
    return out


def _rows(tf: TfValues, rows) -> TfValues:
    return {c: {k: v[rows] for k, v in per.items()} for c, per in tf.items()}


def weight_sums(levels: np.ndarray, model: Model, tf: TfValues, threads: int, rows: int = 262_144) -> np.ndarray:
    """Each pair's summed match weight, model.match_weights(...).sum(axis=1) row by row: slices
    of rows in threads (numpy releases the GIL in its loops; the same numbers in about half the
    time on two cores), and no n x comparisons array of weights held for every pair."""
    out = np.empty(len(levels), dtype=np.float64)

    def part(lo: int) -> None:
        sl = slice(lo, lo + rows)
        out[sl] = match_weights(levels[sl], model, _rows(tf, sl)).sum(axis=1)

    in_slices(len(levels), rows, threads, part)
    return out


def _ranks(w_idx: np.ndarray, person_idx: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """1 = best per wanted record; ties broken by person_id order, so ranks are reproducible."""
    order = np.lexsort((person_idx, -weight, w_idx))
    w_sorted = w_idx[order]
    starts = np.r_[0, np.flatnonzero(w_sorted[1:] != w_sorted[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order)) - group_start + 1
    return rank


def one_person_probability(w_idx: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """P(this candidate is the wanted person | all of that wanted record's candidates).

    A wanted record is at most one person, so its candidates compete: with odds o_k = 2^weight_k,
    P_k = o_k / (1 + sum of o over the record's candidates), the 1 standing for "none of them".
    A sibling who shares parents and address cannot also be likely when the person is there.
    """
    n = int(w_idx.max()) + 1 if len(w_idx) else 0
    top = np.zeros(n)
    np.maximum.at(top, w_idx, weight)  # at least 0: the "none of them" term
    scaled = np.exp2(weight - top[w_idx])
    total = np.exp2(-top)
    np.add.at(total, w_idx, scaled)
    return scaled / total[w_idx]


def score(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    model: Model,
    gammas: Gammas,
    person_order: np.ndarray | None = None,
    pairs: dict[str, np.ndarray] | None = None,
    n_persons: int | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, int]:
    """Create table `scored` with the top-k candidates per wanted record above the floor weight.

    Ties in rank are broken by `person_order` (per pair of `gammas`), by default person_idx,
    which a run numbers in person_id order; a workspace, whose numbers follow arrival, passes
    each person's place in person_id order so its ranks equal a run's. `pairs`: the pairs'
    w_idx, person_idx and rules in pair_idx order when the caller holds them (else read from
    table `pairs`). `n_persons`: the register's persons when the caller counted them (a count
    over every record, 0.1-0.2 s at 1M). `weights`: each pair's summed match weight under this
    model when training has just computed them (train.Trained), else computed here."""
    meta = pairs or con.execute("SELECT w_idx, person_idx, rules FROM pairs ORDER BY pair_idx").fetchnumpy()
    w_idx = np.asarray(meta["w_idx"])[gammas.pair_idx]
    person_idx = np.asarray(meta["person_idx"])[gammas.pair_idx]
    rules = np.asarray(meta["rules"])[gammas.pair_idx]
    if n_persons is None:
        n_persons = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    tf = tf_values(con, settings, w_idx)
    if weights is None:
        weights = weight_sums(gammas.levels, model, tf, int(settings.engine.get("threads", 2)))
    total = prior_weight(run_prior(model, n_persons)) + weights
    # Only pairs at or above the floor weight can be kept, and every pair ranked before one of them
    # weighs at least as much: ranking those alone gives their ranks (the rest are never kept).
    contender = np.flatnonzero(total >= settings.floor_weight)
    order = person_idx if person_order is None else person_order
    rank = np.full(len(total), np.iinfo(np.int32).max, dtype=np.int32)
    rank[contender] = _ranks(w_idx[contender], order[contender], total[contender])
    match_p = calibrated(one_person_probability(w_idx, total), model)  # the model's map from labels, if any
    keep = (rank <= settings.top_k) & (total >= settings.floor_weight) & (match_p >= settings.floor_probability)
    mw = match_weights(gammas.levels[keep], model, _rows(tf, keep))  # each comparison's weight, kept pairs only
    table = scored_table(w_idx, person_idx, rules, rank, total, match_p, gammas, keep, mw)
    con.register("_scored", table)
    con.execute("CREATE OR REPLACE TABLE scored AS SELECT * FROM _scored")
    con.unregister("_scored")
    return {"scored_pairs": int(len(total)), "kept": int(keep.sum())}


def scored_table(w_idx: np.ndarray, person_idx: np.ndarray, rules: np.ndarray, rank: np.ndarray, total: np.ndarray,
                 match_p: np.ndarray, gammas: Gammas, keep: np.ndarray, mw: np.ndarray) -> pa.Table:
    """The kept pairs as the `scored` table (matches_sql reads it): one definition, with one
    rounding, for the batch and the desk (linkage/screen), so both write the same numbers."""
    cols = {
        "w_idx": w_idx[keep],
        "person_idx": person_idx[keep],
        "rules": rules[keep],
        "rank": rank[keep],
        "match_weight": np.round(total[keep], 6),
        "match_probability": np.round(match_p[keep], 9),
        "pair_probability": np.round(probability(total[keep]), 9),
    }
    for j, name in enumerate(gammas.names):
        cols[f"g_{name}"] = gammas.levels[keep, j]
        cols[f"mw_{name}"] = np.round(mw[:, j], 6)
    return pa.table(cols)
