"""Close-case candidates (issue 12, item 2): wanted persons whose best candidate at or above the
threshold is recorded as deceased, or is over the age in `explanation.current_state.
close_case_over_age` (rules/matching.yaml), read from a `linkage run` matches file (its
`person_status` and `age` columns, docs/matching.md "Current state").

A row is a lead for a steward, never a decision: the evidence (probability, explanation, the
person's current name and address) comes with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from linkage.errors import InputError, RulesError
from linkage.ingest.atomic import write_json, write_parquet
from linkage.matches_io import is_matches, matches_source
from linkage.settings import load_settings

NEEDED = ("wanted_id", "person_id", "rank", "match_probability", "person_status", "age", "explanation")
COLUMNS = ["wanted_id", "person_id", "reason", "match_probability", "person_status", "age",
           "current_full_name", "current_address", "sources", "explanation"]


@dataclass
class CasesResult:
    cases: pd.DataFrame
    counts: dict[str, int]
    threshold: float
    over_age: int
    out_dir: Path | None = None


def over_age(rules: Path | None = None) -> int:
    settings = load_settings(rules)
    value = (settings.explanation.get("current_state") or {}).get("close_case_over_age", 80)
    if not isinstance(value, int) or value <= 0:
        raise RulesError(f"{settings.path}: explanation.current_state.close_case_over_age: expected a positive "
                         f"whole number of years, got {value!r}")
    return value


def _open(con: duckdb.DuckDBPyConnection, matches: Path) -> list[str]:
    if not is_matches(matches):
        raise InputError(f"matches file not found: {matches}")
    src = matches_source(matches)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"{matches}: not a readable Parquet matches file ({str(exc).splitlines()[0]})") from None
    missing = [c for c in NEEDED if c not in cols]
    if missing:
        raise InputError(f"{matches}: column(s) {', '.join(missing)} missing: a matches.parquet written by "
                         "`linkage run` (this version) carries person_status and age")
    con.execute(f"CREATE OR REPLACE TEMP VIEW m AS SELECT * FROM {src}")
    return cols


def find_cases(matches: Path, threshold: float, age_limit: int) -> pd.DataFrame:
    """One row per wanted person whose best candidate (rank 1) at or above `threshold` is deceased
    or older than `age_limit`; reason 'deceased', 'over_age' or both ('deceased|over_age')."""
    con = duckdb.connect()
    try:
        cols = _open(con, matches)
        opt = {c: (c if c in cols else f"NULL::VARCHAR AS {c}") for c in ("current_full_name", "current_address", "sources")}
        return con.execute(f"""
            SELECT CAST(wanted_id AS VARCHAR) AS wanted_id, CAST(person_id AS VARCHAR) AS person_id,
                   concat_ws('|', CASE WHEN person_status = 'deceased' THEN 'deceased' END,
                                  CASE WHEN age > {int(age_limit)} THEN 'over_age' END) AS reason,
                   match_probability, person_status, CAST(age AS INTEGER) AS age,
                   {opt['current_full_name']}, {opt['current_address']}, {opt['sources']}, explanation
            FROM m
            WHERE rank = 1 AND match_probability >= {float(threshold)}
              AND (person_status = 'deceased' OR age > {int(age_limit)})
            ORDER BY wanted_id
        """).df()[COLUMNS]
    finally:
        con.close()


def cases(matches: Path, out_dir: Path | None, threshold: float, rules: Path | None = None) -> CasesResult:
    """Find the close-case candidates and, with `out_dir`, write cases.parquet and summary.json."""
    limit = over_age(rules)
    found = find_cases(Path(matches), threshold, limit)
    reasons = found["reason"].str.split("|").explode()
    counts = {
        "cases": int(len(found)),
        "deceased": int((reasons == "deceased").sum()),
        "over_age": int((reasons == "over_age").sum()),
    }
    result = CasesResult(found, counts, threshold, limit)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_parquet(pa.Table.from_pandas(found, preserve_index=False), out_dir / "cases.parquet")
        write_json({"matches": str(matches), "threshold": threshold, "over_age": limit, "counts": counts},
                   out_dir / "summary.json")
        result.out_dir = out_dir
    return result
