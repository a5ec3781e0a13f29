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


def matches_sql(settings: Settings, run_id: str, ref_date: date | None = None, lang: str = "vi") -> str:
    """The output rows, in a fixed order so equal inputs give byte-identical files.

    Identity evidence (mw_ columns, probabilities) is the best over all of a person's records;
    change flags marked `judged_on: current` compare the wanted record with the person's current record
    (`c`, the most recent; docs/matching.md "Current state"), whose values the row carries too."""
    ref = ref_date or reference_date(settings)
    flags = "".join(f"{sql} AS {name},\n" for name, sql in flags_sql(settings, current=True).items())
    mws = ", ".join(f"s.mw_{c.name}" for c in settings.comparisons)
    levels = "".join(f",\n {current_level_sql(settings, n)} AS g_{n}" for n in current_comparisons(settings))
    levels += "".join(f",\n {sql}" for sql in record_tests_sql(settings))
    dead, alive = _state_values(settings, "deceased_values"), _state_values(settings, "alive_values")
    status = "replace(strip_accents(lower(trim(status_raw))), 'đ', 'd')"  # as fold_ascii folds the values
    birth = "make_date(c.birth_year, coalesce(c.birth_month, 1), coalesce(c.birth_day, 1))"
    # the explanation is built from the evidence list selected once as `_items` (planned once)
    _before = ["run_id", "wanted_id", "person_id", "rank", "sources", "match_weight", "match_probability",
               "pair_probability", *(f"mw_{c.name}" for c in settings.comparisons), *flags_sql(settings, current=True)]
    _after = ["blocking_rules", "current_full_name", "current_address", "current_source", "current_record_date",
              "person_status", "age"]
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
                   CASE WHEN bool_or({status} IN ({dead})) THEN 'deceased'
                        WHEN bool_or({status} IN ({alive})) THEN 'alive' END AS person_status
            FROM krec WHERE src = 'residents' GROUP BY person_idx
        ),
        sc AS (  -- the wanted record against the person's current record, for the change flags
            SELECT s.w_idx, s.person_idx{levels}
            FROM scored s JOIN w l ON l.w_idx = s.w_idx
            JOIN recent r ON r.person_idx = s.person_idx AND r.recency = 1
        )
        , out_rows AS (
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
               {explanation_items_sql(settings, current=True, lang=lang)} AS _items,
               {rules_list_sql(settings)} AS blocking_rules,
               coalesce(c.full_name_raw, c.full_name_norm) AS current_full_name,
               c.address_shown AS current_address,
               c.src AS current_source,
               c.record_date AS current_record_date,
               st.person_status,
               CAST(CASE WHEN c.birth_year IS NOT NULL THEN
                   date_diff('year', {birth}, DATE '{ref.isoformat()}')
                   - CASE WHEN {birth} + INTERVAL (date_diff('year', {birth}, DATE '{ref.isoformat()}')) YEAR
                               > DATE '{ref.isoformat()}' THEN 1 ELSE 0 END
               END AS INTEGER) AS age
        FROM scored s
        JOIN w l ON l.w_idx = s.w_idx
        JOIN main r ON r.person_idx = s.person_idx
        JOIN src ON src.person_idx = s.person_idx
        JOIN recent c ON c.person_idx = s.person_idx AND c.recency = 1
        LEFT JOIN recent p ON p.person_idx = s.person_idx AND p.recency = 2
        JOIN sc ON sc.w_idx = s.w_idx AND sc.person_idx = s.person_idx
        LEFT JOIN status st ON st.person_idx = s.person_idx
        )
        SELECT {", ".join(_before)}, {explanation_from_items(settings, "_items")} AS explanation, {", ".join(_after)}
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
