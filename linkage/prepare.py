"""Build the two tables the engine joins: `w` (one row per wanted record) and `reg` (one row per
register record: residents and ID cards, several records per person_id).

Both share one column vocabulary so that blocking rules and comparisons in `rules/matching.yaml`
can say `l.col` and `r.col` alike. Python computes only what needs our Vietnamese functions
(ASCII folds, tone stripping, variant keys), once per distinct value on Arrow arrays; DuckDB
derives everything else (keys, birth parts, ids) in one SQL pass.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.normalize.names import variant_pairs
from linkage.normalize.phonetic import phonetic_key
from linkage.normalize.text import fold_ascii

# Tone marks (dấu thanh): grave, acute, tilde, hook above, dot below. Vowel-quality marks
# (circumflex, breve, horn) and đ stay: "same name except tone marks" keeps Hùng/Hưng apart.
_TONE_MARKS = ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323")

PLACE_COLUMNS = ("birth_place", "hometown", "permanent_address", "current_address")
PLACE_CODES = ("province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025")

# Normalised columns the engine reads (absent ones become NULL).
TEXT_COLUMNS = (
    "full_name_norm", "full_name_ascii", "name_phonetic", "family_name", "middle_name", "given_name",
    "father_norm", "father_ascii", "father_given", "mother_norm", "mother_ascii", "mother_given",
    "birth_precision", "gender_norm", "ethnicity_code", "id_clean", "id_kind", "id_gender",
    "old_id_clean", "old_id_kind",
) + tuple(f"{c}_{k}" for c in PLACE_COLUMNS for k in PLACE_CODES)
INT_COLUMNS = ("birth_year", "birth_month", "birth_day", "birth_swap_month", "birth_swap_day", "id_birth_year")
BOOL_COLUMNS = ("birth_placeholder", "birth_jan1")


def strip_tones(names: pa.Array) -> pa.Array:
    """The names without tone marks, keeping the letters' other diacritics: decomposed, the five
    marks removed, composed again, in Arrow's kernels (a Python function per distinct name was
    the largest cost of preparing a register chunk: its full names are mostly distinct)."""
    encoded = names.dictionary_encode()  # a register's chunk holds each name about twice
    decomposed = pc.utf8_normalize(encoded.dictionary, "NFD")
    for mark in _TONE_MARKS:
        decomposed = pc.replace_substring(decomposed, mark, "")
    return pc.utf8_normalize(decomposed, "NFC").take(encoded.indices)


@lru_cache(maxsize=4)
def variant_classes(rules: str | None = None) -> dict[str, str]:
    """Each name word in a known variant pair -> one representative of its class (union of the
    pairs: Hoàng~Huỳnh, Vũ~Võ, Phúc~Phước...), so variants share a key."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for pair in variant_pairs(rules):
        a, b = sorted(pair)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {word: find(word) for word in parent}


@lru_cache(maxsize=200_000)
def variant_key(part: str) -> str:
    """Phonetic key of a name part after mapping known variants to their class (kept: a register's
    chunks hold the same family, middle and given names again and again)."""
    classes = variant_classes()
    return phonetic_key(" ".join(fold_ascii(classes.get(w, w)) for w in part.split()))


# A name part's ASCII fold, kept for the same reason.
_part_ascii = lru_cache(maxsize=200_000)(fold_ascii)


_FEW = 8  # rows: a desk's call, whose fixed cost per Arrow kernel is most of its cost


