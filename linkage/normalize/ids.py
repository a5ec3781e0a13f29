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
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import RulesError
from linkage.normalize.dates import load_date_rules
from linkage.normalize.fields import RULES_FILE as FIELD_RULES_FILE
from linkage.normalize.fields import (
    _fold_words,
    factorize_values,
    fold_text,
    load_field_rules,
    take_bool,
    take_int32,
    take_str,
)
from linkage.rules import read_ref_csv, rules_dir

PROVINCE_TABLE = "ref/ids/cccd_birth_province_codes.csv"
GENDER_CENTURY_TABLE = "ref/ids/cccd_gender_century_codes.csv"
CMND_TABLE = "ref/ids/cmnd9_issuing_province_prefixes.csv"
_SEPARATORS = "[ .,_/\\\\-]+"  # after fold_text, all whitespace is a single space
_GENDER_CODES = {"male": "M", "female": "F"}


def _province_table(rules: str | Path | None) -> pd.DataFrame:
    t = read_ref_csv(PROVINCE_TABLE, rules, columns=("cccd_code", "gso_province_code", "province_code_2025"))
    bad = t[~t["cccd_code"].str.fullmatch("[0-9]{3}")]
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


@dataclass(frozen=True)
class IdRules:
    """The ID tables as lookup arrays indexed by the numeric code, plus the cleaning vocabulary."""

    prov_pre: np.ndarray  # [1000] object: GSO province code for a 3-digit CCCD code, or None
    prov_2025: np.ndarray  # [1000] object
    gc_gender: np.ndarray  # [10] object: "M"/"F"
    gc_year_from: np.ndarray  # [10] int
    gc_century: np.ndarray  # [10] int
    cmnd3: dict[str, tuple[str, bool]]  # 3-digit prefix -> (provinces, all confirmed)
    cmnd2: dict[str, tuple[str, bool]]
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
    prov = _province_table(rules)
    prov_pre = np.full(1000, None, dtype=object)
    prov_2025 = np.full(1000, None, dtype=object)
    prov_pre[prov.index.astype(int)] = prov["gso_province_code"].to_numpy()
    prov_2025[prov.index.astype(int)] = prov["province_code_2025"].to_numpy()
    gc = _gender_century_table(rules)
    gc.index = gc.index.astype(int)
    gc = gc.sort_index()
    cmnd = _cmnd_table(rules)
    entries = {p: (row.provinces, bool(row.confirmed)) for p, row in cmnd.iterrows()}
    return IdRules(
        prov_pre=prov_pre,
        prov_2025=prov_2025,
        gc_gender=gc["gender"].map(_GENDER_CODES).to_numpy(dtype=object),
        gc_year_from=gc["birth_year_from"].astype(int).to_numpy(),
        gc_century=gc["century"].astype(int).to_numpy(),
        cmnd3={p: v for p, v in entries.items() if len(p) == 3},
        cmnd2={p: v for p, v in entries.items() if len(p) == 2},
        empty=frozenset(_fold_words(ids_cfg.get("empty_values") or [])),
        labels=tuple(sorted(_fold_words(ids_cfg.get("labels") or []), key=len, reverse=True)),
        restore_leading_zero=bool(ids_cfg.get("restore_leading_zero", False)),
    )


def _clean(texts: pd.Series, r: IdRules) -> pd.Series:
    """Text -> ID without separators or labels; None for empty / "không có"."""
    folded = fold_text(texts)
    s = folded.str.replace("^([0-9]+)[.]0+$", r"\1", regex=True)  # 1234.0 from a float column
    if r.labels:
        s = s.str.replace("^(?:(?:" + "|".join(re.escape(w) for w in r.labels) + ")[ :.#]*)+", "", regex=True)
    s = s.str.replace(_SEPARATORS, "", regex=True).str.upper()
    empty = folded.isin(r.empty) | s.str.lower().isin(r.empty) | (s == "") | folded.isna()
    return s.where(~empty, None).astype(object)


