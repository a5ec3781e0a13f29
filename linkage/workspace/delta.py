"""What changed tonight, per source: records added, changed (same id, other fingerprint) and
removed, found from a snapshot (full file: what is missing was removed) or from a delta file of
added or changed records plus a file of removed ids. Everything is SQL over temp tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage.errors import InputError, UsageError
from linkage.ingest.contract import COLUMNS, ID12, KEY, SOURCES
from linkage.ingest.pipeline import read_source_checked
from linkage.workspace.fingerprint import fingerprinted
from linkage.workspace.store import has_table


@dataclass
class SourceInput:
    """Tonight's input for one source: a full snapshot, or a delta and/or a removed-ids file."""

    snapshot: Path | None = None
    delta: Path | None = None
    removed: Path | None = None

    @property
    def given(self) -> bool:
        return any(p is not None for p in (self.snapshot, self.delta, self.removed))

    @property
    def mode(self) -> str:
        return "snapshot" if self.snapshot is not None else "delta"


@dataclass
class SourceDelta:
    source: str
    mode: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    unknown_removed: int = 0  # ids in a removed file the workspace does not hold
    ingest: dict = field(default_factory=dict)
    quarantine: list[pa.Table] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged, "unknown_removed": self.unknown_removed}


def raw_table(source: str) -> str:
    return f"raw_{source}"


def check_inputs(inputs: dict[str, SourceInput]) -> None:
    """A snapshot and a delta of the same source cannot both be given."""
    for source, inp in inputs.items():
        if inp.snapshot is not None and (inp.delta is not None or inp.removed is not None):
            opt = source.replace("_", "-")
            raise UsageError(f"{source}: give either a snapshot (--{opt}) or a delta (--{opt}-delta, "
                             f"--removed-{opt}), not both")


def _key_clean(source: str, expr: str) -> str:
    """How ingest stores the source's id: 12-digit ids without separators, others trimmed."""
    key = KEY[source]
    if key in ID12[source]:
        return f"regexp_replace(trim({expr}), '[\\s.\\-]', '', 'g')"
    return f"trim({expr})"


def read_removed(con: duckdb.DuckDBPyConnection, path: Path, source: str, into: str) -> int:
    """Temp table `into(key)` from a file of removed ids (CSV with a header, Parquet or JSON Lines):
    the column named as the source's id, else the file's only column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: removed-ids file not found")
    key = KEY[source]
    reader = "read_parquet" if path.suffix.lower() == ".parquet" else (
        "read_json_auto" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "read_csv")
    extra = ", all_varchar = true, header = true" if reader == "read_csv" else ""
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}('{path}'{extra})").fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read the removed-ids file: {str(exc).splitlines()[0]}") from None
    col = key if key in cols else (cols[0] if len(cols) == 1 else None)
    if col is None:
        raise InputError(f"{path}: removed-ids file needs a column '{key}' (found: {', '.join(cols)})")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {into} AS SELECT DISTINCT {_key_clean(source, f'CAST("{col}" AS VARCHAR)')} AS key
                    FROM {reader}('{path}'{extra}) WHERE "{col}" IS NOT NULL AND trim(CAST("{col}" AS VARCHAR)) <> ''""")
    return con.execute(f"SELECT count(*) FROM {into}").fetchall()[0][0]


def read_incoming(con: duckdb.DuckDBPyConnection, source: str, path: Path, rules: Path | None,
                  delta: SourceDelta) -> None:
    """Read and validate a file as ingest does (quarantine kept for the night's folder), into temp
    table `in_<source>` with fingerprints."""
    try:
        read = read_source_checked(path, source, rules)
    except InputError as exc:
        if delta.mode == "delta" and str(exc).endswith("has a header row but no data rows"):
            fingerprinted(con, f"(SELECT * FROM {raw_table(source)} WHERE FALSE)", f"in_{source}", source)
            return  # an empty delta file: nothing changed in this source tonight
        raise
    delta.ingest = read.report.to_dict()
    delta.quarantine.append(read.quarantine)
    con.register("_accepted", read.accepted)
    try:
        fingerprinted(con, "_accepted", f"in_{source}", source)
    finally:
        con.unregister("_accepted")


