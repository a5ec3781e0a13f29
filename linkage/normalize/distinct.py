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

import queue
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterator, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.buffer_pool import drop_cached_blocks
from linkage.normalize.table import ARROW_KINDS, KINDS, Part, parts

# Kinds worth a dictionary: their values repeat. Record ids are (nearly) all distinct, so a
# dictionary would only add a copy of them: they are normalised chunk by chunk. In the order their
# values are queried and given to the workers: the costliest first (at 1M, the cards' marks texts
# and the places take most of the workers' time), so no worker is left alone with a long piece.
DEDUPED = ("marks", "places", "names", "dates", "aliases", "ethnicity", "gender")


@dataclass
class Dictionary:
    """One kind's distinct values and their normalised columns (one row per value, in the order
    of `values`, then one row for a missing value)."""

    kind: str
    values: pa.Array | None  # None once `arrow_only` released them, or never kept (`from_arrow`)
    frame: pd.DataFrame | None  # None once `arrow_only` released it, or never built (`from_arrow`)
    _table: pa.Table | None = field(default=None, repr=False)
    _columns: list[str] | None = field(default=None, repr=False)
    _size: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.values is not None:
            self._size = len(self.values)

    @classmethod
    def from_arrow(cls, kind: str, size: int, table: pa.Table) -> Dictionary:
        """A dictionary of `size` values whose rows are an Arrow table (normalised_table's), with
        neither pandas frame nor values: for a run, whose sources all take their rows in Arrow
        (normalised_arrow) at positions found beforehand (source_positions)."""
        return cls(kind, None, None, _few_values_encoded(table), list(table.column_names), size)

    @property
    def size(self) -> int:
        """How many values the dictionary holds (its rows: one more, the missing value's)."""
        return self._size

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns) if self.frame is not None else list(self._columns or [])

    def arrow_only(self) -> None:
        """Keep the rows in Arrow only, for `arrow_rows` at positions found already
        (source_positions); the pandas frame (`rows`, `lookup`) and the values (`positions`) are
        released. The frame's own copies of the columns the Arrow table keeps dictionary-encoded
        (the place codes, the name words) were 50 MiB of the run process's peak at 1M; the values,
        one string per distinct value, 330 MiB at 5M residents."""
        self._arrow()
        if self.frame is not None:
            self._columns, self.frame = list(self.frame.columns), None
        self.values = None

    def arrow_column(self, name: str) -> pa.Array:
        """One column of the rows, in Arrow (one row per value, then the missing value's)."""
        return self._arrow().column(name).combine_chunks()

    def add_columns(self, columns: dict[str, pa.Array]) -> None:
        """Columns derived from the rows (one value per row), kept with them for `arrow_rows`:
        a register chunk then takes what it would otherwise derive again per chunk."""
        self.arrow_only()
        for name, col in columns.items():
            self._table = self._table.append_column(name, col)
            self._columns = [*self.columns, name]

    def _pandas(self) -> pd.DataFrame:
        if self.frame is None:
            raise RuntimeError(f"{self.kind}: this dictionary keeps its rows in Arrow only (arrow_only)")
        return self.frame

    def _arrow(self) -> pa.Table:
        if self._table is None:
            self._table = _few_values_encoded(pa.Table.from_pandas(self._pandas(), preserve_index=False))
        return self._table

    def rows(self, positions: np.ndarray, index: pd.Index) -> pd.DataFrame:
        """The normalised rows at the given positions in `values` (-1: a missing value; -2: a value
        the dictionary does not hold, an error)."""
        if (positions == -2).any():
            raise ValueError(f"{self.kind}: value not in this run's dictionary")
        pos = np.where(positions < 0, self._size, positions)
        out = self._pandas().take(pos)
        out.index = index
        return out

    def lookup(self, values: pd.Series) -> pd.DataFrame:
        """The normalised rows of a column, index-aligned; every present value must be known."""
        out = self._pandas().take(self.positions(_text(values)))
        out.index = values.index
        return out

    def positions(self, arr: pa.Array) -> np.ndarray:
        """Each value's row in the frame (a missing value: the last row); every present value
        must be known."""
        if self.values is None:
            raise RuntimeError(f"{self.kind}: this dictionary released its values (arrow_only)")
        idx = pc.index_in(arr, value_set=self.values)
        unknown = pc.and_(pc.is_valid(arr), pc.is_null(idx))
        if pc.any(unknown).as_py():
            example = arr.filter(unknown)[0].as_py()
            raise ValueError(f"{self.kind}: value not in this run's dictionary ({len(example)} characters)")
        return pc.fill_null(idx, len(self.values)).to_numpy(zero_copy_only=False)

    def arrow_rows(self, positions: np.ndarray, columns: list[str]) -> pa.Table:
        """`rows`' columns as an Arrow table (the frame converted once, on first use)."""
        if (positions == -2).any():
            raise ValueError(f"{self.kind}: value not in this run's dictionary")
        got = self._arrow().select(columns).take(pa.array(np.where(positions < 0, self._size, positions)))
        return pa.table({name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
                         for name, col in zip(got.column_names, got.columns)})


