"""The DuckDB workspace file that every later stage reads: one table per source."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage.ingest.atomic import atomic_path

WORKSPACE = "workspace.duckdb"


def write_tables(path: Path, tables: dict[str, pa.Table | Path]) -> None:
    """Create or replace the given tables; tables of sources not ingested this time are kept. A
    table may be given as a Parquet file (the Spark engine's accepted rows), read by DuckDB in
    its order without passing through Python. See `open_tables`."""
    with open_tables(path) as out:
        for name, table in tables.items():
            out.put(name, table)


class Tables:
    """The workspace being written: whole tables, or a source's rows batch by batch."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def put(self, name: str, table: pa.Table | Path) -> None:
        """Create or replace one table at once."""
        if isinstance(table, Path):
            self.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet({_sql_text(table)})')
            return
        self._from_arrow(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _incoming', table)

    def append(self, name: str, table: pa.Table) -> None:
        """Add rows to a table made by `put` (same columns)."""
        self._from_arrow(f'INSERT INTO "{name}" SELECT * FROM _incoming', table)

    def _from_arrow(self, sql: str, table: pa.Table) -> None:
        self.con.register("_incoming", table)
        try:
            self.con.execute(sql)
        finally:
            self.con.unregister("_incoming")


@contextmanager
def open_tables(path: Path, memory_limit: str | None = None,
                compression: str | None = None) -> Iterator[Tables]:
    """Yield the Tables being written, so a caller can hand over a source's rows batch by batch
    and let them go before reading the next (ingestion's memory is a batch's, not a file's).

    Works on a copy that replaces the file at the end (atomic for readers of the old file; an
    exception leaves the old file as it was). A write-ahead log left beside the old file by a
    killed process is replayed into it first (or, if the old file cannot be opened, the old file
    is not kept), and never survives the replacement: a WAL beside a file it was not written for
    stops DuckDB from opening that file. `memory_limit` (the rules' engine.memory_limit): without
    it DuckDB may keep a source's new table in memory, up to 80% of the machine's; with it the
    table goes to the file as it is made. `compression` (the rules' engine.workspace_compression):
    DuckDB's `force_compression` for the tables written here (None: DuckDB's choice)."""
    wal = path.with_name(path.name + ".wal")
    keep_old = path.exists() and _settled(path, wal)
    with atomic_path(path) as tmp:
        if keep_old:
            shutil.copyfile(path, tmp)
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET enable_progress_bar = false")  # the caller reports; keep stdout clean
            if memory_limit:
                con.execute(f"SET memory_limit = '{memory_limit}'")
            if compression:
                con.execute(f"SET force_compression = {_sql_text(compression)}")
            yield Tables(con)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if wal.exists():
            wal.unlink()


def _sql_text(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _settled(path: Path, wal: Path) -> bool:
    """True when `path` can be copied as it is: no WAL beside it, or the WAL was replayed."""
    if not wal.exists():
        return True
    try:
        con = duckdb.connect(str(path))
        con.execute("CHECKPOINT")
        con.close()
    except duckdb.Error:
        wal.unlink()
        return False
    return not wal.exists()
