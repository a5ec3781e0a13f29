"""Normalise each distinct value once for a whole run, across sources and chunks.

The two registers repeat each other (a card holds its holder's name, birth date, hometown and
address as the resident record does) and a register's chunks repeat names and places: at 1M
residents + 0.75M cards, 1.45M name normalisations per chunk become 0.45M distinct names, 270k
birth dates 36k. Every normaliser works value by value (linkage.normalize.table.KINDS), so a
kind's distinct values, gathered from every column and source that holds that kind, are
normalised once (in worker processes when given a parallel `map`) and each chunk looks its rows
up: the same columns as normalising the chunk itself (tests/test_normalise_chunks.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterable, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.normalize.table import KINDS, parts

# Kinds worth a dictionary: their values repeat. Record ids are (nearly) all distinct, so a
# dictionary would only add a copy of them: they are normalised chunk by chunk.
DEDUPED = ("names", "aliases", "dates", "places", "gender", "ethnicity", "marks")

Mapper = Callable[..., Iterable[pd.DataFrame]]


@dataclass
class Dictionary:
    """One kind's distinct values and their normalised columns (one row per value, in the order
    of `values`, then one row for a missing value)."""

    kind: str
    values: pa.Array
    frame: pd.DataFrame

    def rows(self, positions: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """The normalised rows at the given positions in `values` (-1: a missing value; -2: a value
        the dictionary does not hold, an error)."""
        if (positions == -2).any():
            raise ValueError(f"{self.kind}: value not in this run's dictionary")
        pos = np.where(positions < 0, len(self.values), positions)
        out = self.frame.take(pos)
        out.index = index
        return out

    def lookup(self, values: pd.Series) -> pd.DataFrame:
        """The normalised rows of a column, index-aligned; every present value must be known."""
        arr = _text(values)
        idx = pc.index_in(arr, value_set=self.values)
        unknown = pc.and_(pc.is_valid(arr), pc.is_null(idx))
        if pc.any(unknown).as_py():
            example = arr.filter(unknown)[0].as_py()
            raise ValueError(f"{self.kind}: value not in this run's dictionary ({len(example)} characters)")
        pos = pc.fill_null(idx, len(self.values)).to_numpy(zero_copy_only=False)
        out = self.frame.take(pos)
        out.index = values.index
        return out


def _text(values: pd.Series) -> pa.Array:
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def kind_columns(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[str, list[tuple[str, str]]]:
    """kind -> (source table, column) of every present input column of a deduplicated kind."""
    out: dict[str, list[tuple[str, str]]] = {}
    for source in sources:
        cols = [r[0] for r in con.execute(f'DESCRIBE "{source}"').fetchall()]
        for part in parts(source, cols):
            if part.kind in DEDUPED and part.column in cols and (source, part.column) not in out.get(part.kind, []):
                out.setdefault(part.kind, []).append((source, part.column))
    return out


def distinct_values(con: duckdb.DuckDBPyConnection, refs: list[tuple[str, str]]) -> pa.Array:
    """The distinct non-null values of the given columns, sorted (DuckDB does the work)."""
    union = " UNION ALL ".join(f'SELECT "{c}"::VARCHAR AS v FROM "{s}"' for s, c in refs)
    table = con.sql(f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL ORDER BY v").to_arrow_table()
    return table.column("v").combine_chunks().cast(pa.string())


def normalise_values(kind: str, values: pa.Array, rules: Path | None) -> pd.DataFrame:
    """A kind's normalised columns for some values (runs in a worker). The values reach the
    normaliser as a chunk's column does (Arrow -> pandas), so the dtypes are a chunk's."""
    series = pa.table({"v": values}).to_pandas()["v"]
    return KINDS[kind](series, rules).reset_index(drop=True)


def _pieces(values: pa.Array, size: int) -> Iterator[pa.Array]:
    """The values in pieces of `size`, each a compact copy: a slice pickles its parent's whole
    buffers, so every piece sent to a worker process carried all of the kind's values."""
    for lo in range(0, len(values), size):
        yield pa.concat_arrays([values.slice(lo, size)])


def _table_name(kind: str) -> str:
    return f"_distinct_{kind}"


