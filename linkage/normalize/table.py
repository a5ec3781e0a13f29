"""Normalise a whole source table: the one place that applies every field normaliser.

The pipeline, the `normalize` command and the audit all call `normalize_table`, so the columns a
comparison sees are the columns a steward audits. Each field normaliser works on distinct values,
so the cost grows with the number of distinct names and addresses, not with rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa

from linkage.normalize.dates import parse_birth_dates
from linkage.normalize.fields import normalize_ethnicity, normalize_gender
from linkage.normalize.ids import ids_table, parse_ids
from linkage.normalize.marks import normalize_marks
from linkage.normalize.names import names_table, normalize_names, split_aliases
from linkage.normalize.places import places_table, resolve_places

SOURCES = ("wanted", "residents", "id_cards")
ADDRESS_COLUMNS = ("birth_place", "hometown", "permanent_address", "current_address")
PARENT_COLUMNS = ("father_name", "mother_name")

# Which column carries the record's own identity number, per source.
ID_COLUMN = {"wanted": "id_number", "residents": "person_id", "id_cards": "card_number"}



def _prefixed(df: pd.DataFrame, prefix: str, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Rename a normaliser's output columns into the table's namespace."""
    mapping = mapping or {}
    return df.rename(columns={c: mapping.get(c, f"{prefix}{c}") for c in df.columns})


_NAME_COLUMNS = {
    "norm": "full_name_norm",
    "ascii": "full_name_ascii",
    "family": "family_name",
    "middle": "middle_name",
    "given": "given_name",
    "given2": "given_name2",
    "phonetic": "name_phonetic",
    # derived once per name for a run's register chunks (linkage.prepare.name_columns)
    "notone": "full_name_notone",
    "sorted": "name_sorted",
}
_PLACE_KEEP = [
    "province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025",
    "regime", "level", "confidence",
]


def _frame(column: str) -> Callable[[pd.Series, Path | None], pd.DataFrame]:
    """A normaliser returning one Series, as a one-column frame."""
    fns = {"aliases": lambda v, r: split_aliases(v, rules=r), "gender_norm": normalize_gender}
    return lambda v, r: pd.DataFrame({column: fns[column](v, r)}, index=v.index)


# Each kind of value has one normaliser; every normaliser works value by value (a row's output
# depends on its own value only), so a kind's distinct values can be normalised once for every
# column and source that holds that kind (linkage/normalize/distinct.py).
KINDS: dict[str, Callable[[pd.Series, Path | None], pd.DataFrame]] = {
    "names": lambda v, r: normalize_names(v, rules=r),
    "aliases": _frame("aliases"),
    "dates": lambda v, r: parse_birth_dates(v, rules=r),
    "places": lambda v, r: resolve_places(v, rules=r),
    "ids": lambda v, r: parse_ids(v, rules=r),
    "gender": _frame("gender_norm"),
    "ethnicity": lambda v, r: normalize_ethnicity(v, rules=r),
    "marks": lambda v, r: normalize_marks(v, rules=r),
}

# Kinds whose normaliser also gives its rows as Arrow from an Arrow column of text: the same table
# `pa.Table.from_pandas(KINDS[kind](...))` gives (tests/test_normalise_arrow_kinds.py), without the
# pandas frame, a fixed cost of 1-2 ms per call that is most of a desk's call on a few new values.
ARROW_KINDS: dict[str, Callable[[pa.Array, Path | None], pa.Table]] = {
    "names": lambda v, r: names_table(v, rules=r),
    "ids": lambda v, r: ids_table(v, rules=r),
    "places": places_table,
}


@dataclass(frozen=True)
class Part:
    """One input column through the normaliser of its kind, and the table's names for what it
    gives (`shape`: the kind's output frame -> this part's columns)."""

    column: str
    kind: str
    shape: Callable[[pd.DataFrame], pd.DataFrame]


def _same(df: pd.DataFrame) -> pd.DataFrame:
    return df


def parts(source: str, columns) -> list[Part]:
    """The normalisers a source's table goes through, in the table's column order. The name,
    aliases, date, id and gender parts are always there (on NULLs when the input lacks the column),
    so the engine can rely on their columns; the others only when the input has the column."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    present = set(columns)
    out = [Part("full_name", "names", lambda d: d.rename(columns=_NAME_COLUMNS)),
           Part("other_names", "aliases", _same)]
    for column in PARENT_COLUMNS:
        if column in present:
            stem = column.removesuffix("_name")
            out.append(Part(column, "names", lambda d, stem=stem: d[["norm", "ascii", "given", "phonetic"]]
                            .add_prefix(f"{stem}_")))
    out.append(Part("birth_date", "dates", _same))
    for column in ADDRESS_COLUMNS:
        if column in present:
            out.append(Part(column, "places", lambda d, column=column: d[_PLACE_KEEP].add_prefix(f"{column}_")))
    out.append(Part(ID_COLUMN[source], "ids", _same))
    if source == "id_cards":
        out.append(Part("old_id_number", "ids", lambda d: _prefixed(d[["id_clean", "id_kind"]], "old_")))
    out.append(Part("gender", "gender", _same))
    if "ethnicity" in present:
        out.append(Part("ethnicity", "ethnicity", lambda d: d[["ethnicity_code"]]))
    if "identifying_marks" in present:
        out.append(Part("identifying_marks", "marks", _same))
    return out


def normalize_table(
    df: pd.DataFrame,
    source: str,
    rules: Path | None = None,
    dictionaries: Mapping[str, Any] | None = None,
    positions: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The input columns plus every normalised column the later stages use.

    Optional input columns that are absent produce no derived columns, except the name, date,
    gender and id columns, which are always present (NULL when the input lacks them) so the
    engine can rely on them. `dictionaries`: kinds whose distinct values were normalised already
    (linkage.normalize.distinct.Dictionary, for a whole run); their rows are looked up instead of
    normalised again, with the same result; `positions`: input column -> each row's position in
    its kind's dictionary, where the caller found them already (distinct.source_positions).
    """
    index = df.index
    empty = pd.Series(pd.NA, index=index, dtype="string")
    out_parts: list[pd.DataFrame] = [df]
    for part in parts(source, df.columns):
        values = df[part.column] if part.column in df.columns else empty
        if dictionaries is not None and part.kind in dictionaries:
            if positions is not None and part.column in positions:
                got = dictionaries[part.kind].rows(positions[part.column], index)
            else:
                got = dictionaries[part.kind].lookup(values)
        else:
            got = KINDS[part.kind](values, rules)
        out_parts.append(part.shape(got))
    out = pd.concat(out_parts, axis=1)
    if out.columns.duplicated().any():
        dup = out.columns[out.columns.duplicated()].tolist()
        raise RuntimeError(f"normalised column name clash: {dup}")
    return out
