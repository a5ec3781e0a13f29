"""Screening records against the index with the batch engine's own parts: the same normalisation
(normalize_table, prepared_arrow, the prepare stage's derived SQL), the blocking rules' keys and
filters (keys looked up in the index instead of joined), the same comparisons (compare's levels
and bands), the same model sums, ranks and one-person probability (score's functions), and the
same flags and explanation (outputs.matches_sql). A record of a person already in the register
joins that person's other stored records, so its candidates are what the nightly batch would give
after adding it; each candidate competes with its wanted record's other current candidates, as in
the batch.

The rules' SQL (derived columns, keys, filters, levels) is evaluated over the call's few Arrow rows
by linkage/backends/arrow_sql.py, not planned by DuckDB on every call; DuckDB runs only the
matches query, for a call with a lead. Each input record is screened on its own ("a probe"): the
probe's number stands for the person (person_idx and uid), so several records of one person in a
request do not merge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.backends.arrow_sql import (Unsupported, _bools, _flat, columns_read, duckdb_query, evaluate_many,
                                       expression, shared_codes, sides, table_query)
from linkage.block import year_suffix_sql
from linkage.calibrate import calibrated
from linkage.compare import Gammas, _apply_fuzzy, _merge_records, pair_query
from linkage.ingest.contract import COLUMNS
from linkage.model import match_weights, prior_weight, run_prior
from linkage.normalize.distinct import ValueMemo
from linkage.normalize.table import parts
from linkage.outputs import matches_sql
from linkage.prepare import REGISTER_UID, derived_sql
from linkage.score import _rows, one_person_probability, scored_table
from linkage.screen.config import ScreenConfig
from linkage.screen.index import ScreenIndex, key_hash
from linkage.screen.records import Record
from linkage.screen.rows import OutputRows, RecordLevels
from linkage.settings import Settings
from linkage.workspace.fingerprint import fingerprint
from linkage.workspace.nightly import _place_text
from linkage.workspace.stages import stage_hashes

@dataclass
class Screener:
    """What a screening needs besides the index: rules, settings and the desk's config."""

    settings: Settings
    config: ScreenConfig
    rules: Path | None = None

    def __post_init__(self) -> None:
        self.place_text = _place_text(self.settings)
        self._matches_sql = f"SELECT * EXCLUDE (run_id) FROM ({matches_sql(self.settings, '')})"
        # the rules' SQL, compiled once into Arrow closures (linkage/backends/arrow_sql.py): the
        # prepare stage's derived columns, each blocking rule's register keys and filter, and each
        # comparison's levels
        self._derived = table_query(derived_sql(self.place_text))
        self._key_exprs = [(expression(r.right),
                            None if r.year_window is None else expression(year_suffix_sql("r", r.year_window)))
                           for r in self.settings.blocking]
        self._filters = {bit: expression(r.filter) for bit, r in enumerate(self.settings.blocking) if r.filter}
        self._windows: dict[int, tuple[Any, list[int]]] = {}  # year window -> its suffixes, its rules' bits
        for bit, (rule, (_, window)) in enumerate(zip(self.settings.blocking, self._key_exprs)):
            if window is not None:
                self._windows.setdefault(rule.year_window, (window, []))[1].append(bit)
        _, self._compiled, self._fcols = pair_query(self.settings, "pairs")
        self._levels = [expression(c.sql_level) for c in self._compiled]
        try:  # the output rows too, unless the rules use SQL the evaluator lacks (DuckDB then)
            self._rows_out: OutputRows | None = OutputRows(self.settings)
        except Unsupported:
            self._rows_out = None
        self._tf_items: dict[str, list[tuple[str, int]]] = {}
        for c in self.settings.comparisons:
            for level_id, col in c.tf.items():
                self._tf_items.setdefault(col, []).append((c.name, c.level_ids().index(level_id)))
        # the columns each step reads, per side, taken together (arrow_sql.sides)
        keys = [r.right for r in self.settings.blocking] + [
            year_suffix_sql("r", r.year_window) for r in self.settings.blocking if r.year_window is not None]
        filters = [r.filter for r in self.settings.blocking if r.filter]
        levels = [c.sql_level for c in self._compiled]
        self._key_reads = {"r": _reads(keys, "r")}
        self._filter_reads = {side: _reads(filters, side) for side in ("l", "r")}
        self._level_reads = {"l": _reads(levels, "l") | {a for a, _ in self._fcols},
                             "r": _reads(levels, "r") | {b for _, b in self._fcols}}
        # the register columns blocking, comparing and the TF counts read: a record whose values of
        # these equal its stored record's has the night's candidates and levels
        self._pair_reads = sorted(self._key_reads["r"] | self._filter_reads["r"] | self._level_reads["r"]
                                  | set(self._tf_items))
        self._memo = ValueMemo(self.rules)  # each field value normalised once, kept across calls
        self._prepare_hash = stage_hashes(self.rules, self.settings, self.place_text)["prepare"]

    def warm(self, values: dict[str, pa.Array]) -> None:
        """Normalise a register's distinct values of some columns once (rules/screen.yaml
        prewarm_columns), each kind in one call, so records seen later find them in the memo."""
        kinds: dict[str, list[str]] = {}
        for source in ("residents", "id_cards"):
            for part in parts(source, list(values)):
                if part.column in values:
                    kinds.setdefault(part.kind, []).extend(values[part.column].to_pylist())
        for kind, got in kinds.items():
            self._memo.learn(kind, got)

    # -- records -> the engine's register vocabulary ------------------------------------------

    def _prepared(self, records: list[Record],
                  index: ScreenIndex) -> tuple[pa.Table, pa.Table, np.ndarray, np.ndarray]:
        """The call's register records (`reg`): each probe's record, derived as the prepare stage
        derives it, plus its person's other stored records, with person_idx = probe number and
        uid = probe number (as text), numbered (r_idx) by probe, then src descending; and `old`:
        the stored records of the probes' persons (the TF counts they held). Returns them, each
        probe's person_idx (-1: new person) and whether its pairs are its person's stored ones: a
        record that is its stored record (_as_stored), or one normalised here whose values that
        blocking, comparing and the TF counts read equal its stored record's (_reads_alike: a name
        retyped in capitals, any writing that normalises to the stored values)."""
        names, target, stored = index.reg_layout
        known = np.array([-1 if (k := index.person_idx(r.person_id)) is None else k for r in records], np.int64)
        probes = np.flatnonzero(known >= 0)
        lo = np.searchsorted(index.reg_person, known[probes], "left")
        n = np.searchsorted(index.reg_person, known[probes], "right") - lo
        # slices, not take(): a take on the memory-mapped, many-chunked register would copy it whole
        parts = [stored.slice(int(a), int(b)) for a, b in zip(lo, n)] or [stored.slice(0, 0)]
        old = (parts[0] if len(parts) == 1 else pa.concat_tables(parts)).combine_chunks()
        old_probe = np.repeat(probes, n)
        src = np.array([r.source for r in records], dtype=object)
        same = np.asarray(old.column("src").to_numpy(zero_copy_only=False), dtype=object) == src[old_probe]
        as_stored = self._as_stored(records, index, old, old_probe, same)
        old = old.select(names).append_column("person_idx", pa.array(old_probe, pa.int64()))
        single = np.bincount(old_probe[same], minlength=len(records)) == 1  # one stored record of the source
        alike = np.zeros(len(records), bool)
        pieces = []
        for source in ("residents", "id_cards"):
            todo = [i for i, r in enumerate(records) if r.source == source and not as_stored[i]]
            if not todo:
                continue
            values = {c: [records[i].values[c] for i in todo] for c in COLUMNS[source]}
            table = self._derived(self._memo.prepared(values, source, REGISTER_UID[source]))
            table = _cast(table.select(names), target)
            if self._may_reuse(index):
                alike[todo] = self._reads_alike(table, todo, old, old_probe, same & single[old_probe])
            pieces.append(table.append_column("_probe", pa.array(todo, pa.int64())))
        # the stored records of a probe's person from the other register join the screened one; a
        # record screened as stored is its stored row
        keep = ~same | as_stored[old_probe]
        pieces.append(_picked(old, np.flatnonzero(keep)).select(names).append_column(
            "_probe", pa.array(old_probe[keep], pa.int64())))
        reg = pa.concat_tables(pieces).combine_chunks()
        probe = np.asarray(reg.column("_probe").to_numpy(), np.int64)
        srcs = np.asarray(reg.column("src").to_numpy(zero_copy_only=False), dtype=object).astype(str)
        _, src_rank = np.unique(srcs, return_inverse=True)
        order = np.lexsort((-src_rank, probe))  # by probe, then src descending (stable: screened first)
        reg = _picked(reg, order)
        probe = probe[order]
        reg = reg.drop_columns(["_probe", "uid"]).append_column("person_idx", pa.array(probe, pa.int64()))
        reg = reg.append_column("uid", pa.array(probe.astype(str), pa.string()))
        reg = reg.append_column("r_idx", pa.array(np.arange(len(probe)), pa.int64()))
        return reg, old, known, as_stored | alike

    def _may_reuse(self, index: ScreenIndex) -> bool:
        """The night's rows, pairs and levels stand for a record's only under these rules."""
        return self.config.reuse_stored_rows and index.prepare_hash == self._prepare_hash

    def _reads_alike(self, table: pa.Table, todo: list[int], old: pa.Table, old_probe: np.ndarray,
                     eligible: np.ndarray) -> np.ndarray:
        """Per normalised record (`table`, rows of the records `todo`): whether its person's one
        stored record of its source (`eligible` rows of `old`) holds the same values in every column
        the pair stage reads. Its blocking keys, filters, levels and TF counts are then those of the
        stored record, which the night blocked and compared."""
        out = np.zeros(len(todo), bool)
        at = {int(old_probe[j]): int(j) for j in np.flatnonzero(eligible)}
        picked = [(k, at[i]) for k, i in enumerate(todo) if i in at]
        if not picked:
            return out
        new, stored = table.select(self._pair_reads), old.select(self._pair_reads)
        for k, j in picked:  # Arrow's equality: a NULL equals a NULL, a NaN is unlike anything
            out[k] = new.slice(k, 1).equals(stored.slice(j, 1))
        return out

    def _as_stored(self, records: list[Record], index: ScreenIndex, old: pa.Table, old_probe: np.ndarray,
                   same: np.ndarray) -> np.ndarray:
        """Per record: whether it is its known person's stored record of its source (`same`), field
        for field (the same source fingerprint), normalised by the night under these normalisation
        rules: its stored row is then the row normalising it would give, and normalising is most
        of the cost of a record seen for the first time."""
        if not self._may_reuse(index) or "fp" not in old.column_names or not same.any():
            return np.zeros(len(records), bool)
        stored = np.asarray(old.column("fp").to_numpy(zero_copy_only=False), dtype=object)
        probes = np.unique(old_probe[same])
        fp = np.full(len(records), None, dtype=object)
        fp[probes] = [fingerprint(records[i].values, records[i].source) for i in probes]
        hit = same & (stored == fp[old_probe])
        return (np.bincount(old_probe[hit], minlength=len(records)) == 1) & (
            np.bincount(old_probe[same], minlength=len(records)) == 1)

    # -- blocking: the rules' keys looked up in the index, then the rules' filters ---------------

    def _keys(self, reg: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each rule's keys of the call's register records, as block.rule_keys_sql gives them:
        (rule bit, r_idx, key text); list keys one per element; no NULL or empty key; a year
        window's suffixes appended (each window's computed once per call). All rules' keys are
        checked and suffixed together: a call's few rows make each kernel's fixed cost the cost."""
        n = reg.num_rows
        values = evaluate_many([e for e, _ in self._key_exprs],
                               sides(self._key_reads, r=(reg, pa.array(np.arange(n)))), n)
        bits, rows, keys = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [pa.array([], pa.string())]
        for bit, k in enumerate(values):
            at = np.arange(n)
            if pa.types.is_list(k.type):
                k, at = _flat(k)
            bits.append(np.full(len(at), bit, np.int64))
            rows.append(at)
            keys.append(k if k.type == pa.string() else k.cast(pa.string()))
        text, bit, at = pa.concat_arrays(keys), np.concatenate(bits), np.concatenate(rows)
        ok = _bools(pc.not_equal(text, ""), len(text))
        text, bit, at = text.filter(pa.array(ok)), bit[ok], at[ok]
        if not self._windows:
            return bit, at, np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        years = {"y": reg.column("birth_year").combine_chunks()}
        windowed = np.isin(bit, [b for _, rules in self._windows.values() for b in rules])
        texts, bits, rows = [text.filter(pa.array(~windowed))], [bit[~windowed]], [at[~windowed]]
        for window, rules in self._windows.values():
            sel = np.flatnonzero(np.isin(bit, rules))
            flat, parent = _flat(window(years, n))
            count = np.bincount(parent, minlength=n)
            start = np.r_[0, np.cumsum(count)[:-1]]
            rep = count[at[sel]]
            texts.append(pc.binary_join_element_wise(text.take(pa.array(np.repeat(sel, rep))),
                                                     flat.take(pa.array(_spans(start[at[sel]], rep))), ""))
            bits.append(np.repeat(bit[sel], rep))
            rows.append(np.repeat(at[sel], rep))
        text = pa.concat_arrays(texts)
        return np.concatenate(bits), np.concatenate(rows), np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)

    def _block(self, reg: pa.Table, index: ScreenIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The call's candidate pairs: (w_idx, person_idx, rules bitmask), sorted by w_idx then
        person_idx (the pair's number is its place)."""
        bits, r_idx, keys = self._keys(reg)
        hashes = key_hash(keys)
        person = np.asarray(reg.column("person_idx").to_numpy(), np.int64)
        found_w, found_p, found_bit = [], [], []
        for bit, wk in enumerate(index.keys):
            sel = np.flatnonzero(bits == bit)
            if not len(sel) or not len(wk.hashes):
                continue
            lo = np.searchsorted(wk.hashes, hashes[sel], "left")
            n = np.searchsorted(wk.hashes, hashes[sel], "right") - lo
            if not n.sum():
                continue
            w = wk.w_idx[_spans(lo, n)]
            r = np.repeat(r_idx[sel], n)
            keep = np.unique(np.c_[w, r], axis=0)
            w, r = keep[:, 0], keep[:, 1]
            rule = self.settings.blocking[bit]
            if rule.filter:
                cols = sides(self._filter_reads, l=(index.w, pa.array(index.w_row[w])), r=(reg, pa.array(r)))
                ok = _bools(self._filters[bit](cols, len(w)), len(w))
                w, r = w[ok], r[ok]
            found_w.append(w)
            found_p.append(person[r])
            found_bit.append(np.full(len(w), bit, np.int64))
        if not found_w:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        w, p, bit = np.concatenate(found_w), np.concatenate(found_p), np.concatenate(found_bit)
        pairs, inverse = np.unique(np.c_[w, p], axis=0, return_inverse=True)
        rules = np.zeros(len(pairs), np.int64)
        np.bitwise_or.at(rules, inverse.ravel(), np.left_shift(1, bit))
        return pairs[:, 0].copy(), pairs[:, 1].copy(), rules

    # -- scoring: each probe pair among its wanted record's current candidates ----------------------

    def _score(self, records: list[Record], index: ScreenIndex, pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
               gammas: Gammas, known: np.ndarray, threshold: float, reg: pa.Table, old: pa.Table,
               reuse: np.ndarray) -> pa.Table | None:
        """The probes' kept candidates at or above `threshold`, as score() writes them (`scored`;
        None when there is none):
        a row of the matches query depends on its own pair and person only, and that query (flags,
        explanation) is the largest cost of a call, so a call whose kept candidates all fall below
        the threshold (most records at a desk) skips it.

        Each probe pair competes with its wanted record's other current candidates. Their match
        weights depend on the probe only through the prior (a new person adds one to the register)
        and the TF frequencies of the wanted record's values (the probe's person's values counted
        in): when neither moves (a known person whose screened record changes no TF count, the usual
        case at a desk) they are the index's stored weights, else they are recomputed here."""
        s, model = self.settings, index.model
        pw, pp, prules = (a[gammas.pair_idx] for a in pairs)
        n_pairs = len(pw)
        places = np.array([index.person_place(r.person_id) for r in records], dtype=np.float64)
        tf = self._tf(index, pw, pp, reg, old, reuse[pp])
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
        rows = _spans(lo, n)
        owner = np.repeat(np.arange(n_pairs), n)
        other = index.cand_person[rows] != known[pp[owner]]
        rows, owner = rows[other], owner[other]
        fresh = ~base[owner]
        rows_f, owner_f = rows[fresh], owner[fresh]
        # the probe pairs' and the recomputed competitors' weights in one pass (each row's weights
        # are its own: the same numbers as separate passes)
        weights = match_weights(np.concatenate([gammas.levels, index.cand_levels[rows_f]]), model,
                                _rows(tf, np.r_[np.arange(n_pairs), owner_f]), index.weight_plan)
        sums = weights.sum(axis=1)
        total_p = prior + sums[:n_pairs]
        total_f = prior[owner_f] + sums[n_pairs:]
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
        keep[keep] = np.round(match_p[keep], 9) >= threshold  # as scored_table rounds it
        if not keep.any():  # most calls: no table to build
            return None
        return scored_table(pw, pp, prules, rank, total_p, match_p, gammas, keep, weights[:n_pairs][keep])

    def _tf(self, index: ScreenIndex, pw: np.ndarray, pp: np.ndarray, reg: pa.Table,
            old: pa.Table, stored: np.ndarray) -> dict[str, dict[int, np.ndarray]]:
        """Per pair, each TF level's frequency of the wanted record's value among register persons
        once the probe's person is counted with its screened values instead of its stored ones
        (the nightly's counts adjusted for that one person; NaN: nobody holds the value). When
        every pair's probe is its person's stored record (`stored`), no count moves: the index's;
        nor does a column's where each probe's person holds the values it held (a changed name
        moves the name columns' counts, not the birth date's)."""
        out: dict[str, dict[int, np.ndarray]] = {}
        rows = index.w_row[pw]
        if stored.all():
            return {name: {k: v[rows] for k, v in per.items()} for name, per in index.base_tf.items()}
        new_p = reg.column("person_idx").to_pylist()
        old_p = old.column("person_idx").to_pylist()
        for col, items in self._tf_items.items():
            if _held(new_p, reg.column(col).to_pylist()) == _held(old_p, old.column(col).to_pylist()):
                for name, level in items:
                    out.setdefault(name, {})[level] = index.base_tf[name][level][rows]
                continue
            n, total, has = _tf_counts(index, col, rows, pp, reg, old)
            tf = np.full(len(pp), np.nan)
            ok = has & (n > 0)
            tf[ok] = n[ok] / total[ok]
            for name, level in items:
                out.setdefault(name, {})[level] = tf
        return out

    # -- comparisons: compare()'s steps over the call's few pairs ------------------------------------

    def _compare(self, reg: pa.Table, index: ScreenIndex, pw: np.ndarray,
                 pp: np.ndarray) -> tuple[Gammas, RecordLevels]:
        """compare()'s levels for the call's pairs: each pair against each of its person's records
        (the rules' SQL levels evaluated here, rapidfuzz's bands), the best level per person; and
        the levels per record (the output rows read the current record's)."""
        names = tuple(c.name for c in self._compiled)
        person = np.asarray(reg.column("person_idx").to_numpy(), np.int64)  # sorted: reg is by probe
        lo = np.searchsorted(person, pp, "left")
        n = np.searchsorted(person, pp, "right") - lo
        pair_of_row = np.repeat(np.arange(len(pp)), n)
        rows = _spans(lo, n)
        m = len(rows)
        if m == 0:
            empty = np.zeros((0, len(names)), np.int8)
            return Gammas(np.zeros(0, np.int64), empty, names), RecordLevels(rows, rows, empty)
        cols = sides(self._level_reads, l=(index.w, pa.array(index.w_row[pw][pair_of_row])), r=(reg, pa.array(rows)))
        levels = np.column_stack([np.asarray(lv.to_numpy(zero_copy_only=False))
                                  for lv in evaluate_many(self._levels, cols, m)]).astype(np.int8)
        strings = {}  # the fuzzy bands' string columns, named as compare's pair query names them
        for i, (left, right) in enumerate(self._fcols):
            strings[f"fl{i}"], strings[f"fr{i}"] = cols[f"l.{left}"], cols[f"r.{right}"]
        _apply_fuzzy(pa.RecordBatch.from_pydict(strings) if strings else None, levels, self._compiled, self._fcols)
        pair_idx, merged = _merge_records(pair_of_row, levels)
        return Gammas(pair_idx, merged, names), RecordLevels(pw[pair_of_row], rows, levels)

    def _pairs(self, reg: pa.Table, index: ScreenIndex, known: np.ndarray,
               reuse: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], Gammas, RecordLevels]:
        """The call's candidate pairs (w_idx, person_idx = probe, rules), sorted, and their levels.
        A probe whose pairs are its person's stored ones (`reuse`: its stored record, or alike where
        the pair stage reads) has the night's candidate pairs and levels (the person's records are
        those the night compared, as far as blocking and comparing see them); the others are blocked
        and compared here.
        The record levels cover the compared pairs only: a stored lead's current record gets its
        levels from the output rows' own SQL (current_level_sql: one row, evaluated in Python)."""
        stored = np.flatnonzero(reuse)
        lo, hi = index.person_cand_start[known[stored]], index.person_cand_start[known[stored] + 1]
        rows = index.person_cand[_spans(lo, hi - lo)]
        w, probe, rules = index.cand_w[rows], np.repeat(stored, hi - lo), index.cand_rules[rows]
        levels = index.cand_levels[rows]
        if reuse.all():
            record_levels = RecordLevels(*(np.zeros(0, np.int64),) * 2, levels[:0])
        else:
            todo = ~reuse[np.asarray(reg.column("person_idx").to_numpy(), np.int64)]
            bw, bp, brules = self._block(reg.filter(pa.array(todo)), index)
            gammas, record_levels = self._compare(reg, index, bw, bp)
            w, probe, rules = np.r_[w, bw[gammas.pair_idx]], np.r_[probe, bp[gammas.pair_idx]], np.r_[
                rules, brules[gammas.pair_idx]]
            levels = np.concatenate([levels, gammas.levels])
        order = np.lexsort((probe, w))
        names = tuple(c.name for c in self._compiled)
        return (w[order], probe[order], rules[order]), Gammas(np.arange(len(order)), levels[order], names), record_levels

    # -- the whole call ------------------------------------------------------------------------------

    def screen(self, index: ScreenIndex, records: list[Record], threshold: float | None = None) -> list[dict[str, Any]]:
        """One result per record, in order: its person_id, source, whether the person is in the
        register, and its candidates at or above the threshold (best first)."""
        if not records:
            return []
        threshold = self.config.threshold if threshold is None else float(threshold)
        reg, old, known, reuse = self._prepared(records, index)
        results = [{"person_id": r.person_id, "source": r.source,
                    "in_register": bool(known[i] >= 0), "candidates": [], "alert": False}
                   for i, r in enumerate(records)]
        pairs, gammas, record_levels = self._pairs(reg, index, known, reuse)
        scored = (self._score(records, index, pairs, gammas, known, threshold, reg, old, reuse)
                  if len(gammas.pair_idx) else None)
        if scored is not None:  # its rows are at or above the threshold (_score)
            for row in self._matches(index, scored, reg, record_levels):
                p = int(row.pop("person_id"))
                results[p]["candidates"].append(_plain(row))
        self._mark(index, results, threshold)
        for res in results:
            res["candidates"].sort(key=lambda c: (-c["match_probability"], c["wanted_id"]))
        return results

    def _matches(self, index: ScreenIndex, scored: pa.Table, reg: pa.Table,
                 record_levels: RecordLevels | None = None) -> list[dict[str, Any]]:
        """The batch's output rows (flags, explanation) for the kept candidates: the matches query
        over the call's rows (linkage/screen/rows.py), or in DuckDB over the call's tables when the
        rules use SQL the evaluator lacks (only calls with a lead get here)."""
        if self._rows_out is not None:
            return self._rows_out(scored, reg, index.w, index.w_row, record_levels)
        w_idx = np.unique(np.asarray(scored.column("w_idx").to_numpy(), np.int64))
        tables = {"scored": scored, "reg": reg, "w": index.w.take(pa.array(index.w_row[w_idx]))}
        return duckdb_query(self._matches_sql, tables).to_pylist()

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