def drop_tables(con: duckdb.DuckDBPyConnection, dictionaries: dict[str, Dictionary]) -> None:
    """Drop the value -> position tables once every source's positions were read."""
    for kind in dictionaries:
        con.execute(f"DROP TABLE IF EXISTS {_table_name(kind)}")


@dataclass
class Positions:
    """Each row of a source (in `_row` order) and, per column of a deduplicated kind, its value's
    position in the kind's dictionary (-1: missing; -2: not in the dictionary, an error)."""

    rows: np.ndarray
    columns: dict[str, np.ndarray]

    def between(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """The positions of the rows with lo < _row <= hi."""
        a, b = np.searchsorted(self.rows, [lo, hi], side="right")
        return {c: p[a:b] for c, p in self.columns.items()}


def source_positions(con: duckdb.DuckDBPyConnection, source: str,
                     dictionaries: dict[str, Dictionary] | None) -> Positions:
    """Every row's positions in the dictionaries, found by one DuckDB join per column over the
    whole source (joining per chunk, or hashing a dictionary per chunk, costs a second a chunk)."""
    cols = [r[0] for r in con.execute(f'DESCRIBE "{source}"').fetchall()]
    refs = list(dict.fromkeys((p.column, p.kind) for p in parts(source, cols)
                              if dictionaries and p.kind in dictionaries and p.column in cols))
    select = "".join(f', CASE WHEN s."{column}" IS NULL THEN -1 ELSE coalesce(d{i}.pos, -2) END::INTEGER AS "p{i}"'
                     for i, (column, _) in enumerate(refs))
    joins = "".join(f' LEFT JOIN {_table_name(kind)} d{i} ON d{i}.v = s."{column}"' for i, (column, kind) in enumerate(refs))
    table = con.sql(f'SELECT s._row{select} FROM "{source}" s{joins} ORDER BY s._row').to_arrow_table()
    return Positions(table.column("_row").to_numpy(),
                     {column: table.column(f"p{i}").to_numpy() for i, (column, _) in enumerate(refs)})


def build_dictionaries(
    con: duckdb.DuckDBPyConnection,
    sources: list[str],
    rules: Path | None,
    piece_rows: int,
    mapper: Mapper = map,
) -> dict[str, Dictionary]:
    """One Dictionary per deduplicated kind present in the sources' workspace tables. `mapper`:
    `map`, or a process pool's `map` (results in submission order: the same dictionaries)."""
    jobs: list[tuple[str, pa.Array]] = []
    values_of: dict[str, pa.Array] = {}
    for kind, refs in kind_columns(con, sources).items():
        values = distinct_values(con, refs)
        values_of[kind] = values
        with_null = pa.concat_arrays([values, pa.nulls(1, pa.string())])
        jobs.extend((kind, piece) for piece in _pieces(with_null, max(int(piece_rows), 1)))
    frames: dict[str, list[pd.DataFrame]] = {}
    results = mapper(normalise_values, [k for k, _ in jobs], [v for _, v in jobs], [rules] * len(jobs))
    for (kind, _), frame in zip(jobs, results):
        frames.setdefault(kind, []).append(frame)
    for kind, values in values_of.items():  # for source_positions: value -> position, as a DuckDB table
        con.register("_values", pa.table({"v": values, "pos": pa.array(np.arange(len(values), dtype=np.int64))}))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_table_name(kind)} AS SELECT * FROM _values")
        con.unregister("_values")
    return {
        kind: Dictionary(kind, values_of[kind], pd.concat(frames[kind], ignore_index=True))
        for kind in values_of
    }


