"""Screening records against the index with the batch engine's own parts: the same normalisation
(normalize_table, prepared_arrow, derived_sql), the blocking rules' key SQL and filters (keys
looked up in the index instead of joined), the same comparisons (compare), the same model sums,
ranks and one-person probability (score's functions), and the same flags and explanation
(outputs.matches_sql). A record of a person already in the register joins that person's other
stored records, so its candidates are what the nightly batch would give after adding it; each
candidate competes with its wanted record's other current candidates, as in the batch.

Each input record is screened on its own ("a probe"): in the per-call DuckDB tables the probe's
number stands for the person (person_idx and uid), so several records of one person in a request
do not merge."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.block import _rule_pairs_sql, rule_keys_sql
from linkage.calibrate import calibrated
from linkage.compare import Gammas, _apply_fuzzy, _merge_records, pair_query
from linkage.ingest.contract import COLUMNS
from linkage.model import match_weights, prior_weight, run_prior
from linkage.normalize.distinct import ValueMemo
from linkage.outputs import matches_sql
from linkage.prepare import REGISTER_UID, derived_sql, prepared_arrow
from linkage.score import _rows, one_person_probability, scored_table, weight_sums
from linkage.screen.config import ScreenConfig
from linkage.screen.index import ScreenIndex, key_hash
from linkage.screen.records import Record
from linkage.settings import Settings
from linkage.workspace.nightly import _place_text

_local = threading.local()
_PARSED_MAX = 64  # statements kept parsed per connection (the per-call SQL texts are a handful)


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB connection per thread (temp tables and views are the connection's)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET threads = 1")
        con.execute("SET enable_progress_bar = false")
        _local.con = con
        _local.parsed = {}
    return con


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    """Execute `sql` on the thread's connection, parsed once: a call's statements are the same
    few long texts (the comparisons' levels, the flags and explanation), and their parsing is a
    fixed cost per call. `con.execute`, not `con.sql(...)`: DuckDB 2's relation API binds a
    statement once for its schema and again to run it (profiled: the first bind is a third of a
    one-record call's query time)."""
    parsed: dict[str, Any] = _local.parsed
    stmt = parsed.get(sql)
    if stmt is None:
        if len(parsed) >= _PARSED_MAX:
            parsed.clear()
        stmt = parsed[sql] = con.extract_statements(sql)[0]
    return con.execute(stmt)


def _rows_of(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """A (small) query's rows as dicts."""
    cur = _run(con, sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


@dataclass
class Screener:
    """What a screening needs besides the index: rules, settings and the desk's config."""

    settings: Settings
    config: ScreenConfig
    rules: Path | None = None

    def __post_init__(self) -> None:
        self.place_text = _place_text(self.settings)
        self._key_sql: str | None = None
        self._matches_sql = f"SELECT * EXCLUDE (run_id) FROM ({matches_sql(self.settings, '')})"
        self._pair_sql, self._compiled, self._fcols = pair_query(self.settings, "pairs")
        self._memo = ValueMemo(self.rules)  # each field value normalised once, kept across calls

    # -- records -> the engine's register vocabulary ------------------------------------------

    def _prepared(self, con: duckdb.DuckDBPyConnection, records: list[Record], index: ScreenIndex) -> np.ndarray:
        """Temp table `reg`: each probe's record plus its person's other stored records, with
        person_idx = probe number and uid = probe number (as text); temp table `old_reg`: the
        stored records of the probes' persons. Returns each probe's person_idx (-1: new person)."""
        parts = []
        for source in ("residents", "id_cards"):
            probes = [i for i, r in enumerate(records) if r.source == source]
            if not probes:
                continue
            frame = pd.DataFrame({c: pd.Series([records[i].values[c] for i in probes], dtype=object)
                                  for c in COLUMNS[source]})
            table = prepared_arrow(self._memo.normalize(frame, source), REGISTER_UID[source], source)
            con.register(f"_prep_{source}", table.append_column("_probe", pa.array(probes, pa.int64())))
            parts.append(source)
        names = [c for c in index.reg.schema.names if c not in ("r_idx", "person_idx")]
        known = np.array([-1 if (k := index.person_idx(r.person_id)) is None else k for r in records], np.int64)
        probes = np.flatnonzero(known >= 0)
        lo = np.searchsorted(index.reg_person, known[probes], "left")
        n = np.searchsorted(index.reg_person, known[probes], "right") - lo
        # slices, not take(): a take on the memory-mapped, many-chunked register would copy it whole
        old = pa.concat_tables([index.reg.slice(int(a), int(b)).select(names) for a, b in zip(lo, n)]
                               or [index.reg.schema.empty_table().select(names)])
        # `old_reg`: the stored records of known persons (the TF counts they held), registered as
        # they are (a copy into a table of 70 columns cost more than the query that reads it)
        con.register("old_reg", old.append_column("person_idx", pa.array(np.repeat(probes, n), pa.int64())))
        con.register("_src", pa.table({"_probe": np.arange(len(records)), "_src": [r.source for r in records]}))
        # then the records screened (the prepare stage's derived SQL inlined: one statement, not
        # one per source and a copy) and the other stored records of their persons
        derived = derived_sql(self.place_text)
        sql = [f"SELECT {', '.join(names)}, _probe FROM ({derived.replace('{source}', '_prep_' + source)})"
               for source in parts]
        sql.append(f"SELECT {', '.join('o.' + c for c in names)}, o.person_idx AS _probe FROM old_reg o "
                   "JOIN _src s ON s._probe = o.person_idx WHERE o.src <> s._src")
        _run(con, f"""CREATE OR REPLACE TEMP TABLE reg AS
                        SELECT * EXCLUDE (uid, _probe), _probe AS person_idx, CAST(_probe AS VARCHAR) AS uid,
                               row_number() OVER (ORDER BY _probe, src DESC) - 1 AS r_idx
                        FROM ({' UNION ALL BY NAME '.join(sql)})""")
        for name in [f"_prep_{source}" for source in parts] + ["_src"]:
            con.unregister(name)
        return known

    # -- blocking: the rules' keys looked up in the index, then the rules' filters ---------------

    def _keys(self, con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
        if self._key_sql is None:
            self._key_sql = " UNION ALL ".join(
                f"SELECT {bit} AS bit, r_idx, CAST(k AS VARCHAR) AS k FROM ({rule_keys_sql(con, rule, 'r', 'reg')})"
                for bit, rule in enumerate(self.settings.blocking))
        return _run(con, self._key_sql).fetchnumpy()

    def _block(self, con: duckdb.DuckDBPyConnection, index: ScreenIndex) -> np.ndarray:
        """Temp table `pairs(pair_idx, w_idx, person_idx, rules)`; returns the w_idx touched."""
        got = self._keys(con)
        bits = np.asarray(got["bit"], dtype=np.int64)
        r_idx = np.asarray(got["r_idx"], dtype=np.int64)
        hashes = key_hash(np.asarray(got["k"], dtype=object))
        hit_bit, hit_w, hit_r = [], [], []
        for bit, keys in enumerate(index.keys):
            sel = np.flatnonzero(bits == bit)
            if not len(sel) or not len(keys.hashes):
                continue
            lo = np.searchsorted(keys.hashes, hashes[sel], "left")
            hi = np.searchsorted(keys.hashes, hashes[sel], "right")
            n = hi - lo
            if not n.sum():
                continue
            starts = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n)
            hit_w.append(keys.w_idx[starts + np.arange(n.sum())])
            hit_r.append(np.repeat(r_idx[sel], n))
            hit_bit.append(np.full(int(n.sum()), bit, dtype=np.int64))
        w_touched = np.unique(np.concatenate(hit_w)) if hit_w else np.zeros(0, np.int64)
        con.register("w", index.w.take(pa.array(index.w_row[w_touched])))
        if not hit_w:
            _run(con, "CREATE OR REPLACE TEMP TABLE pairs (pair_idx BIGINT, w_idx BIGINT, person_idx BIGINT, rules BIGINT)")
            return w_touched
        con.register("_hits", pa.table({"bit": np.concatenate(hit_bit), "w_idx": np.concatenate(hit_w),
                                        "r_idx": np.concatenate(hit_r)}))
        found = " UNION ALL ".join(
            f"SELECT w_idx, person_idx, {bit} AS bit FROM "
            f"({_rule_pairs_sql(rule, f'SELECT DISTINCT w_idx, r_idx FROM _hits WHERE bit = {bit}')})"
            for bit, rule in enumerate(self.settings.blocking) if bit in set(np.unique(np.concatenate(hit_bit)).tolist()))
        _run(con, f"""CREATE OR REPLACE TEMP TABLE pairs AS
                        SELECT row_number() OVER (ORDER BY w_idx, person_idx) - 1 AS pair_idx, * FROM (
                            SELECT w_idx, person_idx, bit_or(1::BIGINT << bit) AS rules FROM ({found})
                            GROUP BY w_idx, person_idx)""")
        return w_touched

    # -- scoring: each probe pair among its wanted record's current candidates ----------------------

    def _score(self, con: duckdb.DuckDBPyConnection, records: list[Record], index: ScreenIndex, gammas,
               known: np.ndarray, threshold: float) -> int:
        """Registered table `scored` (as score() writes it) with the probes' kept candidates at or
        above `threshold`: a row of the matches query depends on its own pair and person only, and
        planning that query (flags, explanation) is the largest cost of a call, so a call whose
        kept candidates all fall below the threshold (most records at a desk) skips it.

        Each probe pair competes with its wanted record's other current candidates. Their match
        weights depend on the probe only through the prior (a new person adds one to the register)
        and the TF frequencies of the wanted record's values (the probe's person's values counted
        in): when neither moves (a known person whose screened record changes no TF count, the usual
        case at a desk) they are the index's stored weights, else they are recomputed here."""
        s, model = self.settings, index.model
        meta = _run(con, "SELECT w_idx, person_idx, rules FROM pairs ORDER BY pair_idx").fetchnumpy()
        pw = np.asarray(meta["w_idx"], dtype=np.int64)[gammas.pair_idx]
        pp = np.asarray(meta["person_idx"], dtype=np.int64)[gammas.pair_idx]
        prules = np.asarray(meta["rules"], dtype=np.int64)[gammas.pair_idx]
        n_pairs = len(pw)
        places = np.array([index.person_place(r.person_id) for r in records], dtype=np.float64)
        tf = self._tf(con, index, pw, pp)
        priors = np.array([prior_weight(run_prior(model, index.n_persons + extra)) for extra in (0, 1)])
        prior = priors[(known[pp] < 0).astype(np.int64)]
        base = known[pp] >= 0  # the pair's competitors weigh what the index holds
        w_rows = index.w_row[pw]
        for name, per in tf.items():
            for k, v in per.items():
                b = index.base_tf[name][k][w_rows]
                base &= (v == b) | (np.isnan(v) & np.isnan(b))
        # the competitors: the wanted record's other current candidates
        lo = index.cand_start[pw]
        n = index.cand_start[pw + 1] - lo
        rows = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(n.sum())
        owner = np.repeat(np.arange(n_pairs), n)
        other = index.cand_person[rows] != known[pp[owner]]
        rows, owner = rows[other], owner[other]
        fresh = ~base[owner]
        rows_f, owner_f = rows[fresh], owner[fresh]
        total_p = prior + weight_sums(gammas.levels, model, tf, 1)
        total_f = prior[owner_f] + weight_sums(index.cand_levels[rows_f], model, _rows(tf, owner_f), 1)
        g = np.r_[np.arange(n_pairs), owner[~fresh], owner_f]
        total = np.r_[total_p, index.cand_total[rows[~fresh]], total_f]
        order_c = index.place[index.cand_person[np.r_[rows[~fresh], rows_f]]].astype(np.float64)
        # a probe's rank (score._ranks' order: weight descending, then person_id): 1 + the
        # candidates at or above the floor weight ranked before it
        gc, tc = g[n_pairs:], total[n_pairs:]
        tp, op = total_p, places[pp]
        before = (tc >= s.floor_weight) & ((tc > tp[gc]) | ((tc == tp[gc]) & (order_c < op[gc])))
        rank = (1 + np.bincount(gc[before], minlength=n_pairs)).astype(np.int32)
        match_p = calibrated(one_person_probability(g, total), model)[:n_pairs]
        keep = (rank <= s.top_k) & (total_p >= s.floor_weight) & (match_p >= s.floor_probability)
        mw = match_weights(gammas.levels[keep], model, _rows(tf, keep))
        table = scored_table(pw, pp, prules, rank, total_p, match_p, gammas, keep, mw)
        table = table.filter(pc.greater_equal(table.column("match_probability"), threshold))
        if table.num_rows:  # registered, not copied into a table: the matches query reads it once
            con.register("scored", table)
        return table.num_rows

    def _tf(self, con: duckdb.DuckDBPyConnection, index: ScreenIndex, pw: np.ndarray,
            pp: np.ndarray) -> dict[str, dict[int, np.ndarray]]:
        """Per pair, each TF level's frequency of the wanted record's value among register persons
        once the probe's person is counted with its screened values instead of its stored ones
        (the nightly's counts adjusted for that one person; NaN: nobody holds the value). One
        query for every TF level."""
        items = [(c.name, c.level_ids().index(level_id), col) for c in self.settings.comparisons
                 for level_id, col in c.tf.items()]
        out: dict[str, dict[int, np.ndarray]] = {}
        if not items:
            return out
        rows = index.w_row[pw]
        cols = sorted({col for _, _, col in items})
        con.register("_wv", pa.table({
            "col": pa.array(np.repeat(cols, len(pp)).tolist(), pa.string()),
            "i": np.tile(np.arange(len(pp)), len(cols)), "p": np.tile(pp, len(cols)),
            "v": pa.concat_arrays([index.w.column(c).take(pa.array(rows, pa.int64())).combine_chunks().cast(pa.string())
                                   for c in cols]) if len(pp) else pa.array([], pa.string()),
            "n": np.concatenate([index.w_tf_n[c][rows] for c in cols])}))
        values = " UNION ALL ".join(
            f"SELECT '{c}' AS col, person_idx AS p, CAST({c} AS VARCHAR) AS v, {sign} AS d FROM {t} WHERE {c} IS NOT NULL"
            for c in cols for t, sign in (("reg", 1), ("old_reg", -1)))
        got = _run(con, f"""
            WITH held AS (SELECT DISTINCT col, p, v, d FROM ({values})),
                 dv AS (SELECT col, p, v, sum(d) AS d FROM held GROUP BY col, p, v),
                 dt AS (SELECT col, p, sum(d) AS dt FROM held GROUP BY col, p)
            SELECT x.col, x.i, x.v IS NOT NULL AS has, x.n + coalesce(dv.d, 0) AS n, coalesce(dt.dt, 0) AS dt
            FROM _wv x LEFT JOIN dv ON dv.col = x.col AND dv.p = x.p AND dv.v = x.v
                       LEFT JOIN dt ON dt.col = x.col AND dt.p = x.p
            ORDER BY x.col, x.i""").fetchnumpy()
        con.unregister("_wv")
        n = np.asarray(got["n"], dtype=np.float64).reshape(len(cols), len(pp))
        dt = np.asarray(got["dt"], dtype=np.float64).reshape(len(cols), len(pp))
        has = np.asarray(got["has"], bool).reshape(len(cols), len(pp))
        for name, level, col in items:
            j = cols.index(col)
            total = float(index.tf_totals.get(col, 0)) + dt[j]
            ok = has[j] & (n[j] > 0)
            tf = np.full(len(pp), np.nan)
            tf[ok] = n[j][ok] / total[ok]
            out.setdefault(name, {})[level] = tf
        return out

    # -- comparisons: compare()'s steps over the query compiled once ----------------------------------

    def _compare(self, con: duckdb.DuckDBPyConnection) -> Gammas:
        """compare(con, settings, "pairs") for a desk's few pairs: the same pair query (compiled
        from the rules once per screener, not per call), SQL levels, rapidfuzz bands and merge
        over a person's records, run through `_run` (parsed once, bound once)."""
        with warnings.catch_warnings():  # "an extra copy of the rows": a few hundred rows here
            warnings.simplefilter("ignore", UserWarning)
            batch = _run(con, self._pair_sql).to_arrow_table().combine_chunks()
        names = tuple(c.name for c in self._compiled)
        if batch.num_rows == 0:
            return Gammas(np.zeros(0, np.int64), np.zeros((0, len(self._compiled)), np.int8), names)
        batch = batch.to_batches()[0]
        levels = np.column_stack([batch.column(f"g{i}").to_numpy(zero_copy_only=False)
                                  for i in range(len(self._compiled))]).astype(np.int8)
        _apply_fuzzy(batch, levels, self._compiled, self._fcols)
        pair_idx, merged = _merge_records(batch.column("pair_idx").to_numpy(zero_copy_only=False), levels)
        return Gammas(pair_idx, merged, names)

    # -- the whole call ------------------------------------------------------------------------------

    def screen(self, index: ScreenIndex, records: list[Record], threshold: float | None = None) -> list[dict[str, Any]]:
        """One result per record, in order: its person_id, source, whether the person is in the
        register, and its candidates at or above the threshold (best first)."""
        if not records:
            return []
        threshold = self.config.threshold if threshold is None else float(threshold)
        con = _connection()
        # one transaction per call, rolled back at the end: the call's temp tables vanish with it
        # (no DROP statements, no commit per statement)
        con.begin()
        try:
            return self._screen(con, index, records, threshold)
        finally:
            for name in ("scored", "w", "_hits", "old_reg"):
                try:
                    con.unregister(name)
                except Exception:  # not registered by this call (no pairs, nothing kept)
                    pass
            con.rollback()

    def _screen(self, con: duckdb.DuckDBPyConnection, index: ScreenIndex, records: list[Record],
                threshold: float) -> list[dict[str, Any]]:
        known = self._prepared(con, records, index)
        self._block(con, index)
        gammas = self._compare(con)
        kept = self._score(con, records, index, gammas, known, threshold) if len(gammas.pair_idx) else 0
        results = [{"person_id": r.person_id, "source": r.source,
                    "in_register": index.person_idx(r.person_id) is not None, "candidates": [], "alert": False}
                   for r in records]
        if kept:
            rows = _rows_of(con, self._matches_sql)
            for row in rows:
                if row["match_probability"] < threshold:
                    continue
                p = int(row.pop("person_id"))
                results[p]["candidates"].append(_plain(row))
        self._mark(index, results, threshold)
        for res in results:
            res["candidates"].sort(key=lambda c: (-c["match_probability"], c["wanted_id"]))
        return results

    def _mark(self, index: ScreenIndex, results: list[dict[str, Any]], threshold: float) -> None:
        """Each candidate's danger level; alert = at or above the threshold on a wanted person of
        an alert danger level (rules/screen.yaml)."""
        levels = set(self.config.alert_danger_levels)
        by_id = getattr(index, "_danger_by_id", None)
        if by_id is None:
            by_id = dict(zip(index.wanted_id.tolist(), index.danger_level.tolist()))
            index._danger_by_id = by_id  # type: ignore[attr-defined]
        for res in results:
            for c in res["candidates"]:
                level = by_id.get(c["wanted_id"])
                c["danger_level"] = level
                c["alert"] = bool(level in levels and c["match_probability"] >= threshold)
                res["alert"] = res["alert"] or c["alert"]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A candidate as JSON-ready values: dates (the current record's date) as ISO text, so the
    command line and the API answer alike."""
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in row.items()}
