"""Output files, written to a temporary path and renamed so a crash never leaves half a file:
matches.parquet (the output contract in DESIGN.md) and the run manifest."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from linkage.ingest.atomic import atomic_path, write_text
from linkage.errors import RulesError
from linkage.explain import (current_comparisons, current_level_sql, explanation_from_items, explanation_items_sql,
                             flags_sql, record_tests_sql, rules_list_sql)
from linkage.normalize.dates import load_date_rules
from linkage.normalize.text import fold_ascii
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


def _state_values(settings: Settings, key: str) -> str:
    values = (settings.explanation.get("current_state") or {}).get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RulesError(f"{settings.path}: explanation.current_state.{key}: expected a list of texts")
    return ", ".join("'" + fold_ascii(v.strip().lower()).replace("'", "''") + "'" for v in values) or "NULL"


def reference_date(settings: Settings) -> date:
    """The run's reference date for ages: rules/dates.yaml `reference_date`, else today."""
    return load_date_rules(settings.path.parent).today


STATUS = "replace(strip_accents(lower(trim(status_raw))), 'đ', 'd')"  # as fold_ascii folds the values


def status_tests_sql(settings: Settings) -> tuple[str, str]:
    """A register record's status among the deceased values, and among the alive ones (SQL)."""
    dead, alive = _state_values(settings, "deceased_values"), _state_values(settings, "alive_values")
    return f"{STATUS} IN ({dead})", f"{STATUS} IN ({alive})"


def current_items_sql(settings: Settings) -> list[str]:
    """`sc`'s columns: the wanted record's levels against the person's current record (`r` there)
    and the current-state flags' record tests."""
    return ([f"{current_level_sql(settings, n)} AS g_{n}" for n in current_comparisons(settings)]
            + record_tests_sql(settings))


def row_items_sql(settings: Settings, run_id: str, ref_date: date | None = None, lang: str = "vi") -> list[str]:
    """An output row's columns (before its explanation) from the scored pair `s`, the wanted record
    `l`, the person's main record `r`, current record `c`, next most recent `p`, its sources
    `src`, status `st` and the levels against its current record `sc`."""
    ref = (ref_date or reference_date(settings)).isoformat()
    birth = "make_date(c.birth_year, coalesce(c.birth_month, 1), coalesce(c.birth_day, 1))"
    return [
        f"'{run_id}' AS run_id", "l.uid AS wanted_id", "r.uid AS person_id", "CAST(s.rank AS INTEGER) AS rank",
        "src.sources", "s.match_weight", "s.match_probability", "s.pair_probability",
        *(f"s.mw_{c.name}" for c in settings.comparisons),
        *(f"{sql} AS {name}" for name, sql in flags_sql(settings, current=True).items()),
        f"{explanation_items_sql(settings, current=True, lang=lang)} AS _items",
        f"{rules_list_sql(settings)} AS blocking_rules",
        "coalesce(c.full_name_raw, c.full_name_norm) AS current_full_name",
        "c.address_shown AS current_address", "c.src AS current_source", "c.record_date AS current_record_date",
        "st.person_status",
        f"""CAST(CASE WHEN c.birth_year IS NOT NULL THEN
                   date_diff('year', {birth}, DATE '{ref}')
                   - CASE WHEN {birth} + INTERVAL (date_diff('year', {birth}, DATE '{ref}')) YEAR
                               > DATE '{ref}' THEN 1 ELSE 0 END
               END AS INTEGER) AS age""",
    ]


def final_items_sql(settings: Settings) -> list[str]:
    """The output columns, in order, from row_items_sql's (the explanation built from `_items`)."""
    before = ["run_id", "wanted_id", "person_id", "rank", "sources", "match_weight", "match_probability",
              "pair_probability", *(f"mw_{c.name}" for c in settings.comparisons), *flags_sql(settings, current=True)]
    after = ["blocking_rules", "current_full_name", "current_address", "current_source", "current_record_date",
             "person_status", "age"]
    return [*before, f"{explanation_from_items(settings, '_items')} AS explanation", *after]


def matches_sql(settings: Settings, run_id: str, ref_date: date | None = None, lang: str = "vi") -> str:
    """The output rows, in a fixed order so equal inputs give byte-identical files.

    Identity evidence (mw_ columns, probabilities) is the best over all of a person's records;
    change flags marked `judged_on: current` compare the wanted record with the person's current record
    (`c`, the most recent; docs/matching.md "Current state"), whose values the row carries too.
    The explanation is built from the evidence list selected once as `_items` (planned once). The
    desk evaluates the same column lists over its few rows (linkage/screen/rows.py)."""
    dead, alive = status_tests_sql(settings)
    current = "".join(f",\n {sql}" for sql in current_items_sql(settings))
    row_items = ",\n               ".join(row_items_sql(settings, run_id, ref_date, lang))
    return f"""
        WITH kept AS (SELECT DISTINCT person_idx FROM scored),
        krec AS (SELECT * FROM reg SEMI JOIN kept USING (person_idx)),
        src AS (
            SELECT person_idx, string_agg(DISTINCT src, '+' ORDER BY src DESC) AS sources
            FROM krec GROUP BY person_idx
        ),
        main AS (  -- the person's resident record when there is one (a run loads residents first)
            SELECT * FROM krec
            QUALIFY row_number() OVER (PARTITION BY person_idx ORDER BY src <> 'residents', r_idx) = 1
        ),
        recent AS (  -- most recent first; undated records are older; ties: residents, then load order
            SELECT *, row_number() OVER (
                PARTITION BY person_idx ORDER BY record_date DESC NULLS LAST, src <> 'residents', r_idx) AS recency
            FROM krec
        ),
        status AS (
            SELECT person_idx,
                   CASE WHEN bool_or({dead}) THEN 'deceased'
                        WHEN bool_or({alive}) THEN 'alive' END AS person_status
            FROM krec WHERE src = 'residents' GROUP BY person_idx
        ),
        sc AS (  -- the wanted record against the person's current record, for the change flags
            SELECT s.w_idx, s.person_idx{current}
            FROM scored s JOIN w l ON l.w_idx = s.w_idx
            JOIN recent r ON r.person_idx = s.person_idx AND r.recency = 1
        )
        , out_rows AS (
        SELECT {row_items}
        FROM scored s
        JOIN w l ON l.w_idx = s.w_idx
        JOIN main r ON r.person_idx = s.person_idx
        JOIN src ON src.person_idx = s.person_idx
        JOIN recent c ON c.person_idx = s.person_idx AND c.recency = 1
        LEFT JOIN recent p ON p.person_idx = s.person_idx AND p.recency = 2
        JOIN sc ON sc.w_idx = s.w_idx AND sc.person_idx = s.person_idx
        LEFT JOIN status st ON st.person_idx = s.person_idx
        )
        SELECT {", ".join(final_items_sql(settings))}
        FROM out_rows
        ORDER BY wanted_id, rank
    """


def write_matches(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, run_id: str, ref_date: date | None = None,
    lang: str = "vi",
) -> Path:
    """matches.parquet; `lang`: the language of the explanation's current-state notes. Past
    engine.matches_partition_rows rows, a folder of Parquet parts of that name (linkage.matches_io)."""
    from linkage.matches_io import partition_rows, split_matches

    limit = partition_rows(settings)
    return split_matches(con, atomic_copy_parquet(con, matches_sql(settings, run_id, ref_date, lang), path), limit)


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n")
