"""Output files, written to a temporary path and renamed so a crash never leaves half a file:
matches.parquet (the output contract in DESIGN.md) and the run manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb

from linkage.ingest.atomic import atomic_path, write_text
from linkage.explain import explanation_sql, flags_sql, rules_list_sql
from linkage.settings import Settings


def fingerprint(path: Path, chunk: int = 1 << 20) -> dict[str, Any]:
    """SHA-256 and size of an input file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": h.hexdigest()}


def atomic_write_text(path: Path, text: str) -> Path:
    return write_text(text, path)


def atomic_copy_parquet(con: duckdb.DuckDBPyConnection, select_sql: str, path: Path) -> Path:
    """COPY a query to Parquet at a temporary name in the same directory, then rename."""
    with atomic_path(path) as tmp:
        con.execute(f"COPY ({select_sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    return path


def matches_sql(settings: Settings, run_id: str) -> str:
    """The output rows, in a fixed order so equal inputs give byte-identical files."""
    flags = "".join(f"{sql} AS {name},\n" for name, sql in flags_sql(settings).items())
    mws = ", ".join(f"s.mw_{c.name}" for c in settings.comparisons)
    return f"""
        WITH kept AS (SELECT DISTINCT person_idx FROM scored),
        src AS (
            SELECT person_idx, string_agg(DISTINCT src, '+' ORDER BY src DESC) AS sources
            FROM reg SEMI JOIN kept USING (person_idx) GROUP BY person_idx
        ),
        main AS (  -- the person's resident record when there is one (a run loads residents first)
            SELECT * FROM reg SEMI JOIN kept USING (person_idx)
            QUALIFY row_number() OVER (PARTITION BY person_idx ORDER BY src <> 'residents', r_idx) = 1
        )
        SELECT '{run_id}' AS run_id,
               l.uid AS wanted_id,
               r.uid AS person_id,
               CAST(s.rank AS INTEGER) AS rank,
               src.sources,
               s.match_weight,
               s.match_probability,
               s.pair_probability,
               {mws},
               {flags}
               {explanation_sql(settings)} AS explanation,
               {rules_list_sql(settings)} AS blocking_rules
        FROM scored s
        JOIN w l ON l.w_idx = s.w_idx
        JOIN main r ON r.person_idx = s.person_idx
        JOIN src ON src.person_idx = s.person_idx
        ORDER BY l.uid, s.rank
    """


def write_matches(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, run_id: str) -> Path:
    return atomic_copy_parquet(con, matches_sql(settings, run_id), path)


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n")