def _digits(ids: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width digit strings -> (n, width) int array."""
    if len(ids) == 0:
        return np.zeros((0, width), dtype=np.int64)
    return (np.asarray(ids, dtype=f"S{width}").view(np.uint8).reshape(-1, width) - 48).astype(np.int64)


def _read12(ids: np.ndarray, r: IdRules, today: date) -> dict[str, np.ndarray]:
    """Structure of 12-digit strings: province index, gender/century digit, birth year, validity."""
    return _structure12(_digits(ids, 12), r, today)


def _structure12(dg: np.ndarray, r: IdRules, today: date) -> dict[str, np.ndarray]:
    """_read12 from the ids' digit matrix (one row per id, 12 digits)."""
    p3 = dg[:, 0] * 100 + dg[:, 1] * 10 + dg[:, 2]
    g = dg[:, 3]
    year = r.gc_year_from[g] + dg[:, 4] * 10 + dg[:, 5]
    valid = (r.prov_pre[p3] != None) & (year <= today.year)  # noqa: E711 (elementwise)
    return {"p3": p3, "g": g, "year": year, "valid": valid.astype(bool)}


def _cmnd_arrow(text: pa.Array, r: IdRules) -> tuple[pa.Array, pa.Array]:
    """9-digit strings -> (provinces, confirmed); the 3-digit prefix wins over the 2-digit one
    (NULL where neither is known). Prefixes are cut and looked up by Arrow's kernels."""
    provinces, confirmed = pa.nulls(len(text), pa.large_string()), pa.nulls(len(text), pa.bool_())
    for width, table in ((2, r.cmnd2), (3, r.cmnd3)):  # the 3-digit prefix written last: it wins
        hit = pc.index_in(pc.utf8_slice_codeunits(text, 0, width), value_set=pa.array(list(table), pa.string()))
        found = pc.is_valid(hit)
        provinces = pc.if_else(found, pa.array([v[0] for v in table.values()], pa.large_string()).take(hit), provinces)
        confirmed = pc.if_else(found, pa.array([v[1] for v in table.values()], pa.bool_()).take(hit), confirmed)
    return provinces, confirmed


def _cmnd_lookup(ids: pd.Series, r: IdRules) -> tuple[pd.Series, pd.Series]:
    """_cmnd_arrow for the pandas path: object Series (None where no prefix is known)."""
    got = _cmnd_arrow(pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True), r)
    return tuple(pd.Series(a.to_pylist(), index=ids.index, dtype=object) for a in got)  # type: ignore[return-value]


def parse_ids(values: pd.Series, rules: str | Path | None = None, *, today: date | None = None) -> pd.DataFrame:
    """Columns id_clean, id_kind, id_birth_province, id_birth_province_2025, id_gender,
    id_century, id_birth_year, id_valid_structure, id_cmnd_provinces, id_cmnd_confirmed,
    id_leading_zero_restored; index-aligned with `values`.

    id_clean is digits only for personal_id / cmnd; an 'invalid' value keeps its other
    characters (upper-cased) so a reviewer can see it. A 12-digit ID is a valid structure when
    its province code is real and its birth year is not after the reference date; only then are
    province, gender, century and birth year given (parts of a broken ID are no evidence). A
    9-digit CMND is valid when its prefix is in the table (3-digit prefixes tried first).
    """
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    r = load_id_rules(rules)
    if today is None:
        today = load_date_rules(rules, kind="birth").today
    codes, uniques = factorize_values(values)
    got = _parse_unique(uniques, r, today)
    out = {c: (take_str if c in _TEXT else take_int32 if c in _INT else take_bool)(got[c], codes) for c in _COLUMNS
           if c != "id_cmnd_confirmed"}
    out["id_cmnd_confirmed"] = pd.array(np.append(got["id_cmnd_confirmed"], None)[codes], dtype="boolean")
    return pd.DataFrame({c: out[c] for c in _COLUMNS}, index=values.index)


_COLUMNS = ("id_clean", "id_kind", "id_birth_province", "id_birth_province_2025", "id_gender", "id_century",
            "id_birth_year", "id_valid_structure", "id_cmnd_provinces", "id_cmnd_confirmed", "id_leading_zero_restored")
_TEXT = ("id_clean", "id_kind", "id_birth_province", "id_birth_province_2025", "id_gender", "id_cmnd_provinces")
_INT = ("id_century", "id_birth_year")


def ids_table(values: pa.Array, rules: str | Path | None = None, *, today: date | None = None) -> pa.Table:
    """parse_ids' columns for an Arrow column of text, as the Arrow table its frame converts to:
    without the pandas frame, which is most of the cost for a desk's one or two ids."""
    r = load_id_rules(rules)
    if today is None:
        today = load_date_rules(rules, kind="birth").today
    values = values.cast(pa.string())
    if len(values) >= _PLAIN_MIN:
        plain = _plain_ids_table(values, r, today)
        if plain is not None:
            return plain
    enc = pc.dictionary_encode(values)
    got = _parse_unique(pd.Series(enc.dictionary.to_pylist(), dtype=object), r, today)
    idx = enc.indices
    cols = {}
    for c in _COLUMNS:
        v = got[c]
        if c in _TEXT:
            cols[c] = pa.array(v, type=pa.large_string(), from_pandas=True).take(idx)
        elif c in _INT:
            cols[c] = pa.array(v, mask=v < 0, type=pa.int32()).take(idx)
        elif c == "id_cmnd_confirmed":
            cols[c] = pa.array(v, type=pa.bool_(), from_pandas=True).take(idx)
        else:  # a missing input is False, as take_bool gives it
            cols[c] = pa.array(v, type=pa.bool_()).take(idx).fill_null(False)
    return pa.table(cols)


