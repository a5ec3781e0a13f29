"""Build the two tables the engine joins: `w` (one row per wanted record) and `reg` (one row per
register record: residents and ID cards, several records per person_id).

Both share one column vocabulary so that blocking rules and comparisons in `rules/matching.yaml`
can say `l.col` and `r.col` alike. Derived keys are computed once per distinct value.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.normalize.names import variant_pairs
from linkage.normalize.phonetic import phonetic_key
from linkage.normalize.text import fold_ascii

# Tone marks (dấu thanh): grave, acute, tilde, hook above, dot below. Vowel-quality marks
# (circumflex, breve, horn) and đ stay: "same name except tone marks" keeps Hùng/Hưng apart.
_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}

PLACE_COLUMNS = ("birth_place", "hometown", "permanent_address", "current_address")
PLACE_CODES = ("province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025")


@lru_cache(maxsize=200_000)
def strip_tones(s: str) -> str:
    """The name without tone marks, keeping the letters' other diacritics."""
    decomposed = unicodedata.normalize("NFD", s)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONE_MARKS))


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


def variant_key(part: str) -> str:
    """Phonetic key of a name part after mapping known variants to their class."""
    classes = variant_classes()
    return phonetic_key(" ".join(fold_ascii(classes.get(w, w)) for w in part.split()))


def _map_distinct(values: pd.Series, fn) -> pd.Series:
    """Apply a scalar function once per distinct non-null value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques], dtype=object)
    out = np.full(len(values), None, dtype=object)
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    return pd.Series(out, index=values.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Strings with empty strings as nulls."""
    s = values.astype(object)
    return s.where(s.notna() & (s.astype(str).str.strip() != ""), None)


def _fold(values: pd.Series) -> pd.Series:
    return _map_distinct(_text(values), fold_ascii)


