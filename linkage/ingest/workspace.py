"""The DuckDB workspace file that every later stage reads: one table per source."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage.ingest.atomic import atomic_path

WORKSPACE = "workspace.duckdb"


def write_tables(path: Path, tables: dict[str, pa.Table]) -> None:
    """Create or replace the given tables; tables of sources not ingested this time are kept.

    Works on a copy that replaces the file at the end (atomic for readers of the old file)."""
    with atomic_path(path) as tmp:
        if path.exists():
            shutil.copyfile(path, tmp)
        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET enable_progress_bar = false")  # the caller reports; keep stdout clean
            for name, table in tables.items():
                con.register("_incoming", table)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _incoming')
                con.unregister("_incoming")
            con.execute("CHECKPOINT")
        finally:
            con.close()
