"""Ids repeated across the batches of a file: found in the workspace table once every batch is
in, and quarantined as validate words them (the first row of an id is kept, the others name it)."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import numpy as np
import pyarrow as pa

from linkage.ingest import quarantine
from linkage.ingest.contract import KEY, ROW
from linkage.ingest.mapping import HeaderMatch
from linkage.ingest.raw import RawTable
from linkage.ingest.validate import Finding, duplicate_reasons


def repeated_rows(con: duckdb.DuckDBPyConnection, table: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(data row, data row of the id's first row) of each row of `table` whose id an earlier row
    has, by row. Only the repeated ids are windowed: they are few, the table is the whole file."""
    got = con.execute(f"""
        WITH ids AS (SELECT "{key}" AS k FROM "{table}" GROUP BY ALL HAVING count(*) > 1)
        SELECT {ROW}, first FROM (
            SELECT {ROW}, min({ROW}) OVER (PARTITION BY "{key}") AS first
            FROM "{table}" SEMI JOIN ids ON "{key}" = ids.k)
        WHERE {ROW} > first ORDER BY {ROW}""").fetchnumpy()
    return np.asarray(got[ROW], np.int64), np.asarray(got["first"], np.int64)


def drop_rows(con: duckdb.DuckDBPyConnection, table: str, rows: np.ndarray) -> None:
    con.register("_drop", pa.table({ROW: pa.array(rows, pa.int64())}))
    try:
        con.execute(f'DELETE FROM "{table}" WHERE {ROW} IN (SELECT {ROW} FROM _drop)')
    finally:
        con.unregister("_drop")


def quarantine_lines(raw: RawTable, first: np.ndarray, source: str, path: str, match: HeaderMatch) -> pa.Table:
    """Every row of `raw` repeats an earlier row's id (`first`: that row's number) -> its
    quarantine lines, with the id as the file gave it."""
    key = KEY[source]
    values = raw.table.column(match.columns[key]).combine_chunks()
    finding = Finding(np.arange(raw.table.num_rows, dtype=np.int64), key, duplicate_reasons(key, first), values)
    return quarantine.build(source, path, raw, [finding])


def repeated_quarantine(batches: Iterable[RawTable], rows: np.ndarray, first: np.ndarray, source: str, path: str,
                        match: HeaderMatch) -> list[pa.Table]:
    """The quarantine lines of the data rows `rows` (ascending), from a second pass over the file."""
    parts = []
    found = 0
    for raw in batches:
        hit = np.isin(raw.rows, rows)
        if hit.any():
            pos = np.flatnonzero(hit)
            sub = RawTable(raw.headers, raw.table.take(pa.array(pos, pa.int64())), raw.rows[pos], raw.format)
            parts.append(quarantine_lines(sub, first[np.searchsorted(rows, sub.rows)], source, path, match))
            found += len(pos)
        if found == len(rows):
            break
    return parts