_PLAIN_MIN = 256  # values: below this (a desk's call) the general path costs as little


def _plain_ids_table(values: pa.Array, r: IdRules, today: date) -> pa.Table | None:
    """ids_table for a column whose every present value is 9 or 12 plain digits (a register chunk's
    person and card numbers), read from the strings' bytes in numpy and assembled by Arrow takes:
    such ids are mostly distinct, and a Python string per value (the general path's distinct
    values, then its object arrays) was most of their cost. None when some value is not plain."""
    plain = pc.match_substring_regex(values, "^(?:[0-9]{9}|[0-9]{12})$")
    if not pc.all(plain).as_py():  # nulls skipped
        return None
    n = len(values)
    length = pc.fill_null(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False)
    i12, i9 = np.flatnonzero(length == 12), np.flatnonzero(length == 9)
    _, offsets, data = values.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32)[values.offset:values.offset + n][i12]
    dg = np.frombuffer(data, dtype=np.uint8)[starts[:, None] + np.arange(12)].astype(np.int64) - 48
    s12 = _structure12(dg, r, today)
    p3, g, year, ok = s12["p3"], s12["g"], s12["year"], s12["valid"]
    iv = i12[ok]

    def at(rows: np.ndarray, where: np.ndarray) -> pa.Array:  # `where` at these rows, NULL elsewhere
        full = np.zeros(n, dtype=np.int64)
        full[rows] = where
        mask = np.ones(n, dtype=bool)
        mask[rows] = False
        return pa.array(full, mask=mask)

    def text(table: np.ndarray, rows: np.ndarray, where: np.ndarray) -> pa.Array:
        return pa.array(table, type=pa.large_string(), from_pandas=True).take(at(rows, where))

    kind = np.zeros(n, dtype=np.int64)
    kind[i9] = 1
    valid = np.zeros(n, dtype=bool)
    valid[iv] = True
    cols = {
        "id_clean": values.cast(pa.large_string()),
        "id_kind": pa.array(["personal_id", "cmnd"], pa.large_string()).take(pa.array(kind, mask=length == 0)),
        "id_birth_province": text(r.prov_pre, iv, p3[ok]),
        "id_birth_province_2025": text(r.prov_2025, iv, p3[ok]),
        "id_gender": text(r.gc_gender, iv, g[ok]),
        "id_century": at(iv, r.gc_century[g[ok]]).cast(pa.int32()),
        "id_birth_year": at(iv, year[ok]).cast(pa.int32()),
    }
    provinces, confirmed = pa.nulls(n, pa.large_string()), pa.nulls(n, pa.bool_())
    if len(i9):
        prov9, conf9 = _cmnd_arrow(values.take(pa.array(i9)), r)
        valid[i9] = pc.is_valid(prov9).to_numpy(zero_copy_only=False)
        back = at(i9, np.arange(len(i9)))
        provinces, confirmed = prov9.take(back), conf9.take(back)
    cols["id_valid_structure"] = pa.array(valid)
    cols["id_cmnd_provinces"] = provinces
    cols["id_cmnd_confirmed"] = confirmed
    cols["id_leading_zero_restored"] = pa.array(np.zeros(n, dtype=bool))
    return pa.table({c: cols[c] for c in _COLUMNS})