class ValueMemo:
    """Each kind's values normalised once and kept across calls, for a caller that normalises a few
    records at a time, again and again: the desk (linkage/screen) sees the same places,
    ethnicities, birth dates and names over and over, and a field normaliser's fixed pandas cost
    for a one-row frame is most of a record's normalisation. A call's new values of a kind go
    through `normalise_values` together (as a run's dictionaries do), so the table is the one
    `normalize_table` gives without the memo. Bounded: past `max_values` values of a kind, that
    kind starts afresh (with the call's values)."""

    _COMPACT = 64  # a kind's pieces are merged into one when there are more (lists take from each)

    def __init__(self, rules: Path | None = None, max_values: int = 200_000) -> None:
        self.rules, self.max_values = rules, max_values
        self._where: dict[str, dict[str, tuple[int, int]]] = {}  # kind -> value -> (piece, row)
        self._pieces: dict[str, list[pd.DataFrame]] = {}
        self._missing: dict[str, pd.DataFrame] = {}  # a kind's row for a missing value, when no value
        self._lock = threading.Lock()  # a server's calls may come from several threads

    def normalize(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """normalize_table(df, source, rules) with the memo's dictionaries."""
        from linkage.normalize.table import normalize_table

        with self._lock:
            dictionaries, positions = self._lookups(df, source)
        return normalize_table(df, source, self.rules, dictionaries, positions)

    def _lookups(self, df: pd.DataFrame, source: str) -> tuple[dict[str, Dictionary], dict[str, np.ndarray]]:
        """Per kind, a Dictionary of the frame's values, and each column's positions in it."""
        found = [(p.column, p.kind) for p in parts(source, df.columns) if p.kind in DEDUPED and p.column in df.columns]
        kinds = list(dict.fromkeys(kind for _, kind in found))
        dictionaries, positions = {}, {}
        for kind in kinds:
            cols = [c for c, k in found if k == kind]
            values = {c: [None if v is None or v is pd.NA or v != v else str(v) for v in df[c].tolist()] for c in cols}
            self._learn(kind, [v for vs in values.values() for v in vs if v is not None])
            wanted = list(dict.fromkeys(v for vs in values.values() for v in vs if v is not None))
            dictionaries[kind] = self._dictionary(kind, wanted)
            at = {v: i for i, v in enumerate(wanted)}
            for c in cols:
                positions[c] = np.array([-1 if v is None else at[v] for v in values[c]], dtype=np.int64)
        return dictionaries, positions

    def _learn(self, kind: str, values: list[str]) -> None:
        """Normalise the values the memo lacks (one normaliser call for all of them)."""
        where = self._where.setdefault(kind, {})
        new = [v for v in dict.fromkeys(values) if v not in where]
        if not new:
            return
        if len(where) + len(new) > self.max_values:
            where.clear()
            self._pieces[kind] = []
            new = list(dict.fromkeys(values))
        pieces = self._pieces.setdefault(kind, [])
        # with a missing value last, as a run's dictionary has it (a piece's columns keep its dtypes)
        pieces.append(normalise_values(kind, pa.array(new + [None], pa.string()), self.rules))
        where.update({v: (len(pieces) - 1, i) for i, v in enumerate(new)})
        if len(pieces) > self._COMPACT:
            offsets = np.cumsum([0] + [len(p) for p in pieces])
            self._pieces[kind] = [pd.concat(pieces, ignore_index=True)]  # the missing rows stay, unused
            for v, (k, i) in where.items():
                where[v] = (0, int(offsets[k]) + i)

    def _dictionary(self, kind: str, values: list[str]) -> Dictionary:
        """A Dictionary of just these values (then the missing value's row)."""
        if not values:
            if kind not in self._missing:
                self._missing[kind] = normalise_values(kind, pa.nulls(1, pa.string()), self.rules)
            return Dictionary(kind, pa.array([], pa.string()), self._missing[kind])
        where, pieces = self._where[kind], self._pieces[kind]
        got = [where[v] for v in values]
        if len({k for k, _ in got}) == 1:
            frame = pieces[got[0][0]].take([i for _, i in got])
        else:  # a take from each piece, then back in the values' order
            order = sorted(range(len(got)), key=lambda j: got[j])
            frame = pd.concat([pieces[k].take([got[j][1] for j in run])
                               for k, run in ((k, list(g)) for k, g in groupby(order, key=lambda j: got[j][0]))],
                              ignore_index=True).take(np.argsort(order, kind="stable"))
        k = got[0][0]  # the missing value's row: the last of a piece
        frame = pd.concat([frame, pieces[k].iloc[-1:]], ignore_index=True)
        return Dictionary(kind, pa.array(values, pa.string()), frame.reset_index(drop=True))
