"""The batch's output rows (outputs.matches_sql) for a desk call's kept candidates, without DuckDB:
the same column lists (current_items_sql, row_items_sql, final_items_sql, status_tests_sql)
compiled once by linkage/backends/arrow_sql.py and evaluated over the call's few rows, and the
records matches_sql's window functions choose for each person (its main record, its current and
next most recent ones) chosen here by the same orders. Planning that query cost a call with a lead
80-110 ms (docs/benchmarks.md "Screening at the desk")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from linkage.backends.arrow_sql import Expression, compile_select, expression, sides
from linkage.compare import NULL
from linkage.explain import current_comparisons, record_tests_sql
from linkage.outputs import current_items_sql, final_items_sql, row_items_sql, status_tests_sql
from linkage.settings import Settings


@dataclass
class RecordLevels:
    """The compare stage's levels of a call: per (wanted record, register record of the call) row,
    every comparison's level (compare.NULL: none)."""

    w_idx: np.ndarray
    reg_row: np.ndarray
    levels: np.ndarray

    def at(self, w_idx: np.ndarray, reg_row: np.ndarray) -> np.ndarray | None:
        """The levels of these (wanted record, register record) rows; None when one was not compared."""
        width = int(max(self.reg_row.max(initial=0), reg_row.max(initial=0))) + 1
        keys = self.w_idx * width + self.reg_row
        order = np.argsort(keys, kind="stable")
        want = w_idx * width + reg_row
        pos = np.searchsorted(keys[order], want)
        if (reg_row < 0).any() or (pos >= len(keys)).any() or (keys[order][np.minimum(pos, len(keys) - 1)] != want).any():
            return None
        return self.levels[order[pos]]


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def _firsts(person: np.ndarray, order: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the first and second row in `order` (rows sorted by person first; -1: none)."""
    sorted_person = person[order]
    start = np.flatnonzero(np.r_[True, sorted_person[1:] != sorted_person[:-1]])
    count = np.diff(np.r_[start, len(order)])
    first = np.full(size, -1, np.int64)
    second = np.full(size, -1, np.int64)
    first[sorted_person[start]] = order[start]
    two = count > 1
    second[sorted_person[start[two]]] = order[start[two] + 1]
    return first, second


class OutputRows:
    """matches_sql's rows for a call: compiled once per screener."""

    def __init__(self, settings: Settings) -> None:
        dead, alive = status_tests_sql(settings)
        self._dead: Expression = expression(dead)
        self._alive: Expression = expression(alive)
        self._current = compile_select("SELECT " + ", ".join(current_items_sql(settings)))
        tests = record_tests_sql(settings)  # current_items_sql without the current record's levels
        self._tests = compile_select("SELECT " + ", ".join(tests)) if tests else None
        names = [c.name for c in settings.comparisons]
        self._level_cols = [(f"g_{name}", names.index(name)) for name in current_comparisons(settings)]
        self._rows = compile_select("SELECT " + ", ".join(row_items_sql(settings, "")))
        self._final = compile_select("SELECT " + ", ".join(final_items_sql(settings)))

    def __call__(self, scored: pa.Table, reg: pa.Table, w: pa.Table, w_row: np.ndarray,
                 record_levels: RecordLevels | None = None) -> list[dict[str, Any]]:
        """`record_levels`: the compare stage's levels of each wanted record against each register
        record of the call; the current record's are taken from there instead of evaluated again
        (current_level_sql gives the same levels, fuzzy bands included)."""
        n = scored.num_rows
        sp = _numpy(scored, "person_idx").astype(np.int64)
        person = _numpy(reg, "person_idx").astype(np.int64)
        r_idx = _numpy(reg, "r_idx").astype(np.int64)
        src = _numpy(reg, "src").astype(object)
        size = int(max(person.max(initial=0), sp.max(initial=0))) + 1
        not_resident = (src != "residents").astype(np.int64)
        # main: the resident record when there is one, then load order
        main, _ = _firsts(person, np.lexsort((r_idx, not_resident, person)), size)
        # recent: most recent first, undated records older; ties: residents, then load order
        dated = reg.column("record_date").combine_chunks()
        undated = np.asarray(dated.is_null().to_numpy(zero_copy_only=False), bool)
        days = np.asarray(dated.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        current, older = _firsts(person, np.lexsort((r_idx, not_resident, -days, undated, person)), size)
        sources = self._sources(person, src, size)
        status = self._status(reg, person, src, size)
        w_rows = pa.array(w_row[_numpy(scored, "w_idx").astype(np.int64)])
        tables = {"s": (scored, pa.array(np.arange(n))), "l": (w, w_rows), "r": (reg, pa.array(main[sp])),
                  "c": (reg, pa.array(current[sp])), "p": (reg, pa.array(older[sp], mask=older[sp] < 0))}
        given = {"src.sources": sources.take(pa.array(sp)), "st.person_status": status.take(pa.array(sp))}
        cols = sides(**tables)
        cols.update(given)
        w_idx = _numpy(scored, "w_idx").astype(np.int64)
        known = record_levels.at(w_idx, current[sp]) if record_levels is not None else None
        if known is None:
            sc = self._current.over(sides(l=tables["l"], r=tables["c"]), n)
        else:
            sc = self._tests.over(sides(l=tables["l"], r=tables["c"]), n) if self._tests else pa.table({})
            for name, j in self._level_cols:
                sc = sc.append_column(name, pa.array(known[:, j].astype(np.int64), mask=known[:, j] == NULL))
        cols.update({f"sc.{name}": sc.column(name).combine_chunks() for name in sc.column_names})
        rows = self._rows.over(cols, n)
        return self._final(rows).drop_columns(["run_id"]).to_pylist()

    @staticmethod
    def _sources(person: np.ndarray, src: np.ndarray, size: int) -> pa.Array:
        """Per person, its records' distinct sources, descending, joined by '+'."""
        out: list[str | None] = [None] * size
        for p in np.unique(person):  # per person of the call (a handful), not per pair
            out[p] = "+".join(sorted(set(src[person == p].tolist()), reverse=True))
        return pa.array(out, pa.string())

    def _status(self, reg: pa.Table, person: np.ndarray, src: np.ndarray, size: int) -> pa.Array:
        """Per person: 'deceased' when a residents record says so, else 'alive' when one says so."""
        resident = src == "residents"
        n = reg.num_rows
        columns = {"status_raw": reg.column("status_raw").combine_chunks()}
        dead = np.asarray(self._dead(columns, n).fill_null(False).to_numpy(zero_copy_only=False), bool) & resident
        alive = np.asarray(self._alive(columns, n).fill_null(False).to_numpy(zero_copy_only=False), bool) & resident
        any_dead = np.bincount(person[dead], minlength=size) > 0
        any_alive = np.bincount(person[alive], minlength=size) > 0
        out = np.where(any_dead, "deceased", np.where(any_alive, "alive", ""))
        return pa.array(out.tolist(), pa.string(), mask=~(any_dead | any_alive))