def map_distinct(arr: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """Apply a scalar string function once per distinct non-null value of an Arrow array."""
    if len(arr) <= _FEW:  # a desk's record: the values themselves, without the encoding's kernels
        return pa.array([None if v is None else fn(v) for v in arr.to_pylist()], type=pa.string())
    arr = pc.cast(arr, pa.string())
    encoded = arr.dictionary_encode()
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return mapped.take(encoded.indices)


def _column(norm: pd.DataFrame | pa.Table, name: str, kind: pa.DataType) -> pa.Array:
    if isinstance(norm, pa.Table):  # the desk's memo assembles the normalised table in Arrow
        i = norm.schema.get_field_index(name)
        if i < 0 or norm.schema.field(i).type == pa.null():
            return pa.nulls(norm.num_rows, type=kind)
        got = norm.column(i).combine_chunks()
        if kind == pa.bool_():
            got = pc.fill_null(got, False)
        return got if got.type == kind else pc.cast(got, kind)
    if name not in norm.columns:
        return pa.nulls(len(norm), type=kind)
    col = norm[name]
    if kind == pa.bool_():
        return pa.array(col.fillna(False).astype(bool).to_numpy(), type=pa.bool_())
    try:  # Arrow-backed pandas columns convert without a copy through Python objects
        arr = pa.array(col, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(col.astype(object), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.cast(arr, kind)


def blanks_as_null(columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """blank_as_null of each column; a few rows' columns are checked together first (a desk's
    record has some forty such columns and usually no blank value)."""
    if columns and len(next(iter(columns.values()))) <= _FEW:
        joined = pa.concat_arrays(list(columns.values()))
        if not pc.any(pc.or_(pc.equal(joined, ""), pc.utf8_is_space(joined))).as_py():
            return columns
    return {name: blank_as_null(col) for name, col in columns.items()}


def blank_as_null(col: pa.Array) -> pa.Array:
    """Empty and whitespace-only strings as NULL; the column itself when it holds none (the usual
    case: a normaliser's output), so most columns cost one pass and no copy."""
    blank = pc.or_(pc.equal(col, ""), pc.utf8_is_space(col))
    return pc.if_else(blank, pa.scalar(None, col.type), col) if pc.any(blank).as_py() else col


def _alias_keys(aliases: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Aliases as a list column, and their ASCII folds (same offsets)."""
    lists = aliases if pa.types.is_list(aliases.type) else pc.cast(aliases, pa.list_(pa.string()))
    lists = pc.if_else(pc.is_null(lists), pa.scalar([], pa.list_(pa.string())), lists)
    flat = lists.flatten()
    folded = map_distinct(flat, fold_ascii) if len(flat) else pa.array([], pa.string())
    return lists, pa.ListArray.from_arrays(lists.offsets, folded)


def prepared_arrow(norm: pd.DataFrame | pa.Table, uid_column: str, src: str) -> pa.Table:
    """The normalised columns the engine reads, plus those that need our Python functions
    (`norm`: normalize_table's frame, or the same columns in Arrow)."""
    n = len(norm)
    cols: dict[str, pa.Array] = {
        "uid": _column(norm, uid_column, pa.string()),
        "src": pa.array([src] * n, type=pa.string()),
    }
    cols.update(blanks_as_null({name: _column(norm, name, pa.string()) for name in TEXT_COLUMNS}))
    for name in INT_COLUMNS:
        cols[name] = _column(norm, name, pa.int32())
    for name in BOOL_COLUMNS:
        cols[name] = _column(norm, name, pa.bool_())
    # a run's register chunks take both from the names dictionary (name_columns); others compute them
    cols["full_name_notone"] = (_column(norm, "full_name_notone", pa.string()) if "full_name_notone" in _names(norm)
                                else strip_tones(cols["full_name_norm"]))
    cols["name_sorted"] = _column(norm, "name_sorted", pa.string())  # NULL: the SQL sorts the words
    for part in ("family", "middle", "given"):
        cols[f"{part}_ascii"] = map_distinct(cols[f"{part}_name"], _part_ascii)
        cols[f"{part}_vkey"] = map_distinct(cols[f"{part}_name"], variant_key)
    for parent in ("father", "mother"):
        cols[f"{parent}_given_ascii"] = map_distinct(cols.pop(f"{parent}_given"), _part_ascii)
    for place in PLACE_COLUMNS:
        cols[f"{place}_raw"] = _column(norm, place, pa.string())
    # The person's current state (docs/matching.md, "Current state"): the record's date, the
    # register's status and the name as written, read by the output stage, never compared.
    cols["record_date_raw"] = _column(norm, RECORD_DATE.get(src, ""), pa.string())
    cols["status_raw"] = _column(norm, "status", pa.string())
    cols["full_name_raw"] = _column(norm, "full_name", pa.string())
    cols["aliases_norm"], cols["alias_keys"] = _alias_keys(_lists(norm, "aliases", [[]] * n))
    cols.update(_marks_columns(norm))
    return pa.table(cols)


def prepared_reads(uid_column: str, src: str) -> frozenset[str]:
    """The normalised columns `prepared_arrow` reads: a table built for it needs no other."""
    return frozenset((uid_column, RECORD_DATE.get(src, ""), "status", "full_name", "aliases", "marks_keys",
                      "identifying_marks", "full_name_notone", "name_sorted")
                     + TEXT_COLUMNS + INT_COLUMNS + BOOL_COLUMNS + PLACE_COLUMNS)


def name_columns(con: duckdb.DuckDBPyConnection, norm: pa.Array, ascii: pa.Array) -> dict[str, pa.Array]:
    """`notone` and `sorted` of each distinct name of a run (the names dictionary's `norm` and
    `ascii`): what prepared_arrow and the derived SQL would give the full name of each register
    record (full_name_notone, name_sorted), computed once per name. Why: a chunk's full names are
    mostly distinct, and tone stripping per chunk and sorting the words in the register's insert
    were 1.3 s each at 1M, the insert being the chunk loop's slower thread."""
    norm, ascii = blank_as_null(norm.cast(pa.string())), blank_as_null(ascii.cast(pa.string()))
    con.register("_names", pa.table({"ascii": ascii}))
    try:
        got = con.sql(f"SELECT {_NAME_SORTED.format(col='ascii')} AS s FROM _names").to_arrow_table()
    finally:
        con.unregister("_names")
    return {"notone": strip_tones(norm), "sorted": got.column("s").combine_chunks().cast(pa.string())}


def _names(norm: pd.DataFrame | pa.Table) -> list[str]:
    return norm.column_names if isinstance(norm, pa.Table) else list(norm.columns)


def _lists(norm: pd.DataFrame | pa.Table, name: str, absent: list) -> pa.Array:
    """A column of lists of text (`absent`: its values when the table lacks it)."""
    kind = pa.list_(pa.string())
    if name not in _names(norm):
        return pa.array(absent, type=kind)
    if isinstance(norm, pa.Table):
        got = norm.column(name).combine_chunks()
        return pa.array(got.to_pylist(), type=kind) if got.type in (pa.null(), pa.list_(pa.null())) else got.cast(kind)
    return pa.array(norm[name].tolist(), type=kind)


def _marks_columns(norm: pd.DataFrame) -> dict[str, pa.Array]:
    """Identifying marks (linkage/normalize/marks.py): `marks_keys` (kind|place|side, the `marks`
    comparison's input; NULL when the source has no marks column or the record none) and
    `marks_text` (the text as written, quoted by the explanation). Residents carry none."""
    n = len(norm)
    if "marks_keys" not in _names(norm):
        return {"marks_keys": pa.nulls(n, pa.list_(pa.string())), "marks_text": pa.nulls(n, pa.string())}
    keys = _lists(norm, "marks_keys", [None] * n)
    text = _column(norm, "identifying_marks", pa.string())
    text = blank_as_null(text)
    return {"marks_keys": keys, "marks_text": text}


# A name's words in sorted order ("Nguyen Van An" and "An Nguyen Van" alike).
_NAME_SORTED = "array_to_string(list_sort(string_split({col}, ' ')), ' ')"

# One SQL pass from the Arrow table to the engine's vocabulary. Placeholders count as unknown;
# a 1 January date as year only (the usual default when the day is not known).
_DERIVED_SQL = """
SELECT * EXCLUDE (name_sorted, birth_placeholder, birth_jan1, birth_year, birth_month, birth_day, birth_precision,
                  gender_norm, id_clean, id_kind, old_id_clean, old_id_kind, id_birth_year, id_gender,
                  birth_place_raw, hometown_raw, permanent_address_raw, current_address_raw, record_date_raw),
    {place_text}
    coalesce(TRY_CAST(trim(record_date_raw) AS DATE), TRY_CAST(try_strptime(trim(record_date_raw), '%d/%m/%Y') AS DATE))
        AS record_date,
    nullif(trim(coalesce(current_address_raw, permanent_address_raw)), '') AS address_shown,
    {name_sorted} AS name_sorted,
    CASE WHEN family_ascii IS NOT NULL AND given_ascii IS NOT NULL THEN family_ascii || '|' || given_ascii END
        AS family_given_key,
    CASE WHEN family_ascii IS NOT NULL AND given_ascii IS NOT NULL THEN family_ascii || '|' || coalesce(middle_ascii, '') END
        AS family_middle_key,
    CASE WHEN full_name_ascii IS NULL THEN alias_keys ELSE list_prepend(full_name_ascii, alias_keys) END AS name_keys,
    CASE WHEN NOT birth_placeholder THEN birth_year END AS birth_year,
    CASE WHEN NOT birth_placeholder THEN birth_month END AS birth_month,
    CASE WHEN NOT birth_placeholder THEN birth_day END AS birth_day,
    CASE WHEN birth_placeholder THEN NULL WHEN birth_jan1 AND birth_precision = 'day' THEN 'year'
         ELSE birth_precision END AS birth_precision,
    CASE WHEN birth_placeholder OR birth_year IS NULL THEN NULL
         WHEN birth_precision = 'day' THEN lpad(birth_day::VARCHAR, 2, '0') || '/' || lpad(birth_month::VARCHAR, 2, '0')
              || '/' || birth_year::VARCHAR
         WHEN birth_precision = 'month' THEN lpad(birth_month::VARCHAR, 2, '0') || '/' || birth_year::VARCHAR
         ELSE birth_year::VARCHAR END AS birth_date_text,
    gender_norm AS gender,
    CASE WHEN id_kind = 'personal_id' THEN id_clean END AS id12,
    coalesce(CASE WHEN id_kind = 'cmnd' THEN id_clean END, CASE WHEN old_id_kind = 'cmnd' THEN old_id_clean END)
        AS cmnd,
    CASE WHEN id_kind = 'personal_id' THEN id_birth_year END AS id_birth_year,
    CASE WHEN id_kind = 'personal_id' THEN id_gender END AS id_gender,
    CASE WHEN birth_precision = 'day' AND NOT birth_jan1 AND NOT birth_placeholder AND gender_norm IS NOT NULL
              AND hometown_province_code_2025 IS NOT NULL
         THEN birth_year || '-' || birth_month || '-' || birth_day || '|' || gender_norm || '|'
              || hometown_province_code_2025 END AS dob_gender_hometown,
    CASE WHEN birth_precision = 'day' AND NOT birth_jan1 AND NOT birth_placeholder AND gender_norm IS NOT NULL
              AND family_ascii IS NOT NULL
         THEN birth_year || '-' || birth_month || '-' || birth_day || '|' || gender_norm || '|' || family_ascii END
        AS dob_family_gender
FROM {source}
"""


def derived_sql(place_text: bool, names_sorted: bool = False) -> str:
    """`_DERIVED_SQL` with the places as written, folded (lower case, no diacritics, đ -> d), for
    generic text comparisons where codes do not resolve (registers from elsewhere, e.g. FEBRL's
    addresses); NULL when no rule uses them, as folding long strings is a third of this SQL's cost.
    `names_sorted`: the table's name_sorted column holds each record's sorted name already
    (name_columns); else it is NULL and the SQL sorts the words. Why a flag and not one SQL text:
    DuckDB's coalesce sorts every row either way, and a CASE that sorts only the NULL rows took
    twice the plain expression's time where all of them are NULL (2.2-2.4 against 1.1-1.4 s for
    1.75M names, one thread), as on every path but a run's register chunks."""
    if place_text:
        cols = [f"nullif(replace(strip_accents(lower(trim({p}_raw))), 'đ', 'd'), '') AS {p}_text" for p in PLACE_COLUMNS]
    else:
        cols = [f"NULL::VARCHAR AS {p}_text" for p in PLACE_COLUMNS]
    return (_DERIVED_SQL.replace("{place_text}", ",\n    ".join(cols) + ",")
            .replace("{name_sorted}", "name_sorted" if names_sorted else _NAME_SORTED.format(col="full_name_ascii")))


def uses_place_text(texts: list[str]) -> bool:
    """Whether any rule text (blocking expressions, comparison parameters) names a `<place>_text`."""
    return any(f"{p}_text" in t for t in texts for p in PLACE_COLUMNS)


def build_tables(
    con: duckdb.DuckDBPyConnection,
    wanted: pd.DataFrame,
    residents: pd.DataFrame | None,
    id_cards: pd.DataFrame | None,
    tf_columns: list[str] | None = None,
    place_text: bool = True,
) -> dict[str, int]:
    """Create `w` (with w_idx) and `reg` (with person_idx) plus the term-frequency table `tf`."""
    add_wanted(con, wanted, place_text)
    start_register(con)
    if residents is not None:
        add_register(con, residents, "residents", place_text)
    if id_cards is not None:
        add_register(con, id_cards, "id_cards", place_text)
    return finish_register(con, tf_columns or [])


def _load(con: duckdb.DuckDBPyConnection, table: pa.Table, sql: str) -> None:
    con.register("_prepared", table)
    try:
        con.execute(sql.replace("{source}", "_prepared"))
    finally:
        con.unregister("_prepared")


def add_wanted(con: duckdb.DuckDBPyConnection, wanted: pd.DataFrame, place_text: bool = True) -> int:
    """Create `w` from the normalised wanted records; w_idx follows the input order."""
    return load_wanted(con, prepared_arrow(wanted, "wanted_id", "wanted"), place_text)


def load_wanted(con: duckdb.DuckDBPyConnection, table: pa.Table, place_text: bool = True) -> int:
    """Create `w` from the prepared wanted records (prepared_arrow's table)."""
    table = table.add_column(0, "w_idx", pa.array(np.arange(len(table), dtype=np.int64)))
    _load(con, table, f"CREATE OR REPLACE TABLE w AS {derived_sql(place_text)} ORDER BY w_idx")
    return len(table)


def start_register(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS reg_raw")


REGISTER_UID = {"residents": "person_id", "id_cards": "card_number"}
# The date that orders a person's records from oldest to most recent (the current state).
RECORD_DATE = {"residents": "updated_at", "id_cards": "issue_date"}


def add_register(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, source: str, place_text: bool = True) -> int:
    """Append one register's normalised records (residents or id_cards) to `reg_raw`."""
    if frame is None or not len(frame):
        return 0
    return load_register(con, prepared_arrow(frame, REGISTER_UID[source], source), place_text)


def load_register(con: duckdb.DuckDBPyConnection, table: pa.Table, place_text: bool = True) -> int:
    """Append prepared register records to `reg_raw`; r_idx numbers records in arrival order
    (residents are added first, so a person's resident record comes first)."""
    if not len(table):
        return 0
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'reg_raw'"
    ).fetchall()[0][0]
    start = con.execute("SELECT count(*) FROM reg_raw").fetchall()[0][0] if exists else 0
    table = table.add_column(0, "r_idx", pa.array(np.arange(start, start + len(table), dtype=np.int64)))
    sql = derived_sql(place_text, names_sorted=table.column("name_sorted").null_count < len(table))
    if exists:
        _load(con, table, f"INSERT INTO reg_raw BY NAME {sql}")
    else:
        _load(con, table, f"CREATE TEMP TABLE reg_raw AS {sql}")
    return len(table)


def finish_register(con: duckdb.DuckDBPyConnection, tf_columns: list[str]) -> dict[str, int]:
    """Number the persons (person_idx, in person_id order) in place: one narrow column added,
    not a copy of the wide table."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'reg_raw'").fetchall()[0][0]
    if not exists:
        raise ValueError("no register records to match against")
    con.execute("DROP TABLE IF EXISTS reg")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE persons AS SELECT uid, row_number() OVER (ORDER BY uid) - 1 AS person_idx "
        "FROM (SELECT DISTINCT uid FROM reg_raw)"
    )
    con.execute("ALTER TABLE reg_raw ADD COLUMN person_idx BIGINT")
    con.execute("UPDATE reg_raw SET person_idx = persons.person_idx FROM persons WHERE reg_raw.uid = persons.uid")
    con.execute("ALTER TABLE reg_raw RENAME TO reg")
    con.execute("DROP TABLE persons")
    build_tf(con, tf_columns)
    n_w, n_r, n_p = con.execute(
        "SELECT (SELECT count(*) FROM w), count(*), count(DISTINCT person_idx) FROM reg"
    ).fetchall()[0]
    return {"wanted": int(n_w), "register_records": int(n_r), "persons": int(n_p)}


def build_tf(con: duckdb.DuckDBPyConnection, columns: list[str], temp: bool = False) -> None:
    """Term frequencies among register persons: for each column, the share of persons holding each
    value (a person counts once per value, whether it comes from a resident or a card record).
    `temp`: a session table (a workspace recomputes it each night and keeps none)."""
    selects = [
        f"""
        SELECT '{col}' AS col, value, count(*) / sum(count(*)) OVER () AS tf
        FROM (SELECT DISTINCT person_idx, {col} AS value FROM reg WHERE {col} IS NOT NULL)
        GROUP BY value
        """
        for col in sorted(set(columns))
    ]
    if not selects:
        selects = ["SELECT NULL::VARCHAR AS col, NULL::VARCHAR AS value, NULL::DOUBLE AS tf WHERE FALSE"]
    kind = "TEMP TABLE" if temp else "TABLE"
    con.execute(f"CREATE OR REPLACE {kind} tf AS " + " UNION ALL ".join(selects))
