"""Clean and read ID numbers: the 12-digit personal ID (CCCD / số định danh cá nhân) and the
9-digit CMND.

A 12-digit personal ID is PPP G YY NNNNNN (Thông tư 07/2016/TT-BCA): PPP = birth-registration
province (0 + GSO province code), G = gender and century, YY = last two digits of the birth year.
A 9-digit CMND starts with the issuing province's prefix (2 digits, 3 for a few provinces); some
prefixes are shared by several provinces, and part of the prefix table is UNCONFIRMED.

Each DISTINCT value is read once (pandas string ops over the distinct values) and mapped back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import RulesError
from linkage.normalize.dates import load_date_rules
from linkage.normalize.fields import RULES_FILE as FIELD_RULES_FILE
from linkage.normalize.fields import _fold_words, fold_text, load_field_rules
from linkage.rules import read_ref_csv, rules_dir

PROVINCE_TABLE = "ref/ids/cccd_birth_province_codes.csv"
GENDER_CENTURY_TABLE = "ref/ids/cccd_gender_century_codes.csv"
CMND_TABLE = "ref/ids/cmnd9_issuing_province_prefixes.csv"
_SEPARATORS = r"[\s.\-_/\\,]+"
_GENDER_CODES = {"male": "M", "female": "F"}


def _province_table(rules: str | Path | None) -> pd.DataFrame:
    t = read_ref_csv(PROVINCE_TABLE, rules, columns=("cccd_code", "gso_province_code", "province_code_2025"))
    bad = t[~t["cccd_code"].str.fullmatch(r"\d{3}")]
    if len(bad):
        raise RulesError(f"{PROVINCE_TABLE}: cccd_code must be 3 digits (row {bad.index[0] + 2})")
    return t.set_index("cccd_code")


def _gender_century_table(rules: str | Path | None) -> pd.DataFrame:
    t = read_ref_csv(GENDER_CENTURY_TABLE, rules, columns=("digit", "gender", "century", "birth_year_from"))
    if sorted(t["digit"]) != [str(i) for i in range(10)] or not t["gender"].isin(_GENDER_CODES).all():
        raise RulesError(f"{GENDER_CENTURY_TABLE}: need digits 0-9 once each and gender male/female")
    return t.set_index("digit")


def _cmnd_table(rules: str | Path | None) -> pd.DataFrame:
    """prefix -> '|'-joined GSO codes (sorted, distinct) and whether every row is confirmed."""
    t = read_ref_csv(CMND_TABLE, rules, columns=("cmnd_prefix", "gso_province_code_pre2025", "status_and_source"))
    if not t["cmnd_prefix"].str.fullmatch(r"\d{2,3}").all():
        raise RulesError(f"{CMND_TABLE}: cmnd_prefix must be 2 or 3 digits")
    t["confirmed"] = t["status_and_source"].str.lower().str.startswith("confirmed")
    g = t.groupby("cmnd_prefix")
    return pd.DataFrame(
        {
            "provinces": g["gso_province_code_pre2025"].agg(lambda s: "|".join(sorted(set(s)))),
            "confirmed": g["confirmed"].all(),
        }
    )


def _valid12(ids: pd.Series, prov: pd.DataFrame, gc: pd.DataFrame, today: date) -> pd.Series:
    """12-digit IDs (NaN elsewhere) with a real province code and a birth year not after today."""
    year = ids.str.slice(3, 4).map(gc["birth_year_from"].astype(int)) + pd.to_numeric(
        ids.str.slice(4, 6), errors="coerce"
    )
    ok = ids.str.fullmatch(r"\d{12}").fillna(False).astype(bool)
    return ok & ids.str.slice(0, 3).isin(prov.index) & (year <= today.year).fillna(False).astype(bool)


@dataclass(frozen=True)
class IdRules:
    prov: pd.DataFrame
    gc: pd.DataFrame
    cmnd: pd.DataFrame
    empty: frozenset[str]
    labels: tuple[str, ...]
    restore_leading_zero: bool


def load_id_rules(rules: str | Path | None = None) -> IdRules:
    """The ID tables and the `ids` section of rules/fields.yaml, cached on their modification times."""
    d = rules_dir(rules)
    files = (FIELD_RULES_FILE, PROVINCE_TABLE, GENDER_CENTURY_TABLE, CMND_TABLE)
    return _load_id_rules(str(d), tuple((d / f).stat().st_mtime_ns if (d / f).is_file() else 0 for f in files))


@lru_cache(maxsize=16)
def _load_id_rules(rules: str, _mtimes: tuple[int, ...]) -> IdRules:
    ids_cfg = load_field_rules(rules)["ids"]
    return IdRules(
        prov=_province_table(rules),
        gc=_gender_century_table(rules),
        cmnd=_cmnd_table(rules),
        empty=frozenset(_fold_words(ids_cfg.get("empty_values") or [])),
        labels=tuple(sorted(_fold_words(ids_cfg.get("labels") or []), key=len, reverse=True)),
        restore_leading_zero=bool(ids_cfg.get("restore_leading_zero", False)),
    )


def _clean(uniques: pd.Series, r: IdRules) -> pd.Series:
    """Text -> ID without separators or labels; NULL for empty / "không có"."""
    folded = fold_text(uniques)
    empty = r.empty
    s = folded.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)  # 1234.0 from a float column
    labels = r.labels
    if labels:
        s = s.str.replace(r"^(?:(?:" + "|".join(re.escape(w) for w in labels) + r")\b[\s:.#]*)+", "", regex=True)
    s = s.str.replace(r"^(?:so|no|n°)\b[\s:.#]*", "", regex=True)
    s = s.str.replace(_SEPARATORS, "", regex=True).str.upper()
    return s.where(~folded.isin(empty) & (s != ""), None)


def parse_ids(
    values: pd.Series, rules: str | Path | None = None, *, today: date | None = None
) -> pd.DataFrame:
    """Columns id_clean, id_kind, id_birth_province, id_birth_province_2025, id_gender,
    id_century, id_birth_year, id_valid_structure, id_cmnd_provinces, id_cmnd_confirmed,
    id_leading_zero_restored; index-aligned with `values`.

    id_clean is digits only for personal_id / cmnd; an 'invalid' value keeps its other
    characters (upper-cased) so a reviewer can see it. For a 12-digit ID each part is given only
    when that part is real (a known province code; a birth year not after the reference date);
    id_valid_structure says all parts are. A 9-digit CMND is valid when its prefix is in the
    table (3-digit prefixes are tried before 2-digit ones).
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    r = load_id_rules(rules)
    if today is None:
        today = load_date_rules(rules, kind="birth").today
    prov, gc, cmnd = r.prov, r.gc, r.cmnd

    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    clean = _clean(u, r)
    digits = clean.str.fullmatch(r"\d+").fillna(False).astype(bool)
    length = clean.str.len()

    restored = pd.Series(False, index=u.index)
    if r.restore_leading_zero:
        # Personal IDs lose one zero (provinces 010-096) or two (001-008); CMND one (01-09).
        # A zero is only restored when the padded form is a valid structure.
        for n_zeros, target in ((1, 12), (2, 12), (1, 9)):
            cand = digits & (length == target - n_zeros) & ~restored
            pad = ("0" * n_zeros + clean).where(cand)
            if target == 12:
                ok = _valid12(pad, prov, gc, today)
            else:
                ok = pad.str.slice(0, 3).isin(cmnd.index) | pad.str.slice(0, 2).isin(cmnd.index)
            ok = (cand & ok).astype(bool)
            clean = clean.where(~ok, pad)
            restored |= ok
        length = clean.str.len()

    is12 = digits & (length == 12)
    is9 = digits & (length == 9)
    kind = pd.Series(np.where(is12, "personal_id", np.where(is9, "cmnd", "invalid")), index=u.index, dtype=object)
    kind = kind.where(clean.notna(), None)

    # 12-digit structure: parts only for a valid structure (parts of a broken ID are no evidence).
    valid12 = is12 & _valid12(clean.where(is12), prov, gc, today)
    v12 = clean.where(valid12)
    p3 = v12.str.slice(0, 3)
    birth_prov = p3.map(prov["gso_province_code"])
    birth_prov_2025 = p3.map(prov["province_code_2025"])
    g = v12.str.slice(3, 4)
    year = g.map(gc["birth_year_from"].astype(int)) + pd.to_numeric(v12.str.slice(4, 6), errors="coerce")
    gender = g.map(gc["gender"].map(_GENDER_CODES))
    century = g.map(pd.to_numeric(gc["century"]))

    # 9-digit CMND prefixes: 3-digit first.
    c9 = clean.where(is9)
    key = c9.str.slice(0, 3).where(c9.str.slice(0, 3).isin(cmnd.index), c9.str.slice(0, 2))
    cmnd_prov = key.map(cmnd["provinces"])
    cmnd_conf = key.map(cmnd["confirmed"]).where(cmnd_prov.notna())
    valid9 = is9 & cmnd_prov.notna()

    def back(col: pd.Series, dtype: str):
        arr = _take(col, codes)
        return pd.array(arr, dtype=dtype)

    return pd.DataFrame(
        {
            "id_clean": back(clean, "string"),
            "id_kind": back(kind, "string"),
            "id_birth_province": back(birth_prov, "string"),
            "id_birth_province_2025": back(birth_prov_2025, "string"),
            "id_gender": back(gender, "string"),
            "id_century": back(century, "Int32"),
            "id_birth_year": back(year, "Int32"),
            "id_valid_structure": back((valid12 | valid9).astype(bool), "bool"),
            "id_cmnd_provinces": back(cmnd_prov, "string"),
            "id_cmnd_confirmed": back(cmnd_conf, "boolean"),
            "id_leading_zero_restored": back(restored.astype(bool), "bool"),
        },
        index=values.index,
    )


def _take(col: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Per-unique values -> rows; code -1 (missing input) gets NULL (False for flags)."""
    arr = col.to_numpy(dtype=object)
    null = False if col.dtype == bool else None
    arr = np.append(arr, np.array([null], dtype=object))
    out = arr[codes]
    return np.where(pd.isna(out), None, out) if col.dtype != bool else out.astype(bool)
