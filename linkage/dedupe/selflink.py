"""The wanted list as both sides of the engine: `w` and `reg` hold the same normalised records,
so the engine's blocking rules, comparisons and model run unchanged; pairs are kept once
(l = the smaller wanted_id), never a record with itself."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from linkage.block import RuleCount, block
from linkage.errors import InputError
from linkage.ingest.pipeline import read_source_checked
from linkage.normalize.table import normalize_table
from linkage.prepare import add_wanted, finish_register, load_register, prepared_arrow, start_register, uses_place_text
from linkage.settings import Settings

# Wanted-only columns the dedupe rules compare or check, kept beside the engine's tables.
EXTRA_TABLE = "wx"


def read_wanted(path: Path, rules: Path | None) -> tuple[pd.DataFrame, dict]:
    """Accepted wanted rows (the ingest's checks: bad rows are left out and counted)."""
    got = read_source_checked(path, "wanted", rules)
    if got.accepted.num_rows == 0:
        raise InputError(f"{path}: no usable wanted row ({got.report.rows_read:,} read, all quarantined)")
    frame = got.accepted.to_pandas()
    counts = {"rows_read": got.report.rows_read, "rows_accepted": got.accepted.num_rows,
              "rows_quarantined": got.report.rows_quarantined}
    return frame, {"counts": counts, "quarantine": got.quarantine}


def build_tables(con: duckdb.DuckDBPyConnection, settings: Settings, wanted: pd.DataFrame, rules: Path | None,
                 extra_columns: list[str]) -> int:
    """Normalise the wanted records once and load them as `w` and as `reg` (uid = wanted_id),
    plus `wx` (uid, w_idx, person_idx and the raw wanted-only columns). Returns the record count."""
    place_text = uses_place_text(
        [r.left + r.right + (r.filter or "") for r in settings.blocking] + [str(c.params) for c in settings.comparisons]
    )
    norm = normalize_table(wanted.drop(columns=["_row"], errors="ignore"), "wanted", rules=rules)
    start_register(con)
    n = add_wanted(con, norm, place_text)
    load_register(con, prepared_arrow(norm, "wanted_id", "wanted"), place_text)
    finish_register(con, [col for c in settings.comparisons for col in c.tf.values()])
    cols = {"uid": pa.array(wanted["wanted_id"].astype(str).tolist(), pa.string())}
    for c in extra_columns:
        values = wanted[c] if c in wanted.columns else pd.Series([None] * len(wanted))
        cols[c] = pa.array(values.astype(object).where(values.notna(), None).tolist(), pa.string())
    con.register("_wx", pa.table(cols))
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {EXTRA_TABLE} AS
                SELECT w.w_idx, r.person_idx, x.* FROM _wx x
                JOIN w ON w.uid = x.uid
                JOIN (SELECT DISTINCT uid, person_idx FROM reg) r ON r.uid = x.uid"""
        )
    finally:
        con.unregister("_wx")
    return n


def self_pairs(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[RuleCount]:
    """Table `pairs(pair_idx, w_idx, person_idx, rules)`: every pair of distinct records some
    blocking rule finds, once (l = the smaller wanted_id; rules found either way are merged)."""
    counts = block(con, settings, into="pairs_both")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pairs AS
        WITH j AS (
            SELECT least(l.uid, r.uid) AS a, greatest(l.uid, r.uid) AS b, p.rules
            FROM pairs_both p JOIN {EXTRA_TABLE} l ON l.w_idx = p.w_idx
            JOIN {EXTRA_TABLE} r ON r.person_idx = p.person_idx
            WHERE l.uid <> r.uid
        ), c AS (SELECT a, b, bit_or(rules) AS rules FROM j GROUP BY a, b)
        SELECT row_number() OVER (ORDER BY l.w_idx, r.person_idx) - 1 AS pair_idx,
               l.w_idx, r.person_idx, c.rules
        FROM c JOIN {EXTRA_TABLE} l ON l.uid = c.a JOIN {EXTRA_TABLE} r ON r.uid = c.b
        """
    )
    con.execute("DROP TABLE pairs_both")
    return counts
