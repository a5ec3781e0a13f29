"""DuckDB's cached pages handed back between steps (linkage/buffer_pool.py)."""

from __future__ import annotations

import duckdb

from linkage.buffer_pool import drop_cached_blocks


def _cached_mb(con: duckdb.DuckDBPyConnection) -> float:
    return con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) / 1e6 FROM duckdb_memory() "
                       "WHERE tag = 'BASE_TABLE'").fetchall()[0][0]


def test_cached_pages_of_a_table_read_are_dropped_and_the_limit_set_back(tmp_path):
    path = tmp_path / "ws.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET force_compression = 'uncompressed'")  # as ingest stores the sources (rules/matching.yaml)
    con.execute("CREATE TABLE t AS SELECT range AS i, repeat('x', 40) || range::VARCHAR AS s FROM range(2000000)")
    con.close()
    con = duckdb.connect(str(path))
    con.execute("SET memory_limit = '512MB'")
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute("SELECT count(DISTINCT s) FROM t").fetchall()
    before = _cached_mb(con)
    assert before > 60  # the table's pages stay cached after the query, well under the limit
    drop_cached_blocks(con, "512MB")
    assert _cached_mb(con) <= 32  # at most what fits under the moment's limit of 32MB
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == limit
    assert con.execute("SELECT count(*) FROM t").fetchall()[0][0] == 2_000_000