def _picked(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """These rows of a call's small table, in this order: one-row slices joined (a take or a filter
    runs a kernel per column, most of the cost over a few rows)."""
    if len(rows) == table.num_rows and np.array_equal(rows, np.arange(len(rows))):
        return table
    if len(rows) > 8:
        return table.take(pa.array(rows, pa.int64()))
    return pa.concat_tables([table.slice(int(i), 1) for i in rows] or [table.slice(0, 0)]).combine_chunks()


def _cast(table: pa.Table, target: pa.Schema) -> pa.Table:
    """The table as `target` types it: Table.cast runs a kernel per column even where nothing
    changes, and the memo's tables come out typed as the register already."""
    return table if table.schema == target else table.cast(target)


def _reads(sqls: list[str], side: str) -> set[str]:
    """The columns of `side` some expressions read."""
    return set().union(*(columns_read(sql, side) for sql in sqls))


def _spans(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """start[i], start[i] + 1, ..., start[i] + count[i] - 1 for every i, concatenated."""
    before = np.concatenate([np.zeros(1, np.int64), np.cumsum(count, dtype=np.int64)[:-1]])  # integers when empty
    return np.repeat(start - before, count) + np.arange(count.sum())


def _held(persons: list[int], values: list[Any]) -> set[tuple[int, Any]]:
    """The (person, value) holdings a TF count counts (NULL holds nothing)."""
    return {(p, v) for p, v in zip(persons, values) if v is not None}


def _tf_counts(index: ScreenIndex, col: str, w_rows: np.ndarray, pp: np.ndarray, reg: pa.Table,
               old: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair: persons holding the wanted record's value of `col`, the column's total of
    (person, value) holdings, and whether the wanted record has a value, once each probe's person
    holds its call's values (`reg`) instead of its stored ones (`old`): the nightly's counts, each
    distinct (person, value) counted once, moved by the difference."""
    x = index.w.column(col).take(pa.array(w_rows, pa.int64())).combine_chunks()
    cx, cnew, cold = shared_codes(x, reg.column(col).combine_chunks(), old.column(col).combine_chunks())
    width = max(int(max(cx.max(initial=0), cnew.max(initial=0), cold.max(initial=0))) + 1, 1)
    new_p = np.asarray(reg.column("person_idx").to_numpy(), np.int64)
    old_p = np.asarray(old.column("person_idx").to_numpy(), np.int64)
    held_new = np.unique(new_p[cnew >= 0] * width + cnew[cnew >= 0])
    held_old = np.unique(old_p[cold >= 0] * width + cold[cold >= 0])
    keys = np.r_[held_new, held_old]
    sign = np.r_[np.ones(len(held_new)), -np.ones(len(held_old))]
    size = int(max(pp.max(initial=0), new_p.max(initial=0), old_p.max(initial=0))) + 1
    moved = np.bincount(keys // width, weights=sign, minlength=size)  # per person: holdings added
    has = cx >= 0
    key = pp * width + np.where(has, cx, 0)
    n_added = np.isin(key, held_new).astype(np.float64) - np.isin(key, held_old)
    n = index.w_tf_n[col][w_rows].astype(np.float64) + np.where(has, n_added, 0.0)
    total = float(index.tf_totals.get(col, 0)) + moved[pp]
    return n, total, has


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A candidate as JSON-ready values: dates (the current record's date) as ISO text, so the
    command line and the API answer alike."""
    return {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in row.items()}