def _parse_unique(uniques: pd.Series, r: IdRules, today: date) -> dict[str, np.ndarray]:
    """parse_ids' columns per distinct value (an object Series of text)."""
    n = len(uniques)

    # Fast path: values already 9 or 12 plain digits need no cleaning.
    text = uniques.astype(str)
    arrow = pa.array(text.to_numpy(dtype=object), type=pa.string())  # Arrow's kernels, not a Python call per value
    plain = pc.match_substring_regex(arrow, "^(?:[0-9]{9}|[0-9]{12})$").to_numpy(zero_copy_only=False).astype(bool)
    clean = np.array(text, dtype=object)
    digits = plain.copy()
    length = pc.utf8_length(arrow).to_numpy(zero_copy_only=False).astype(np.int64)
    present = np.ones(n, dtype=bool)
    other = np.flatnonzero(~plain)
    if len(other):
        c = _clean(uniques.iloc[other], r)
        clean[other] = c.to_numpy(dtype=object)
        present[other] = c.notna().to_numpy()
        digits[other] = c.str.fullmatch("[0-9]+").fillna(False).to_numpy(dtype=bool)
        length[other] = c.str.len().fillna(0).to_numpy(dtype=np.int64)

    restored = np.zeros(n, dtype=bool)
    if r.restore_leading_zero:
        # Personal IDs lose one zero (provinces 010-096) or two (001-008); CMND one (01-09).
        # A zero is only given back when the padded form is a valid structure.
        for zeros, target in ((1, 12), (2, 12), (1, 9)):
            cand = np.flatnonzero(digits & (length == target - zeros) & ~restored)
            if len(cand) == 0:
                continue
            pad = pd.Series(clean[cand], dtype=object).radd("0" * zeros)
            if target == 12:
                ok = _read12(pad.to_numpy(dtype=object), r, today)["valid"]
            else:
                ok = _cmnd_lookup(pad, r)[0].notna().to_numpy()
            clean[cand[ok]] = pad.to_numpy(dtype=object)[ok]
            restored[cand[ok]] = True
            length[cand[ok]] = target

    is12 = digits & (length == 12)
    is9 = digits & (length == 9)
    kind = np.where(is12, "personal_id", np.where(is9, "cmnd", "invalid")).astype(object)
    kind[~present] = None

    # 12-digit structure.
    i12 = np.flatnonzero(is12)
    s12 = _read12(clean[i12], r, today)
    ok = s12["valid"]
    valid = np.zeros(n, dtype=bool)
    valid[i12] = ok
    birth_prov = np.full(n, None, dtype=object)
    birth_prov_2025 = np.full(n, None, dtype=object)
    gender = np.full(n, None, dtype=object)
    century = np.full(n, -1, dtype=np.int64)
    year = np.full(n, -1, dtype=np.int64)
    iv = i12[ok]
    birth_prov[iv] = r.prov_pre[s12["p3"][ok]]
    birth_prov_2025[iv] = r.prov_2025[s12["p3"][ok]]
    gender[iv] = r.gc_gender[s12["g"][ok]]
    century[iv] = r.gc_century[s12["g"][ok]]
    year[iv] = s12["year"][ok]

    # 9-digit CMND prefixes.
    i9 = np.flatnonzero(is9)
    cmnd_prov = np.full(n, None, dtype=object)
    cmnd_conf = np.full(n, None, dtype=object)
    if len(i9):
        provs, conf = _cmnd_lookup(pd.Series(clean[i9], dtype=object), r)
        cmnd_prov[i9] = provs.to_numpy(dtype=object)
        cmnd_conf[i9] = conf.to_numpy(dtype=object)
        valid[i9] = provs.notna().to_numpy()

    return {"id_clean": clean, "id_kind": kind, "id_birth_province": birth_prov,
            "id_birth_province_2025": birth_prov_2025, "id_gender": gender, "id_century": century,
            "id_birth_year": year, "id_valid_structure": valid, "id_cmnd_provinces": cmnd_prov,
            "id_cmnd_confirmed": cmnd_conf, "id_leading_zero_restored": restored}


# ---------------------------------------------------------------------- spreadsheet damage
# A spreadsheet that reads an id as a number writes it back as "72205055449.0" (float), drops its
# leading zeros (72205055449) or, in a narrow cell, writes "7.22050554E+10" (digits lost). The
# rule for when such a value is repaired is in docs/ingest.md ("Ids damaged by a spreadsheet").
_FLOAT_ZERO = r"([0-9]+)\.0+"
_SCIENTIFIC = r"([0-9])(?:[.,]([0-9]*))?[eE]\+?([0-9]{1,2})"
REPAIRED, DAMAGED = "repaired", "damaged"


def _valid_padded(padded: pd.Series, width: int, r: IdRules, today: date) -> np.ndarray:
    """Per value: the zero-padded id is a valid structure (12: real province code and a birth
    year not in the future; 9: a known CMND prefix)."""
    if len(padded) == 0:
        return np.zeros(0, dtype=bool)
    if width == 12:
        return _read12(padded.to_numpy(dtype=object), r, today)["valid"]
    return _cmnd_lookup(padded, r)[0].notna().to_numpy()


