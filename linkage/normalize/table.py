"""Normalise a whole source table: the one place that applies every field normaliser.

The pipeline, the `normalize` command and the audit all call `normalize_table`, so the columns a
comparison sees are the columns a steward audits. Each field normaliser works on distinct values,
so the cost grows with the number of distinct names and addresses, not with rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from linkage.normalize.dates import parse_birth_dates
from linkage.normalize.fields import normalize_ethnicity, normalize_gender
from linkage.normalize.ids import parse_ids
from linkage.normalize.marks import normalize_marks
from linkage.normalize.names import normalize_names, split_aliases
from linkage.normalize.places import resolve_places

SOURCES = ("wanted", "residents", "id_cards")
ADDRESS_COLUMNS = ("birth_place", "hometown", "permanent_address", "current_address")
PARENT_COLUMNS = ("father_name", "mother_name")

# Which column carries the record's own identity number, per source.
ID_COLUMN = {"wanted": "id_number", "residents": "person_id", "id_cards": "card_number"}



def _prefixed(df: pd.DataFrame, prefix: str, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Rename a normaliser's output columns into the table's namespace."""
    mapping = mapping or {}
    return df.rename(columns={c: mapping.get(c, f"{prefix}{c}") for c in df.columns})


def _name_columns(values: pd.Series, rules: Path | None) -> pd.DataFrame:
    names = normalize_names(values, rules=rules)
    return names.rename(
        columns={
            "norm": "full_name_norm",
            "ascii": "full_name_ascii",
            "family": "family_name",
            "middle": "middle_name",
            "given": "given_name",
            "given2": "given_name2",
            "phonetic": "name_phonetic",
        }
    )


def _parent_columns(values: pd.Series, column: str, rules: Path | None) -> pd.DataFrame:
    stem = column.removesuffix("_name")
    names = normalize_names(values, rules=rules)[["norm", "ascii", "given", "phonetic"]]
    return names.add_prefix(f"{stem}_")


def _place_columns(values: pd.Series, column: str, rules: Path | None) -> pd.DataFrame:
    places = resolve_places(values, rules=rules)
    keep = [
        "province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025",
        "regime", "level", "confidence",
    ]
    return places[keep].add_prefix(f"{column}_")


def normalize_table(
    df: pd.DataFrame,
    source: str,
    rules: Path | None = None,
) -> pd.DataFrame:
    """The input columns plus every normalised column the later stages use.

    Optional input columns that are absent produce no derived columns, except the name, date,
    gender and id columns, which are always present (NULL when the input lacks them) so the
    engine can rely on them.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    index = df.index
    empty = pd.Series(pd.NA, index=index, dtype="string")

    def col(name: str) -> pd.Series:
        return df[name] if name in df.columns else empty

    parts: list[pd.DataFrame] = [df]
    parts.append(_name_columns(col("full_name"), rules))
    parts.append(pd.DataFrame({"aliases": split_aliases(col("other_names"), rules=rules)}, index=index))
    for column in PARENT_COLUMNS:
        if column in df.columns:
            parts.append(_parent_columns(df[column], column, rules))
    parts.append(parse_birth_dates(col("birth_date"), rules=rules))
    for column in ADDRESS_COLUMNS:
        if column in df.columns:
            parts.append(_place_columns(df[column], column, rules))
    parts.append(parse_ids(col(ID_COLUMN[source]), rules=rules))
    if source == "id_cards":
        old = parse_ids(col("old_id_number"), rules=rules)[["id_clean", "id_kind"]]
        parts.append(_prefixed(old, "old_"))
    parts.append(pd.DataFrame({"gender_norm": normalize_gender(col("gender"), rules=rules)}, index=index))
    if "ethnicity" in df.columns:
        parts.append(normalize_ethnicity(df["ethnicity"], rules=rules)[["ethnicity_code"]])
    if "identifying_marks" in df.columns:
        parts.append(normalize_marks(df["identifying_marks"], rules=rules))
    out = pd.concat(parts, axis=1)
    if out.columns.duplicated().any():
        dup = out.columns[out.columns.duplicated()].tolist()
        raise RuntimeError(f"normalised column name clash: {dup}")
    return out
