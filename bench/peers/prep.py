"""Data preparation for the peers, as a competent user would write it from their docs: names
split and ASCII-folded, dates parsed, places cut into province / commune keys, ids cleaned.

Runs inside each peer's own process, so its time counts in that peer's wall time. Done in DuckDB
SQL (a column at a time, no Python loop per record); both peers share it so that neither is
handicapped by a weaker preparation than the other.

Generated data: the register given to the peers is the union of the residents and the ID-card
registers (a card's holder is `card_number`), so the peers see the same evidence our engine does
(a wanted record may carry an old CMND that only the card register knows). A person may then
have two register records; the peers' outputs are reduced to one candidate per person.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

# ASCII fold and lower case (once per column); names then lose punctuation; addresses keep their
# commas so they can be cut into parts.
FOLD = """
CREATE OR REPLACE MACRO ascii_lower(x) AS strip_accents(replace(lower(x), 'đ', 'd'));
CREATE OR REPLACE MACRO name_key(a) AS nullif(trim(regexp_replace(a, '[^a-z0-9]+', ' ', 'g')), '');
CREATE OR REPLACE MACRO province_of(parts) AS
    nullif(regexp_replace(trim(parts[-1]), '^(tinh|thanh pho|tp)\\.? ', ''), '');
CREATE OR REPLACE MACRO ward_of(parts) AS
    list_filter(list_transform(parts, lambda p: trim(p)), lambda p: regexp_matches(p, '^(xa|phuong|thi tran) '))[1];
CREATE OR REPLACE MACRO digits(x) AS regexp_replace(coalesce(x, ''), '[^0-9]', '', 'g');
"""

# Dates in the generated files: dd/mm/yyyy, yyyy-mm-dd, mm/yyyy, yyyy.
DATES = """
CREATE OR REPLACE MACRO full_date(d) AS coalesce(try_strptime(trim(d), '%d/%m/%Y'), try_strptime(trim(d), '%Y-%m-%d'));
CREATE OR REPLACE MACRO year_of(d) AS coalesce(year(full_date(d)),
    TRY_CAST(regexp_extract(trim(d), '^(?:\\d{1,2}/)?(\\d{4})$', 1) AS INTEGER));
CREATE OR REPLACE MACRO month_of(d) AS coalesce(month(full_date(d)),
    TRY_CAST(regexp_extract(trim(d), '^(\\d{1,2})/\\d{4}$', 1) AS INTEGER));
"""

_PERSON = """
    full_name_ascii,
    string_split(full_name_ascii, ' ') AS _tok,
    strftime(full_date(birth_date), '%Y-%m-%d') AS dob,
    year_of(birth_date) AS birth_year,
    month_of(birth_date) AS birth_month,
    CASE WHEN _gender IN ('nam', 'm', 'male') THEN 'M' WHEN _gender IN ('nu', 'f', 'female') THEN 'F' END AS gender,
    province_of(_home) AS hometown_province,
    province_of(_birth) AS birth_province,
    province_of(_addr) AS address_province,
    ward_of(_addr) || '|' || province_of(_addr) AS address_ward,
    father_ascii,
    mother_ascii
"""

# The folded columns _PERSON reads, computed once per record.
_FOLDED = """
    name_key(ascii_lower(full_name)) AS full_name_ascii,
    trim(ascii_lower(gender)) AS _gender,
    string_split(ascii_lower(hometown), ',') AS _home,
    string_split(ascii_lower(birth_place), ',') AS _birth,
    string_split(ascii_lower(permanent_address), ',') AS _addr,
    name_key(ascii_lower(father_name)) AS father_ascii,
    name_key(ascii_lower(mother_name)) AS mother_ascii
"""

_NAME_PARTS = """
    SELECT * EXCLUDE (_tok),
        _tok[1] AS family_name,
        CASE WHEN len(_tok) > 1 THEN _tok[-1] END AS given_name,
        CASE WHEN len(_tok) > 2 THEN array_to_string(_tok[2:-2], ' ') END AS middle_name
    FROM {src}