_FEW = 4  # a column is kept dictionary-encoded when it has at most a quarter as many values as rows
_SAMPLE = 10_000


def _few_values_encoded(table: pa.Table) -> pa.Table:
    """The table with each text column of few distinct values (a place's codes, a name's family,
    middle and given words) dictionary-encoded: a chunk's rows are then taken as small integers
    and decoded from a small dictionary that stays in the cache. Taking the strings themselves
    from 0.8M places was a third of preparing a register chunk (random reads over the whole
    column)."""
    cols = {}
    every = np.arange(0, table.num_rows, max(table.num_rows // _SAMPLE, 1))
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            # a spread sample first: hashing a column of mostly distinct values (a full name) is wasted
            if pc.count_distinct(col.take(every)).as_py() < 0.9 * len(every):
                encoded = pc.dictionary_encode(col.combine_chunks())
                if len(encoded.dictionary) * _FEW <= len(col):
                    col = encoded
        cols[name] = col
    return pa.table(cols)


def _text(values: pd.Series) -> pa.Array:
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def kind_columns(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[str, list[tuple[str, str]]]:
    """kind -> (source table, column) of every present input column of a deduplicated kind, the
    kinds in DEDUPED's order."""
    out: dict[str, list[tuple[str, str]]] = {kind: [] for kind in DEDUPED}
    for source in sources:
        cols = [r[0] for r in con.execute(f'DESCRIBE "{source}"').fetchall()]
        for part in parts(source, cols):
            if part.kind in DEDUPED and part.column in cols and (source, part.column) not in out[part.kind]:
                out[part.kind].append((source, part.column))
    return {kind: refs for kind, refs in out.items() if refs}


def distinct_values(con: duckdb.DuckDBPyConnection, refs: list[tuple[str, str]]) -> pa.Array:
    """The distinct non-null values of the given columns, sorted (DuckDB does the work)."""
    union = " UNION ALL ".join(f'SELECT "{c}"::VARCHAR AS v FROM "{s}"' for s, c in refs)
    table = con.sql(f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL ORDER BY v").to_arrow_table()
    return table.column("v").combine_chunks().cast(pa.string())


def normalise_values(kind: str, values: pa.Array, rules: Path | None) -> pd.DataFrame:
    """A kind's normalised columns for some values (runs in a worker). The values reach the
    normaliser as a chunk's column does (Arrow -> pandas), so the dtypes are a chunk's."""
    series = values.to_pandas()  # as a table's column converts (a seventh of the cost for a few values)
    return KINDS[kind](series, rules).reset_index(drop=True)


def normalised_table(kind: str, values: pa.Array, rules: Path | None) -> pa.Table:
    """normalise_values' rows as an Arrow table; a kind with an Arrow path (table.ARROW_KINDS)
    skips the pandas frame."""
    arrow = ARROW_KINDS.get(kind)
    if arrow is not None:
        return arrow(values, rules)
    return pa.Table.from_pandas(normalise_values(kind, values, rules), preserve_index=False)


def _pieces(values: pa.Array, size: int, null_last: bool = False) -> Iterator[pa.Array]:
    """The values in pieces of `size`, each a compact copy: a slice pickles its parent's whole
    buffers, so every piece sent to a worker process carried all of the kind's values.
    `null_last`: a missing value after the last value (the dictionary's last row)."""
    n = len(values)
    for lo in range(0, max(n, 1) if null_last else n, size):
        last = null_last and lo + size >= n
        yield pa.concat_arrays([values.slice(lo, size)] + ([pa.nulls(1, values.type)] if last else []))


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

    def between(self, lo: int, hi: int, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, np.ndarray]:
        """The positions of the rows with lo < _row <= hi."""
        a, b = np.searchsorted(self.rows, [lo, hi], side="right")
        return {c: p[a:b] for c, p in self.columns.items()}


@dataclass
class StoredPositions:
    """Positions as `Positions` gives them, kept in a DuckDB table (`table`: _row, then one
    column per source column, in `columns`' order) and read a chunk of rows at a time. Why: held
    in Python they grew with the register (363 MiB at 5M residents, twice that while they were
    read); in DuckDB they stay within its memory limit and go to disk past it."""

    table: str
    columns: list[str]

    def between(self, lo: int, hi: int, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, np.ndarray]:
        """The positions of the rows with lo < _row <= hi (read through `con`)."""
        got = con.sql(f"SELECT * FROM {self.table} WHERE _row > {lo} AND _row <= {hi} ORDER BY _row").to_arrow_table()
        return {c: got.column(i + 1).to_numpy() for i, c in enumerate(self.columns)}

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.table}")


# A value's 64-bit hashes, the second over the value and a separator character: DuckDB's string
# hash alone gave two of 0.8M distinct addresses the same number.
_HASHES = {"h1": "hash({x})", "h2": "hash({x} || chr(31))"}


def _join_keys(con: duckdb.DuckDBPyConnection) -> str:
    """What a kind's value table (`_values`) keeps to be joined on: the first hash where it tells
    every value apart, else both, else the text. Every value of the sources is in the table, so a
    hash that is unique within it finds the one row holding that text; integers join about twice
    as fast as the texts they stand for."""
    h1, h2 = (_HASHES[k].format(x="v") for k in ("h1", "h2"))
    one, two = con.execute(f"SELECT count(DISTINCT {h1}) = count(*), count(DISTINCT ({h1}, {h2})) = count(*) "
                           "FROM _values").fetchall()[0]
    return f"{h1} AS h1" if one else f"{h1} AS h1, {h2} AS h2" if two else "v"


def _join_on(con: duckdb.DuckDBPyConnection, kind: str, alias: str, column: str) -> str:
    """The join condition of a source column to its kind's value table (by the keys it keeps)."""
    keys = [r[0] for r in con.execute(f"DESCRIBE {_table_name(kind)}").fetchall() if r[0] != "pos"]
    if keys == ["v"]:
        return f'{alias}.v = s."{column}"'
    text = f's."{column}"::VARCHAR'
    return " AND ".join(f"{alias}.{k} = {_HASHES[k].format(x=text)}" for k in keys)


def source_positions(con: duckdb.DuckDBPyConnection, source: str, dictionaries: Collection[str] | None,
                     into: str | None = None) -> Positions | StoredPositions:
    """Every row's positions in the dictionaries (of these kinds), found by one DuckDB join per
    column over the whole source (joining per chunk, or hashing a dictionary per chunk, costs a
    second a chunk). `into`: a table name: the positions are written there (StoredPositions)."""
    cols = [r[0] for r in con.execute(f'DESCRIBE "{source}"').fetchall()]
    refs = list(dict.fromkeys((p.column, p.kind) for p in parts(source, cols)
                              if dictionaries and p.kind in dictionaries and p.column in cols))
    select = "".join(f', CASE WHEN s."{column}" IS NULL THEN -1 ELSE coalesce(d{i}.pos, -2) END::INTEGER AS "p{i}"'
                     for i, (column, _) in enumerate(refs))
    joins = "".join(f" LEFT JOIN {_table_name(kind)} d{i} ON {_join_on(con, kind, f'd{i}', column)}"
                    for i, (column, kind) in enumerate(refs))
    query = f'SELECT s._row{select} FROM "{source}" s{joins} ORDER BY s._row'
    if into is not None:
        con.execute(f"CREATE OR REPLACE TABLE {into} AS {query}")
        return StoredPositions(into, [column for column, _ in refs])
    table = con.sql(query).to_arrow_table()
    return Positions(table.column("_row").to_numpy(),
                     {column: table.column(f"p{i}").to_numpy() for i, (column, _) in enumerate(refs)})


class _Feed:
    """Pieces of values given to the workers from a thread, at most `ahead` at a time: a piece
    waiting in the pool is a copy of its values, so giving every piece at once held each kind's
    values twice in the run's process while the workers caught up (330 MiB at 5M residents). The
    thread waits for a free worker; the run's process queries DuckDB meanwhile."""

    def __init__(self, pool: Executor, fn: Callable, rules: Path | None, piece_rows: int, ahead: int) -> None:
        self.pool, self.fn, self.rules, self.piece_rows = pool, fn, rules, piece_rows
        self.slots = threading.Semaphore(ahead)
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.jobs: list[tuple[str, Future]] = []  # in the order given: kinds, then their pieces
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="normalise-feed", daemon=True)
        self.thread.start()

    def add(self, kind: str, values: pa.Array) -> None:
        self.todo.put((kind, values))

    def _run(self) -> None:
        try:
            while (item := self.todo.get()) is not None:
                kind, values = item
                for piece in _pieces(values, self.piece_rows, null_last=True):
                    self.slots.acquire()
                    job = self.pool.submit(self.fn, kind, piece, self.rules)
                    job.add_done_callback(lambda _: self.slots.release())
                    self.jobs.append((kind, job))
        except BaseException as exc:  # raised again by `close`, in the run's thread
            self.error = exc

    def close(self) -> list[tuple[str, Future]]:
        """Every piece given: the jobs, in order."""
        self.todo.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.jobs


_AHEAD = 4  # pieces in the pool at once: one working and one waiting per worker, on two cores


def build_dictionaries(
    con: duckdb.DuckDBPyConnection,
    sources: list[str],
    rules: Path | None,
    piece_rows: int,
    pool: Executor | None = None,
    limit: str | None = None,
    meanwhile: Callable[[Collection[str]], None] | None = None,
    arrow: bool = False,
) -> dict[str, Dictionary]:
    """One Dictionary per deduplicated kind present in the sources' workspace tables. `pool`: worker
    processes (linkage/normalize/pool.py), given each kind's pieces as soon as its values are
    queried (the costliest kinds first, DEDUPED), so they work while the other kinds are queried;
    None: normalised here. `limit`: DuckDB's memory limit, to drop the pages the distinct-value
    queries left cached (a worker's memory counts beside the run's). `meanwhile(kinds)`: the
    caller's DuckDB work on the value -> position tables (source_positions), done while the
    workers normalise. `arrow` (a run's): the rows normalised as Arrow tables (normalised_table) and
    kept so, with no pandas frame and no values (`Dictionary.from_arrow`; every source's positions
    come from source_positions): a worker's frame of Python strings took longer to send back and,
    while the pieces were gathered, more memory than the Arrow table it becomes, and the values
    (one string per distinct value: 330 MiB at 5M residents) are released while the workers
    catch up."""
    fn = normalised_table if arrow else normalise_values
    size = max(int(piece_rows), 1)
    feed = _Feed(pool, fn, rules, size, _AHEAD) if pool is not None else None
    values_of: dict[str, pa.Array] = {}
    sizes: dict[str, int] = {}
    try:
        for kind, refs in kind_columns(con, sources).items():
            values = distinct_values(con, refs)
            values_of[kind], sizes[kind] = values, len(values)
            if feed is not None:
                feed.add(kind, values)
        if limit:
            drop_cached_blocks(con, limit)
        for kind, values in values_of.items():  # for source_positions: value -> position, as a DuckDB table
            con.register("_values", pa.table({"v": values, "pos": pa.array(np.arange(len(values), dtype=np.int64))}))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_table_name(kind)} AS SELECT {_join_keys(con)}, pos FROM _values")
            con.unregister("_values")
        values = None
        if arrow and feed is not None:  # the feed holds a kind's values until it has cut its last piece
            values_of.clear()
        if meanwhile is not None:
            meanwhile(set(sizes))
    finally:
        jobs = feed.close() if feed is not None else None
    if jobs is None:  # normalised here, piece by piece as a worker would
        jobs = [(kind, fn(kind, piece, rules)) for kind, values in values_of.items()
                for piece in _pieces(values, size, null_last=True)]
    rows: dict[str, list] = {}
    while jobs:  # each piece's rows released from its job as it is gathered
        kind, job = jobs.pop(0)
        rows.setdefault(kind, []).append(job.result() if isinstance(job, Future) else job)
    if arrow:
        return {kind: Dictionary.from_arrow(kind, sizes[kind], _concat(rows.pop(kind))) for kind in sizes}
    return {kind: Dictionary(kind, values_of[kind], pd.concat(rows.pop(kind), ignore_index=True))
            for kind in sizes}


def _concat(tables: list[pa.Table]) -> pa.Table:
    """A kind's pieces as one table, one chunk per column (a take over many chunks copies them
    all first). A column all missing in one piece is typed null there and takes the others' type."""
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def shape_columns(part: Part, columns: list[str]) -> dict[str, str]:
    """A part's output column -> its kind's column (every shape selects and renames)."""
    shaped = part.shape(pd.DataFrame({c: [c] for c in columns}))
    return {out: shaped[out].iloc[0] for out in shaped.columns}


_SHAPES: dict[tuple[str, str, tuple[str, ...]], dict[str, str]] = {}


def _shape_of(part: Part, columns: list[str]) -> dict[str, str]:
    """shape_columns once per (kind, input column, kind's columns): a part's shape depends on
    nothing else (table.parts), and building the one-row frame was 5% of preparing a chunk."""
    key = (part.kind, part.column, tuple(columns))
    if key not in _SHAPES:
        _SHAPES[key] = shape_columns(part, columns)
    return _SHAPES[key]


def normalised_arrow(raw: pa.Table, source: str, rules: Path | None, dictionaries: dict[str, Dictionary],
                     positions: dict[str, np.ndarray], keep: Collection[str]) -> pa.Table:
    """The input columns and the `keep` columns of those `normalize_table(raw.to_pandas(), source,
    rules, dictionaries, positions)` gives, as an Arrow table: each part's rows taken from its
    kind's dictionary in Arrow (a kind without one, the ids, normalised as a pandas column). A
    register chunk's pandas frame (85 columns, taken row by row from the dictionaries, then
    converted back to Arrow) was most of the run process's time in the chunk loop."""
    n = raw.num_rows
    out = {name: raw.column(name) for name in raw.column_names}
    for part in parts(source, raw.column_names):
        present = part.column in raw.column_names
        if part.kind in dictionaries:
            d = dictionaries[part.kind]
            wanted = {name: col for name, col in _shape_of(part, d.columns).items() if name in keep}
            pos = (positions[part.column] if part.column in positions
                   else d.positions(raw.column(part.column).combine_chunks().cast(pa.string())) if present
                   else np.full(n, -1, dtype=np.int64))
            got = d.arrow_rows(pos, list(dict.fromkeys(wanted.values())))
        elif present and part.kind in ARROW_KINDS:  # the ids, by their Arrow path (the same table)
            got = ARROW_KINDS[part.kind](raw.column(part.column).combine_chunks(), rules)
            wanted = {name: col for name, col in _shape_of(part, got.column_names).items() if name in keep}
        else:
            values = (raw.column(part.column).to_pandas() if present
                      else pd.Series(pd.NA, index=range(n), dtype="string"))
            got = pa.Table.from_pandas(KINDS[part.kind](values, rules), preserve_index=False)
            wanted = {name: col for name, col in _shape_of(part, got.column_names).items() if name in keep}
        for name, col in wanted.items():
            if name in out:
                raise RuntimeError(f"normalised column name clash: {[name]}")
            out[name] = got.column(col)
    return pa.table(out)


_FEW_ROWS = 8  # a memo's look-up of up to this many values joins one-row slices


class ValueMemo:
    """Each kind's values normalised once and kept across calls, for a caller that normalises a few
    records at a time, again and again: the desk (linkage/screen) sees the same places,
    ethnicities, birth dates and names over and over, and a field normaliser's fixed pandas cost
    for a one-row frame is most of a record's normalisation. A call's new values of a kind go
    through `normalise_values` together (as a run's dictionaries do); each kind's rows are kept as
    one Arrow table, and a call's prepared table is assembled from them in Arrow (no pandas frame
    per call): the table `prepared_arrow(normalize_table(...))` gives. Bounded: past `max_values`
    values of a kind, that kind starts afresh (with the call's values)."""

    _COMPACT = 64  # a kind's pieces are merged into one when there are more

    def __init__(self, rules: Path | None = None, max_values: int = 200_000) -> None:
        self.rules, self.max_values = rules, max_values
        self._where: dict[str, dict[str | None, tuple[int, int]]] = {}  # kind -> value -> (piece, row)
        self._pieces: dict[str, list[pa.Table]] = {}
        self._lock = threading.Lock()  # a server's calls may come from several threads

    def prepared(self, columns: Mapping[str, Sequence[object]], source: str, uid_column: str) -> pa.Table:
        """prepared_arrow(normalize_table(frame, source, rules), uid_column, source), from the memo,
        for the records whose values `columns` holds per column (a frame, or a dict of lists: the
        desk's records need no frame)."""
        from linkage.prepare import prepared_arrow

        values = {c: [_text_value(v) for v in columns[c]] for c in columns}
        n = len(next(iter(values.values()), []))
        cols = {c: pa.array(v, pa.string()) for c, v in values.items()}
        found = [(part, values.get(part.column, [None] * n)) for part in parts(source, list(values))]
        with self._lock:
            for kind in dict.fromkeys(part.kind for part, _ in found):  # a kind's new values: one call
                self.learn(kind, [v for part, got in found if part.kind == kind for v in got])
            for part, got in found:
                rows = self._rows(part.kind, got)
                for out, col in _shape_of(part, rows.column_names).items():
                    cols[out] = rows.column(col).combine_chunks()
        return prepared_arrow(pa.table(cols), uid_column, source)

    def _rows(self, kind: str, values: list[str | None]) -> pa.Table:
        """The kind's normalised rows of these values, in order: a take from each piece holding
        some (a take on a many-chunked table would first copy all of it)."""
        pieces, where = self._pieces[kind], self._where[kind]
        if len(values) <= _FEW_ROWS:  # one-row slices: a take runs a kernel per column
            return pa.concat_tables([pieces[k].slice(i, 1) for k, i in (where[v] for v in values)]
                                    or [pieces[0].slice(0, 0)], promote_options="permissive")
        at = np.array([where[v] for v in values], dtype=np.int64).reshape(-1, 2)
        used = np.unique(at[:, 0])
        if len(used) == 1:
            return pieces[int(used[0])].take(pa.array(at[:, 1]))
        picked = [np.flatnonzero(at[:, 0] == p) for p in used]
        joined = pa.concat_tables([pieces[int(p)].take(pa.array(at[i, 1])) for p, i in zip(used, picked)],
                                  promote_options="permissive")
        return joined.take(pa.array(np.argsort(np.concatenate(picked))))

    def learn(self, kind: str, values: list[str | None]) -> None:
        """Normalise the values the kind's pieces lack (in one normaliser call, one new piece)."""
        where = self._where.setdefault(kind, {})
        new = [v for v in dict.fromkeys(values) if v not in where]
        if not new:
            return
        if len(where) + len(new) > self.max_values:
            where.clear()
            self._pieces[kind] = []
            new = list(dict.fromkeys(values))
        pieces = self._pieces.setdefault(kind, [])
        table = normalised_table(kind, pa.array(new, pa.string()), self.rules)
        # as the prepared table types its text (string), once here rather than cast on every call
        for i, f in enumerate(table.schema):
            if f.type == pa.large_string():
                table = table.set_column(i, f.with_type(pa.string()), table.column(i).cast(pa.string()))
        pieces.append(table)
        where.update({v: (len(pieces) - 1, i) for i, v in enumerate(new)})
        if len(pieces) > self._COMPACT:
            offsets = np.cumsum([0] + [p.num_rows for p in pieces])
            self._pieces[kind] = [pa.concat_tables(pieces, promote_options="permissive").combine_chunks()]
            for v, (k, i) in where.items():
                where[v] = (0, int(offsets[k]) + i)


def _text_value(v: object) -> str | None:
    return None if v is None or v is pd.NA or v != v else str(v)
