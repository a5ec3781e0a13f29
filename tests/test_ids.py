"""ID numbers: 12-digit personal IDs, 9-digit CMND, separators, lost leading zeros, bad lengths."""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import RulesError
from linkage.normalize.ids import parse_ids
from linkage.rules import DEFAULT_RULES_DIR, read_ref_csv

TODAY = date(2026, 11, 26)
PROV = read_ref_csv("ref/ids/cccd_birth_province_codes.csv")
N = None

COLUMNS = [
    "id_clean", "id_kind", "id_birth_province", "id_birth_province_2025", "id_gender", "id_century",
    "id_birth_year", "id_valid_structure", "id_cmnd_provinces", "id_cmnd_confirmed", "id_leading_zero_restored",
]


def parse(values):
    return parse_ids(pd.Series(values, dtype=object), today=TODAY)


def val(x):
    return None if pd.isna(x) else x


# value -> (id_clean, kind, province, province_2025, gender, century, birth_year, valid)
CASES = {
    # the gender/century digit, each of 0-9 (4-9 are 22nd-24th century: not yet possible)
    "001090012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "001190012345": ("001190012345", "personal_id", "01", "01", "F", 20, 1990, True),
    "079205001234": ("079205001234", "personal_id", "79", "79", "M", 21, 2005, True),
    "079305001234": ("079305001234", "personal_id", "79", "79", "F", 21, 2005, True),
    "079405001234": ("079405001234", "personal_id", N, N, N, N, N, False),
    "079505001234": ("079505001234", "personal_id", N, N, N, N, N, False),
    "079605001234": ("079605001234", "personal_id", N, N, N, N, N, False),
    "079705001234": ("079705001234", "personal_id", N, N, N, N, N, False),
    "079805001234": ("079805001234", "personal_id", N, N, N, N, N, False),
    "079905001234": ("079905001234", "personal_id", N, N, N, N, N, False),
    # century boundaries and the future
    "001000000001": ("001000000001", "personal_id", "01", "01", "M", 20, 1900, True),
    "001199000001": ("001199000001", "personal_id", "01", "01", "F", 20, 1999, True),
    "001200000001": ("001200000001", "personal_id", "01", "01", "M", 21, 2000, True),
    "001326000001": ("001326000001", "personal_id", "01", "01", "F", 21, 2026, True),
    "001327000001": ("001327000001", "personal_id", N, N, N, N, N, False),  # born 2027: future
    # provinces: renamed/merged in 2025, and codes that do not exist
    "002090012345": ("002090012345", "personal_id", "02", "08", "M", 20, 1990, True),  # Hà Giang -> Tuyên Quang
    "077190012345": ("077190012345", "personal_id", "77", "79", "F", 20, 1990, True),  # BR-VT -> HCMC
    "096090012345": ("096090012345", "personal_id", "96", "96", "M", 20, 1990, True),
    "000090012345": ("000090012345", "personal_id", N, N, N, N, N, False),
    "003090012345": ("003090012345", "personal_id", N, N, N, N, N, False),
    "013090012345": ("013090012345", "personal_id", N, N, N, N, N, False),
    "097090012345": ("097090012345", "personal_id", N, N, N, N, N, False),
    "100090012345": ("100090012345", "personal_id", N, N, N, N, N, False),
    "999999999999": ("999999999999", "personal_id", N, N, N, N, N, False),
    "000000000000": ("000000000000", "personal_id", N, N, N, N, N, False),
    # separators and labels
    "001 090 012 345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "001.090.012.345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "001-090-012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    " 001090012345\u00a0": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "CCCD: 001090012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "Số CCCD 001090012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "số định danh cá nhân: 001090012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "CMND số 012345678": ("012345678", "cmnd", N, N, N, N, N, True),
    # leading zeros lost in a numeric column
    "79090012345": ("079090012345", "personal_id", "79", "79", "M", 20, 1990, True),
    "79090012345.0": ("079090012345", "personal_id", "79", "79", "M", 20, 1990, True),
    "1090012345": ("001090012345", "personal_id", "01", "01", "M", 20, 1990, True),
    "12345678": ("012345678", "cmnd", N, N, N, N, N, True),
    "3090012345": ("3090012345", "invalid", N, N, N, N, N, False),  # 003 is no province
    "13090012345": ("13090012345", "invalid", N, N, N, N, N, False),  # 013 is no province
    # wrong lengths and junk
    "12345": ("12345", "invalid", N, N, N, N, N, False),
    "0010900123456": ("0010900123456", "invalid", N, N, N, N, N, False),
    "01234567890": ("01234567890", "invalid", N, N, N, N, N, False),
    "B1234567": ("B1234567", "invalid", N, N, N, N, N, False),
    "7.9e+10": ("79E+10", "invalid", N, N, N, N, N, False),
    # empty
    "": (N, N, N, N, N, N, N, False),
    "   ": (N, N, N, N, N, N, N, False),
    "không có": (N, N, N, N, N, N, N, False),
    "Chưa cấp": (N, N, N, N, N, N, N, False),
    "nan": (N, N, N, N, N, N, N, False),
}


def test_case_table():
    values = list(CASES)
    df = parse(values)
    failures = []
    for i, v in enumerate(values):
        r = df.iloc[i]
        got = tuple(val(r[c]) for c in COLUMNS[:8])
        if got != CASES[v]:
            failures.append(f"{v!r}: got {got}, want {CASES[v]}")
    assert not failures, "\n".join(failures)


def test_restored_flag():
    df = parse(["79090012345", "079090012345", "12345678", "3090012345"])
    assert df.id_leading_zero_restored.tolist() == [True, False, True, False]


