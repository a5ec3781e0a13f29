"""DuckDB's buffer pool between the steps of a job: what it caches stays resident until the memory
limit is reached, beside what Python holds."""

from __future__ import annotations

import duckdb

_FLOOR = "32MB"


def drop_cached_blocks(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Evict the pages DuckDB caches (the workspace tables' pages a query has just read: about
    0.5 GB after normalisation's distinct-value queries at 1M) by lowering its memory limit for a
    moment, then set `limit`. A temporary table in memory would be written to the temp directory:
    call it where there is none. If DuckDB cannot go that low it keeps what it could not evict."""
    try:
        con.execute(f"SET memory_limit = '{_FLOOR}'")
    except duckdb.Error:
        pass
    con.execute(f"SET memory_limit = '{limit}'")
