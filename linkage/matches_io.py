"""`matches.parquet` as one file (the usual case) or, past `engine.matches_partition_rows` rows, a
folder of that name holding Parquet parts (part-00000.parquet, ...): each part a run of whole
wanted records in the file's order (wanted_id, rank), so the parts read in name order are the
single file's rows. Both forms read the same in DuckDB (`matches_source`) and pandas/pyarrow
(`read_matches`); every reader in the package opens matches through these functions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import RulesError

PARTITION_ROWS = 5_000_000  # default of engine.matches_partition_rows
PART = "part-{:05d}.parquet"


def partition_rows(settings) -> int:
    """engine.matches_partition_rows from the rules (rows above which matches are written as parts)."""
    value = settings.engine.get("matches_partition_rows", PARTITION_ROWS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RulesError(f"{settings.path}: engine.matches_partition_rows: expected a positive whole number of rows, "
                         f"got {value!r}")
    return value


def matches_parts(path: Path | str) -> list[Path]:
    """The Parquet files of a matches output: the file itself, or the folder's parts in order;
    [] when there is none."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.glob("part-*.parquet"))
    return []


def is_matches(path: Path | str) -> bool:
    """A matches output is there (a file, or a folder with at least one part)."""
    return bool(matches_parts(path))


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def matches_source(path: Path | str) -> str:
    """The DuckDB table expression that reads the matches in either form, in file order."""
    parts = matches_parts(path) or [Path(path)]  # a missing file: DuckDB's own error names it
    if len(parts) == 1:
        return f"read_parquet({_q(parts[0])})"
    return "read_parquet([" + ", ".join(_q(p) for p in parts) + "])"


def read_matches(path: Path | str, columns: list[str] | None = None) -> pa.Table:
    """The matches as one Arrow table (`.to_pandas()` for pandas), in file order, in either form."""
    parts = matches_parts(path)
    if not parts:
        raise FileNotFoundError(f"{path}: matches file not found")
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in parts])


def matches_form(path: Path | str) -> dict[str, Any]:
    """What the manifest says about the written matches: one file or a folder of parts, and rows."""
    parts = matches_parts(path)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    if Path(path).is_dir():
        return {"form": "parts", "parts": len(parts), "rows": rows}
    return {"form": "file", "rows": rows}


def split_matches(con: duckdb.DuckDBPyConnection, path: Path, limit: int) -> Path:
    """A written matches file of more than `limit` rows becomes the folder `path` of parts of about
    `limit` rows, cut between wanted records; the parts are written into a temporary folder beside
    it and renamed in its place (the file is removed only then). A smaller file is left as it is."""
    path = Path(path)
    rows = pq.ParquetFile(path).metadata.num_rows
    if rows <= limit:
        return path
    src = f"read_parquet({_q(path)}, file_row_number = true)"
    # each wanted record's rows go to the part of its first row: cuts fall between wanted records
    ranges = con.execute(f"""
        SELECT min(first) AS lo, max(last) AS hi FROM (
            SELECT min(file_row_number) AS first, max(file_row_number) AS last FROM {src} GROUP BY wanted_id)
        GROUP BY first // {int(limit)} ORDER BY lo""").fetchall()
    tmp = path.with_name(f".{path.name}.parts-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for i, (lo, hi) in enumerate(ranges):
            con.execute(f"""COPY (SELECT * EXCLUDE (file_row_number) FROM {src}
                                  WHERE file_row_number BETWEEN {int(lo)} AND {int(hi)} ORDER BY file_row_number)
                            TO {_q(tmp / PART.format(i))} (FORMAT parquet, COMPRESSION zstd)""")
        path.unlink()
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