# value -> (provinces, confirmed, valid)
CMND = {
    "012345678": ("01", True, True),
    "021234567": ("79", True, True),
    "095123456": ("06", True, True),  # 3-digit prefix wins over 09 (Thái Nguyên)
    "091234567": ("19", False, True),  # 09 (UNCONFIRMED)
    "230123456": ("64", True, True),
    "231123456": ("64", True, True),
    "233123456": ("62", False, True),  # falls back to 23 (Kon Tum, UNCONFIRMED)
    "280123456": ("74", True, True),
    "285123456": ("70", True, True),
    "289123456": (N, N, False),  # 28 alone is no prefix
    "121234567": ("24|27", True, True),  # shared by Bắc Giang and Bắc Ninh
    "111234567": ("01|17", True, True),  # Hà Tây (now Hà Nội) and Hòa Bình
    "071234567": ("02|08", False, True),  # one confirmed, one UNCONFIRMED
    "041234567": ("11|12", False, True),
    "391234567": (N, N, False),
    "991234567": (N, N, False),
}


def test_cmnd_prefixes():
    values = list(CMND)
    df = parse(values)
    assert (df.id_kind == "cmnd").all()
    for i, v in enumerate(values):
        r = df.iloc[i]
        got = (val(r.id_cmnd_provinces), val(r.id_cmnd_confirmed), bool(r.id_valid_structure))
        assert got == CMND[v], v
        assert pd.isna(r.id_birth_province) and pd.isna(r.id_gender) and pd.isna(r.id_birth_year)


def test_every_province_code_in_the_table():
    ids = [f"{c}090000001" for c in PROV.cccd_code]
    df = parse(ids)
    assert df.id_valid_structure.all()
    assert df.id_birth_province.tolist() == PROV.gso_province_code.tolist()
    assert df.id_birth_province_2025.tolist() == PROV.province_code_2025.tolist()
    assert len(set(df.id_birth_province_2025)) == 34


def test_columns_dtypes_and_alignment():
    s = pd.Series(["001090012345", None, "012345678", "001090012345"], index=[5, 9, 2, 7])
    df = parse_ids(s, today=TODAY)
    assert list(df.columns) == COLUMNS
    assert list(df.index) == [5, 9, 2, 7]
    assert str(df.id_birth_year.dtype) == "Int32" and str(df.id_century.dtype) == "Int32"
    assert df.id_valid_structure.dtype == bool and str(df.id_cmnd_confirmed.dtype) == "boolean"
    assert df.id_kind.tolist() == ["personal_id", pd.NA, "cmnd", "personal_id"]


def test_integer_and_float_columns():
    assert parse_ids(pd.Series([79090012345, 1090012345]), today=TODAY).id_clean.tolist() == [
        "079090012345", "001090012345"
    ]
    assert parse_ids(pd.Series([79090012345.0, float("nan")]), today=TODAY).id_clean.tolist() == [
        "079090012345", pd.NA
    ]


def _rules_copy(tmp_path, name, edit):
    d = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d)
    p = d / name
    p.write_text(edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    return d


def test_leading_zero_restore_can_be_switched_off(tmp_path):
    d = _rules_copy(tmp_path, "fields.yaml", lambda t: t.replace("restore_leading_zero: true", "restore_leading_zero: false"))
    df = parse_ids(pd.Series(["79090012345"]), rules=d, today=TODAY)
    assert df.id_kind.iloc[0] == "invalid" and not df.id_leading_zero_restored.iloc[0]


def test_bad_reference_table_is_a_rules_error(tmp_path):
    d = _rules_copy(tmp_path, "ref/ids/cccd_birth_province_codes.csv", lambda t: t.replace(",001,", ",1,"))
    with pytest.raises(RulesError, match="cccd_code"):
        parse_ids(pd.Series(["001090012345"]), rules=d, today=TODAY)


# ---- property tests ------------------------------------------------------------------------

valid_ids = st.builds(
    lambda p, g, yy, tail: f"{p}{g}{yy:02d}{tail:06d}",
    st.sampled_from(PROV.cccd_code.tolist()),
    st.sampled_from("0123"),
    st.integers(0, 26),
    st.integers(0, 999999),
)


def _decorate(i: str, style: int) -> str:
    if style == 1:
        return f"{i[:3]} {i[3:6]} {i[6:9]} {i[9:]}"
    if style == 2:
        return f"{i[:3]}.{i[3:6]}.{i[6:]}"
    if style == 3:
        return f"CCCD: {i}"
    if style == 4:
        return f" {i[:6]}-{i[6:]} "
    return i


@settings(max_examples=100, deadline=None)
@given(valid_ids, st.integers(0, 4))
def test_valid_id_in_any_style_reads_its_structure(i, style):
    df = parse([_decorate(i, style), i])
    r = df.iloc[0]
    assert r.id_clean == i and r.id_kind == "personal_id" and r.id_valid_structure
    assert r.id_birth_province == PROV.set_index("cccd_code").gso_province_code[i[:3]]
    assert r.id_gender == ("M" if i[3] in "02" else "F")
    assert r.id_birth_year == (1900 if i[3] in "01" else 2000) + int(i[4:6])
    pd.testing.assert_series_equal(df.iloc[0], df.iloc[1], check_names=False)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789 .-abcCD:", max_size=16))
def test_parse_is_idempotent_on_id_clean(text):
    first = parse([text])
    clean = first.id_clean.iloc[0]
    if pd.isna(clean):
        return
    second = parse([clean])
    assert second.id_clean.iloc[0] == clean
    for c in COLUMNS[1:-1]:
        assert val(second[c].iloc[0]) == val(first[c].iloc[0]), c