def classify(con: duckdb.DuckDBPyConnection, source: str, inp: SourceInput, rules: Path | None,
             rebuild: bool = False) -> SourceDelta:
    """Temp table `chg_<source>(key, kind)` (kind: added, changed, removed) and `in_<source>` (the
    incoming contract rows with fp). With `rebuild`, every stored record counts as changed (the
    rules changed: all must be prepared again)."""
    key = KEY[source]
    raw = raw_table(source)
    d = SourceDelta(source, inp.mode if inp.given else "none")
    if not has_table(con, raw):
        cols = ", ".join(f"{c} VARCHAR" for c in COLUMNS[source])
        con.execute(f"CREATE TABLE {raw} ({cols}, fp VARCHAR, added_on DATE, changed_on DATE)")
    add_missing_columns(con, raw, {c: "VARCHAR" for c in COLUMNS[source]})
    incoming = inp.snapshot or inp.delta
    if incoming is not None:
        read_incoming(con, source, incoming, rules, d)
    else:
        fingerprinted(con, f"(SELECT * FROM {raw} WHERE FALSE)", f"in_{source}", source)
    if inp.removed is not None:
        read_removed(con, inp.removed, source, f"gone_{source}")
        clash = con.execute(f"SELECT count(*) FROM in_{source} JOIN gone_{source} g ON g.key = {key}").fetchall()[0][0]
        if clash:
            raise InputError(f"{inp.removed}: {clash} id(s) are both removed and in {inp.delta} (the delta file); "
                             "a record is either changed or removed in one night")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE gone_{source} (key VARCHAR)")
    removed_sql = (f"SELECT s.{key} FROM {raw} s ANTI JOIN in_{source} i ON i.{key} = s.{key}"
                   if inp.snapshot is not None else f"SELECT g.key FROM gone_{source} g SEMI JOIN {raw} s ON s.{key} = g.key")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE chg_{source} AS
        SELECT i.{key} AS key, CASE WHEN s.{key} IS NULL THEN 'added' ELSE 'changed' END AS kind
        FROM in_{source} i LEFT JOIN {raw} s ON s.{key} = i.{key}
        WHERE s.{key} IS NULL OR s.fp <> i.fp
        UNION ALL
        SELECT k, 'removed' FROM ({removed_sql}) r(k)
    """)
    n_in = con.execute(f"SELECT count(*) FROM in_{source}").fetchall()[0][0]
    n_new = con.execute(f"SELECT count(*) FROM chg_{source} WHERE kind <> 'removed'").fetchall()[0][0]
    d.unchanged = n_in - n_new if incoming is not None else 0
    if rebuild:  # every stored record neither changed nor removed tonight is prepared again
        con.execute(f"""INSERT INTO chg_{source} SELECT s.{key}, 'changed' FROM {raw} s
                        ANTI JOIN chg_{source} c ON c.key = s.{key}""")
    counts = dict(con.execute(f"SELECT kind, count(*) FROM chg_{source} GROUP BY kind").fetchall())
    d.added, d.changed, d.removed = counts.get("added", 0), counts.get("changed", 0), counts.get("removed", 0)
    if inp.removed is not None:
        d.unknown_removed = con.execute(f"SELECT count(*) FROM gone_{source} g ANTI JOIN {raw} s ON s.{key} = g.key").fetchall()[0][0]
    return d


def add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> list[str]:
    """Columns a newer version added (a contract column, a prepared column) added to a workspace's
    stored table, NULL in its old rows: an older workspace keeps working (its records are prepared
    again when the prepare stage changed, see stages.py)."""
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    added = [c for c in columns if c not in have]
    for c in added:
        con.execute(f'ALTER TABLE {table} ADD COLUMN "{c}" {columns[c]}')
    return added


def apply_raw(con: duckdb.DuckDBPyConnection, source: str, night: str) -> None:
    """Store tonight's raw records: changed and removed ones out, added and changed ones in, with
    the night they were first seen and last changed (inside the night's transaction)."""
    key = KEY[source]
    raw = raw_table(source)
    cols = ", ".join(f"i.{c}" for c in COLUMNS[source])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _raw_new AS
        SELECT {cols}, i.fp, coalesce(s.added_on, DATE '{night}') AS added_on,
               CASE WHEN s.fp IS NOT DISTINCT FROM i.fp THEN s.changed_on ELSE DATE '{night}' END AS changed_on
        FROM in_{source} i JOIN chg_{source} c ON c.key = i.{key} AND c.kind IN ('added', 'changed')
        LEFT JOIN {raw} s ON s.{key} = i.{key}
    """)
    con.execute(f"""DELETE FROM {raw} WHERE {key} IN (SELECT {key} FROM _raw_new)
                    OR {key} IN (SELECT key FROM chg_{source} WHERE kind = 'removed')""")
    con.execute(f"INSERT INTO {raw} BY NAME SELECT * FROM _raw_new")
    con.execute("DROP TABLE _raw_new")


__all__ = ["SOURCES", "SourceInput", "SourceDelta", "add_missing_columns", "check_inputs", "classify", "apply_raw",
           "raw_table"]