def _alias_lists(aliases: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Canonical aliases and their ASCII folds, as lists (empty list when none)."""
    lists = aliases.map(lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray)) else [])
    flat = lists.explode()
    folded = _fold(flat)
    ascii_lists = folded.groupby(level=0, sort=False).agg(lambda s: [x for x in s if x])
    ascii_lists = ascii_lists.reindex(lists.index).map(lambda v: v if isinstance(v, list) else [])
    return lists, ascii_lists


def _birth_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Birth parts for comparison: placeholders count as unknown, a 1 January date as year only
    (it is the usual default when the day is not known)."""
    year = df["birth_year"].astype("Int32")
    month = df["birth_month"].astype("Int32")
    day = df["birth_day"].astype("Int32")
    precision = df["birth_precision"].astype(object)
    placeholder = df.get("birth_placeholder", pd.Series(False, index=df.index)).fillna(False).astype(bool)
    jan1 = df.get("birth_jan1", pd.Series(False, index=df.index)).fillna(False).astype(bool)
    year = year.mask(placeholder)
    month = month.mask(placeholder)
    day = day.mask(placeholder)
    precision = precision.mask(placeholder, None)
    precision = precision.mask(jan1 & ~placeholder & (precision == "day"), "year")
    y = year.astype(str).where(year.notna(), "")
    m = month.astype(str).str.zfill(2).where(month.notna(), "")
    d = day.astype(str).str.zfill(2).where(day.notna(), "")
    text = np.where(precision == "day", d + "/" + m + "/" + y, np.where(precision == "month", m + "/" + y, y))
    return pd.DataFrame(
        {
            "birth_year": year,
            "birth_month": month,
            "birth_day": day,
            "birth_precision": precision,
            "birth_swap_month": df["birth_swap_month"].astype("Int32"),
            "birth_swap_day": df["birth_swap_day"].astype("Int32"),
            "birth_date_text": pd.Series(text, index=df.index).where(year.notna(), None),
        },
        index=df.index,
    )


def _key(*parts: pd.Series) -> pd.Series:
    """Join parts with '|'; null when any part is null."""
    out = parts[0].astype(object).astype(str)
    null = parts[0].isna()
    for p in parts[1:]:
        out = out + "|" + p.astype(object).astype(str)
        null |= p.isna()
    return out.where(~null, None)


def prepared_frame(norm: pd.DataFrame, uid: pd.Series, src: str) -> pd.DataFrame:
    """The engine's column vocabulary for one normalised source table."""
    idx = norm.index
    out = pd.DataFrame({"uid": uid.astype(str).values, "src": src}, index=idx)
    out["full_name_norm"] = _text(norm["full_name_norm"])
    out["full_name_ascii"] = _text(norm["full_name_ascii"])
    out["full_name_notone"] = _map_distinct(out["full_name_norm"], strip_tones)
    out["name_sorted"] = _map_distinct(out["full_name_ascii"], lambda s: " ".join(sorted(s.split())))
    out["name_phonetic"] = _text(norm["name_phonetic"])
    for part in ("family", "middle", "given"):
        col = _text(norm[f"{part}_name"])
        out[f"{part}_name"] = col
        out[f"{part}_ascii"] = _fold(col)
        out[f"{part}_vkey"] = _map_distinct(col, variant_key)
    out["family_given_key"] = _key(out["family_ascii"], out["given_ascii"])
    aliases, alias_ascii = _alias_lists(norm["aliases"])
    out["aliases_norm"] = aliases.values
    out["alias_keys"] = alias_ascii.values
    out["name_keys"] = [[n] + a if n else a for n, a in zip(out["full_name_ascii"], alias_ascii)]
    for parent in ("father", "mother"):
        if f"{parent}_norm" in norm.columns:
            out[f"{parent}_norm"] = _text(norm[f"{parent}_norm"])
            out[f"{parent}_ascii"] = _text(norm[f"{parent}_ascii"])
            out[f"{parent}_given_ascii"] = _fold(norm[f"{parent}_given"])
        else:
            for suffix in ("norm", "ascii", "given_ascii"):
                out[f"{parent}_{suffix}"] = None
    out = pd.concat([out, _birth_columns(norm)], axis=1)
    out["gender"] = _text(norm["gender_norm"])
    for col in PLACE_COLUMNS:
        for code in PLACE_CODES:
            name = f"{col}_{code}"
            out[name] = _text(norm[name]) if name in norm.columns else None
    out["ethnicity_code"] = _text(norm["ethnicity_code"]) if "ethnicity_code" in norm.columns else None
    kind = norm["id_kind"].astype(object)
    clean = _text(norm["id_clean"])
    out["id12"] = clean.where(kind == "personal_id", None)
    cmnd = clean.where(kind == "cmnd", None)
    if "old_id_clean" in norm.columns:
        old = _text(norm["old_id_clean"]).where(norm["old_id_kind"].astype(object) == "cmnd", None)
        cmnd = cmnd.where(cmnd.notna(), old)
    out["cmnd"] = cmnd
    out["id_birth_year"] = norm["id_birth_year"].astype("Int32").where(out["id12"].notna())
    out["id_gender"] = _text(norm["id_gender"]).where(out["id12"].notna(), None)
    full_dob = out["birth_precision"] == "day"
    dob = _key(out["birth_year"], out["birth_month"], out["birth_day"]).where(full_dob, None)
    out["dob_gender_hometown"] = _key(dob, out["gender"], out["hometown_province_code_2025"])
    out["dob_family_gender"] = _key(dob, out["gender"], out["family_ascii"])
    return out


def load_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """Write a prepared frame into the workspace as a DuckDB table, via Arrow."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    con.register("_frame", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
    con.unregister("_frame")


def build_tables(
    con: duckdb.DuckDBPyConnection,
    wanted: pd.DataFrame,
    residents: pd.DataFrame | None,
    id_cards: pd.DataFrame | None,
    tf_columns: list[str] | None = None,
) -> dict[str, int]:
    """Create `w` (with w_idx) and `reg` (with person_idx) plus the term-frequency table `tf`."""
    w = prepared_frame(wanted, wanted["wanted_id"], "wanted")
    w.insert(0, "w_idx", np.arange(len(w), dtype=np.int64))
    load_table(con, "w", w)
    parts = []
    if residents is not None and len(residents):
        parts.append(prepared_frame(residents, residents["person_id"], "residents"))
    if id_cards is not None and len(id_cards):
        parts.append(prepared_frame(id_cards, id_cards["card_number"], "id_cards"))
    if not parts:
        raise ValueError("no register records to match against")
    reg = pd.concat(parts, ignore_index=True)
    load_table(con, "reg_raw", reg)
    con.execute(
        """
        CREATE OR REPLACE TABLE reg AS
        SELECT dense_rank() OVER (ORDER BY uid) - 1 AS person_idx,
               row_number() OVER (ORDER BY uid, src DESC) - 1 AS r_idx, *
        FROM reg_raw
        """
    )
    con.execute("DROP TABLE reg_raw")
    build_tf(con, tf_columns or [])
    n_persons = con.execute("SELECT count(DISTINCT person_idx) FROM reg").fetchall()[0][0]
    return {
        "wanted": len(w),
        "register_records": len(reg),
        "persons": int(n_persons),
    }


def build_tf(con: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    """Term frequencies among register persons: for each column, the share of persons holding each
    value (a person counts once per value, whether it comes from a resident or a card record)."""
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
    con.execute("CREATE OR REPLACE TABLE tf AS " + " UNION ALL ".join(selects))