def _number_digits(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(digits the value stands for or None, how it was written: 'float' | 'scientific' | 'digits'
    | None, and why digits are lost, for scientific notation that does not hold them all)."""
    fl = text.str.fullmatch(_FLOAT_ZERO).fillna(False).astype(bool)
    sci = text.str.extract("^" + _SCIENTIFIC + "$")
    is_sci = sci[0].notna()
    frac = sci[1].fillna("")
    exp = pd.to_numeric(sci[2], errors="coerce").fillna(-1).astype(int)
    whole = is_sci & (frac.str.len() == exp)  # every digit written: 7.2205055449E+10
    lost = pd.Series(None, index=text.index, dtype=object)
    short = is_sci & (frac.str.len() < exp)
    lost[short] = ("scientific notation keeps only " + (1 + frac[short].str.len()).astype(str)
                   + " of the number's " + (exp[short] + 1).astype(str) + " digits; the others are lost")
    lost[is_sci & (frac.str.len() > exp)] = "scientific notation of a number that is not a whole number"
    digits = pd.Series(None, index=text.index, dtype=object)
    digits[fl] = text[fl].str.extract("^" + _FLOAT_ZERO + "$")[0]
    digits[whole] = sci[0][whole] + frac[whole]
    plain = text.str.fullmatch("[0-9]+").fillna(False).astype(bool)
    digits[plain] = text[plain]
    how = pd.Series(np.select([fl, is_sci, plain], ["float", "scientific", "digits"], None), index=text.index,
                    dtype=object)
    return digits, how, lost


def repair_spreadsheet_ids(values: pd.Series, widths: tuple[int, ...], rules: str | Path | None = None, *,
                           today: date | None = None) -> pd.DataFrame:
    """Columns `fixed` (the repaired id, else the value), `status` (None, 'repaired' or 'damaged')
    and `detail` (why), index-aligned with `values`; `widths` are the digit counts the column may
    hold (12, or 12 and 9). Untouched: values that do not look like a spreadsheet number, and plain
    digit strings that are not a certain repair (the usual id checks report those)."""
    values = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    r = load_id_rules(rules)
    today = today or load_date_rules(rules, kind="birth").today
    codes, uniques = factorize_values(values)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    digits, how, lost = _number_digits(text)
    n = len(text)
    fixed = text.to_numpy(dtype=object).copy()
    status = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    written = np.where(how == "float", "written as a number with a trailing .0",
                       np.where(how == "scientific", "written in scientific notation", "digits"))
    number = how.isin(("float", "scientific")).to_numpy()

    # Scientific notation that lost digits: never repaired.
    gone = lost.notna().to_numpy()
    status[gone] = DAMAGED
    detail[gone] = lost[gone].to_numpy(dtype=object)

    length = digits.str.len().fillna(0).astype(int).to_numpy()
    has = digits.notna().to_numpy() & ~gone
    full = has & number & np.isin(length, widths)  # 072205055449.0: only the notation to undo
    fixed[full] = digits[full].to_numpy(dtype=object)
    status[full] = REPAIRED
    detail[full] = written[full] + ": the digits are kept as written"

    lead = digits.str.slice(0, 1).to_numpy(dtype=object)
    for width in widths:
        for zeros in (1, 2) if width == 12 else (1,):
            # plain digits only for the 12-digit id (its structure is strong evidence); a CMND's
            # prefix is not, so an 8-digit text is only padded when it was written as a number
            plain_ok = number | (width == 12)
            cand = np.flatnonzero(has & plain_ok & (status == None) & (length == width - zeros)  # noqa: E711
                                  & (lead != "0"))
            if len(cand) == 0:
                continue
            padded = digits.iloc[cand].radd("0" * zeros)
            ok = _valid_padded(padded, width, r, today)
            good, bad = cand[ok], cand[~ok]
            fixed[good] = padded.to_numpy(dtype=object)[ok]
            status[good] = REPAIRED
            word = "zero" if zeros == 1 else "zeros"
            detail[good] = (np.where(number[good], written[good] + ", and ", "")
                            + f"lost {zeros} leading {word}: a valid {width}-digit id once restored")
            bad = bad[number[bad]]  # plain digits that do not pad to a valid id: left to the id checks
            status[bad] = DAMAGED
            detail[bad] = (written[bad] + f" that lost {zeros} leading {word}, but "
                           + padded.to_numpy(dtype=object)[~ok][number[cand[~ok]]]
                           + f" is not a valid {width}-digit id")
    other = number & (status == None)  # noqa: E711 (a number of another length: not an id)
    status[other] = DAMAGED
    detail[other] = written[other] + " of " + length[other].astype(str) + " digits; expected " + \
        " or ".join(str(w) for w in widths)
    return pd.DataFrame(
        {"fixed": take_str(fixed, codes), "status": take_str(status, codes), "detail": take_str(detail, codes)},
        index=values.index,
    )
