"""A fingerprint per source record: the MD5 of its contract fields as JSON (nulls and empty
strings kept apart), computed in one DuckDB pass. Equal fingerprint = nothing to redo."""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

import duckdb

from linkage.ingest.contract import COLUMNS


def fingerprint_sql(source: str, alias: str = "t") -> str:
    """SQL expression: the fingerprint of a row of `source` with its contract columns."""
    fields = ", ".join(f"{c} := {alias}.{c}" for c in COLUMNS[source])
    return f"md5(CAST(to_json(struct_pack({fields})) AS VARCHAR))"


def fingerprinted(con: duckdb.DuckDBPyConnection, relation: str, into: str, source: str) -> int:
    """Temp table `into`: the contract columns of `relation` plus `fp`; returns its rows."""
    cols = ", ".join(f"CAST(t.{c} AS VARCHAR) AS {c}" for c in COLUMNS[source])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT {cols}, {fingerprint_sql(source)} AS fp FROM {relation} t")
    return con.execute(f"SELECT count(*) FROM {into}").fetchall()[0][0]


def fingerprint(values: Mapping[str, str | None], source: str) -> str:
    """fingerprint_sql's value for one record, computed here (the desk's records: DuckDB's to_json
    writes what json.dumps writes with these options; a record where they differ only misses the
    stored row's reuse, tests/test_screen.py checks the sample's)."""
    text = json.dumps({c: values.get(c) for c in COLUMNS[source]}, ensure_ascii=False, separators=(",", ":"))
    return hashlib.md5(text.encode("utf-8")).hexdigest()