"""


def _csv(path: Path) -> str:
    return f"read_csv('{path}', all_varchar=true, header=true)"


def connect(threads: int = 2, memory_limit: str = "6GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}; SET memory_limit = '{memory_limit}'; SET enable_progress_bar = false")
    con.execute(FOLD)
    con.execute(DATES)
    return con


def prepare_generated(con: duckdb.DuckDBPyConnection, wanted: Path, residents: Path, id_cards: Path | None) -> None:
    """Tables `wanted_p` and `register_p` with the same prepared columns (ids as strings)."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _w AS
        SELECT wanted_id AS uid, NULL::VARCHAR AS person_id,
            CASE WHEN length(digits(id_number)) = 12 THEN digits(id_number) END AS id12,
            CASE WHEN length(digits(id_number)) = 9 THEN digits(id_number) END AS cmnd,
            {_PERSON}
        FROM (SELECT *, {_FOLDED} FROM {_csv(wanted)})
        """
    )
    cards = ""
    if id_cards is not None:
        cards = f"""
        UNION ALL
        SELECT card_number AS person_id, card_number AS id12,
            CASE WHEN length(digits(old_id_number)) = 9 THEN digits(old_id_number) END AS cmnd,
            full_name, gender, birth_date, hometown, NULL AS birth_place, permanent_address,
            NULL AS father_name, NULL AS mother_name
        FROM {_csv(id_cards)}
        """
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _r AS
        SELECT CAST(row_number() OVER () AS VARCHAR) AS uid, person_id, id12, cmnd, {_PERSON}
        FROM (SELECT *, {_FOLDED} FROM (
            SELECT person_id, person_id AS id12, NULL::VARCHAR AS cmnd,
                full_name, gender, birth_date, hometown, birth_place, permanent_address, father_name, mother_name
            FROM {_csv(residents)}
            {cards}
        ))
        """
    )
    con.execute(f"CREATE OR REPLACE TABLE wanted_p AS {_NAME_PARTS.format(src='_w')}")
    con.execute(f"CREATE OR REPLACE TABLE register_p AS {_NAME_PARTS.format(src='_r')}")
    con.execute("DROP TABLE _w; DROP TABLE _r")


def prepare_febrl(con: duckdb.DuckDBPyConnection, wanted: Path, residents: Path) -> None:
    """FEBRL4 is already lower-case ASCII; only trim, and keep its fields as they are."""
    cols = """
        nullif(trim(given_name), '') AS given_name, nullif(trim(surname), '') AS surname,
        nullif(trim(street_number), '') AS street_number, nullif(trim(address_1), '') AS address_1,
        nullif(trim(address_2), '') AS address_2, nullif(trim(suburb), '') AS suburb,
        nullif(trim(postcode), '') AS postcode, nullif(trim(state), '') AS state,
        nullif(trim(date_of_birth), '') AS date_of_birth
    """
    con.execute(f"CREATE OR REPLACE TABLE wanted_p AS SELECT wanted_id AS uid, NULL::VARCHAR AS person_id, {cols} "
                f"FROM {_csv(wanted)}")
    con.execute(f"CREATE OR REPLACE TABLE register_p AS SELECT person_id AS uid, person_id, {cols} "
                f"FROM {_csv(residents)}")


def write_candidates(con: duckdb.DuckDBPyConnection, pairs_sql: str, out: Path, top_k: int = 10,
                     floor_probability: float = 0.5) -> int:
    """From scored register-record pairs (uid_l = wanted_id, person_id, match_probability), the
    candidates file the evaluation reads: one row per (wanted, person) with the best probability
    over the person's records, ranked, the top k kept, those below the floor dropped (the same
    rule as our engine's: floor match weight 0, i.e. probability 0.5, top 10)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    con.execute(
        f"""
        COPY (
            WITH best AS (
                SELECT wanted_id, person_id, max(match_probability) AS match_probability
                FROM ({pairs_sql}) GROUP BY wanted_id, person_id
            ),
            ranked AS (
                SELECT *, CAST(row_number() OVER (PARTITION BY wanted_id
                    ORDER BY match_probability DESC, person_id) AS INTEGER) AS rank
                FROM best
            )
            SELECT wanted_id, person_id, rank, match_probability FROM ranked
            WHERE rank <= {top_k} AND match_probability >= {floor_probability}
            ORDER BY wanted_id, rank
        ) TO '{tmp}' (FORMAT parquet)
        """
    )
    tmp.rename(out)
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]


def peer_args(description: str) -> argparse.Namespace:
    """The command line both peer scripts take from the harness."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--dataset", choices=["generated", "febrl4"], required=True)
    ap.add_argument("--wanted", type=Path, required=True)
    ap.add_argument("--residents", type=Path, required=True)
    ap.add_argument("--id-cards", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args()


def prepare(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> None:
    """Tables `wanted_p` and `register_p` for the dataset the arguments name."""
    if args.dataset == "generated":
        prepare_generated(con, args.wanted, args.residents, args.id_cards)
    else:
        prepare_febrl(con, args.wanted, args.residents)
