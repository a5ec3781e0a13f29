"""Birth-date reading: a table of real-world forms and hard cases, plus property tests."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import RulesError
from linkage.normalize.dates import parse_birth_dates, parse_dates
from linkage.rules import DEFAULT_RULES_DIR

TODAY = date(2026, 11, 26)
N = None

# value -> (year, month, day, precision, placeholder, jan1, swap_month, swap_day, error substring or None)
CASES = {
    # formats
    "12/05/1985": (1985, 5, 12, "day", False, False, 12, 5, None),
    "1/2/1990": (1990, 2, 1, "day", False, False, 1, 2, None),
    "05/1990": (1990, 5, N, "month", False, False, N, N, None),
    "5/1990": (1990, 5, N, "month", False, False, N, N, None),
    "1990": (1990, N, N, "year", False, False, N, N, None),
    "1990-05-12": (1990, 5, 12, "day", False, False, 12, 5, None),
    "1990/5/12": (1990, 5, 12, "day", False, False, 12, 5, None),
    "1990-05": (1990, 5, N, "month", False, False, N, N, None),
    "12.05.1985": (1985, 5, 12, "day", False, False, 12, 5, None),
    "12-05-1985": (1985, 5, 12, "day", False, False, 12, 5, None),
    " 12 / 05 / 1985 ": (1985, 5, 12, "day", False, False, 12, 5, None),
    "12 05 1985": (1985, 5, 12, "day", False, False, 12, 5, None),
    "12/05/1985\u00a0": (1985, 5, 12, "day", False, False, 12, 5, None),
    "1990-05-12T00:00:00": (1990, 5, 12, "day", False, False, 12, 5, None),
    "1990-05-12 00:00:00": (1990, 5, 12, "day", False, False, 12, 5, None),
    "1990-05-12T08:30:00.000Z": (1990, 5, 12, "day", False, False, 12, 5, None),
    "1990-05-12 08:30:00+07:00": (1990, 5, 12, "day", False, False, 12, 5, None),
    "12/05/1990 10:20": (1990, 5, 12, "day", False, False, 12, 5, None),
    "19900512": (1990, 5, 12, "day", False, False, 12, 5, None),
    "12051990": (1990, 5, 12, "day", False, False, 12, 5, None),
    "19101920": (1920, 10, 19, "day", False, False, N, N, None),  # not 1910-19-20
    "1990.0": (1990, N, N, "year", False, False, N, N, None),  # a year read into a float column
    "32874": (1990, 1, 1, "day", False, True, N, N, None),  # Excel serial
    "32874.0": (1990, 1, 1, "day", False, True, N, N, None),
    # Vietnamese wording
    "SN 1990": (1990, N, N, "year", False, False, N, N, None),
    "sn: 1990": (1990, N, N, "year", False, False, N, N, None),
    "NS 1990": (1990, N, N, "year", False, False, N, N, None),
    "SN1990": (1990, N, N, "year", False, False, N, N, None),
    "ns:12/05/1990": (1990, 5, 12, "day", False, False, 12, 5, None),
    "năm1990": (1990, N, N, "year", False, False, N, N, None),
    "snx 1990": (N, N, N, N, False, False, N, N, "unparseable"),  # not a filler word
    "sinh năm 1990": (1990, N, N, "year", False, False, N, N, None),
    "Sinh năm: 1990": (1990, N, N, "year", False, False, N, N, None),
    "năm 1990": (1990, N, N, "year", False, False, N, N, None),
    "khoảng năm 1985": (1985, N, N, "year", False, False, N, N, None),
    "tháng 5/1990": (1990, 5, N, "month", False, False, N, N, None),
    "tháng 05 năm 1990": (1990, 5, N, "month", False, False, N, N, None),
    "ngày 12 tháng 5 năm 1990": (1990, 5, 12, "day", False, False, 12, 5, None),
    "Ngày 03 tháng 11 năm 1978": (1978, 11, 3, "day", False, False, 3, 11, None),
    "sinh ngày 12/05/1990": (1990, 5, 12, "day", False, False, 12, 5, None),
    # two-digit years (pivot = 26 for 2026)
    "12/05/85": (1985, 5, 12, "day", False, False, 12, 5, None),
    "12/05/05": (2005, 5, 12, "day", False, False, 12, 5, None),
    "12/05/26": (2026, 5, 12, "day", False, False, N, N, None),  # swap 5 Dec 2026 is in the future
    "12/05/27": (1927, 5, 12, "day", False, False, 12, 5, None),
    "1.1.70": (1970, 1, 1, "day", False, True, N, N, None),
    # impossible dates keep the year only
    "31/02/1990": (1990, N, N, "year", False, False, N, N, "impossible date 31/02/1990"),
    "29/02/1990": (1990, N, N, "year", False, False, N, N, "impossible date 29/02/1990"),
    "29/02/1900": (N, N, N, N, True, False, N, N, "impossible date 29/02/1900"),  # 1900 not leap; year 1900 = placeholder
    "31/04/2000": (2000, N, N, "year", False, False, N, N, "impossible date 31/04/2000"),
    "00/13/1990": (1990, N, N, "year", True, False, N, N, "impossible date 00/13/1990"),
    "13/1990": (1990, N, N, "year", False, False, N, N, "impossible date 13/1990"),
    "32/01/1990": (1990, N, N, "year", False, False, N, N, "impossible date 32/01/1990"),
    "1990-02-30": (1990, N, N, "year", False, False, N, N, "impossible date 30/02/1990"),
    # leap years
    "29/02/2000": (2000, 2, 29, "day", False, False, N, N, None),
    "29/02/1996": (1996, 2, 29, "day", False, False, N, N, None),
    "29/02/2024": (2024, 2, 29, "day", False, False, N, N, None),
    # bounds and the future
    "2090": (N, N, N, N, False, False, N, N, "year 2090 in the future"),
    "12/05/2090": (N, N, N, N, False, False, N, N, "year 2090 in the future"),
    "15/12/2026": (N, N, N, N, False, False, N, N, "date 15/12/2026 in the future"),
    "12/2026": (N, N, N, N, False, False, N, N, "date 12/2026 in the future"),
    "26/11/2026": (2026, 11, 26, "day", False, False, N, N, None),
    "1850": (N, N, N, N, False, False, N, N, "year 1850 before 1900"),
    "1899": (N, N, N, N, False, False, N, N, "year 1899 before 1900"),
    # placeholders
    "01/01/1900": (N, N, N, N, True, False, N, N, None),
    "1900-01-01": (N, N, N, N, True, False, N, N, None),
    "1900": (N, N, N, N, True, False, N, N, None),
    "00/00/1985": (1985, N, N, "year", True, False, N, N, None),
    "0/0/1985": (1985, N, N, "year", True, False, N, N, None),
    "00/05/1985": (1985, 5, N, "month", True, False, N, N, None),
    "??/??/1985": (1985, N, N, "year", True, False, N, N, None),
    "xx/05/1985": (1985, 5, N, "month", True, False, N, N, None),
    "00/00/0000": (N, N, N, N, True, False, N, N, None),
    "0000": (N, N, N, N, True, False, N, N, None),
    "Không rõ": (N, N, N, N, True, False, N, N, None),
    "KHONG RO": (N, N, N, N, True, False, N, N, None),
    "không xác định": (N, N, N, N, True, False, N, N, None),
    "?": (N, N, N, N, True, False, N, N, None),
    # 1 January is flagged, not dropped
    "01/01/1985": (1985, 1, 1, "day", False, True, N, N, None),
    "1/1/1985": (1985, 1, 1, "day", False, True, N, N, None),
    "01/1985": (1985, 1, N, "month", False, False, N, N, None),
    # swap candidates
    "05/06/1990": (1990, 6, 5, "day", False, False, 5, 6, None),
    "13/06/1990": (1990, 6, 13, "day", False, False, N, N, None),
    "05/05/1990": (1990, 5, 5, "day", False, False, N, N, None),
    "12/01/1990": (1990, 1, 12, "day", False, False, 12, 1, None),
    "11/10/2026": (2026, 10, 11, "day", False, False, 11, 10, None),  # swapped = 10 Nov 2026, not future
    "12/11/2026": (2026, 11, 12, "day", False, False, N, N, None),  # swapped = 11 Dec 2026, future: dropped
    "01/12/2026": (N, N, N, N, False, False, N, N, "date 01/12/2026 in the future"),
    # missing and unreadable
    "": (N, N, N, N, False, False, N, N, None),
    "   ": (N, N, N, N, False, False, N, N, None),
    "nan": (N, N, N, N, False, False, N, N, None),
    "-": (N, N, N, N, False, False, N, N, None),
    "abc": (N, N, N, N, False, False, N, N, "unparseable 'abc'"),
    "12/05": (N, N, N, N, False, False, N, N, "no year in '12/05'"),
    "85": (N, N, N, N, False, False, N, N, "no year in '85'"),
    "1990 - 1991": (N, N, N, N, False, False, N, N, "unparseable"),
    "199": (N, N, N, N, False, False, N, N, "unparseable"),
}


def _row(df: pd.DataFrame, i: int) -> tuple:
    r = df.iloc[i]

    def v(x):
        return None if pd.isna(x) else (int(x) if not isinstance(x, (str, bool)) else x)

    return (
        v(r.birth_year),
        v(r.birth_month),
        v(r.birth_day),
        v(r.birth_precision),
        bool(r.birth_placeholder),
        bool(r.birth_jan1),
        v(r.birth_swap_month),
        v(r.birth_swap_day),
    )


def test_case_table():
    values = list(CASES)
    df = parse_birth_dates(pd.Series(values, dtype=object), today=TODAY)
    failures = []
    for i, value in enumerate(values):
        exp = CASES[value]
        got = _row(df, i)
        err = df.birth_date_error.iloc[i]
        err = None if pd.isna(err) else err
        err_ok = (exp[8] is None and err is None) or (exp[8] is not None and err is not None and exp[8] in err)
        if got != exp[:8] or not err_ok:
            failures.append(f"{value!r}: got {got} {err!r}, want {exp}")
    assert not failures, "\n".join(failures)


def test_swap_dropped_when_swapped_reading_in_future():
    # 10/11/2026 = 10 Nov 2026; its swap (11 Oct 2026) is past -> kept. 12/11 -> 11 Dec: future.
    df = parse_birth_dates(pd.Series(["10/11/2026", "20/11/2026", "12/11/2026"]), today=TODAY)
    assert df.birth_swap_month.tolist() == [10, pd.NA, pd.NA]
    assert df.birth_swap_day.iloc[0] == 11


def test_output_columns_and_dtypes():
    df = parse_birth_dates(pd.Series(["12/05/1985", None]), today=TODAY)
    assert list(df.columns) == [
        "birth_year", "birth_month", "birth_day", "birth_precision", "birth_placeholder",
        "birth_jan1", "birth_swap_month", "birth_swap_day", "birth_date_error",
    ]
    for c in ("birth_year", "birth_month", "birth_day", "birth_swap_month", "birth_swap_day"):
        assert str(df[c].dtype) == "Int32"
    assert df.birth_placeholder.dtype == bool and df.birth_jan1.dtype == bool
    assert df.iloc[1].isna()[["birth_year", "birth_precision", "birth_date_error"]].all()


def test_index_alignment_and_repetition():
    s = pd.Series(["12/05/1985", None, "1990", "12/05/1985", "abc", "1990"], index=[10, 3, 7, 1, 99, 5])
    df = parse_birth_dates(s, today=TODAY)
    assert list(df.index) == [10, 3, 7, 1, 99, 5]
    assert df.birth_year.tolist() == [1985, pd.NA, 1990, 1985, pd.NA, 1990]
    assert df.birth_date_error.loc[99] == "unparseable 'abc'"


def test_empty_column():
    df = parse_birth_dates(pd.Series([], dtype=object), today=TODAY)
    assert len(df) == 0 and "birth_year" in df.columns


def test_datetime_and_numeric_columns():
    dt = pd.Series(pd.to_datetime(["1990-05-12", None]))
    assert parse_birth_dates(dt, today=TODAY).birth_day.tolist() == [12, pd.NA]
    years = pd.Series([1990, 1985])
    assert parse_birth_dates(years, today=TODAY).birth_precision.tolist() == ["year", "year"]
    fl = pd.Series([1990.0, float("nan")])
    assert parse_birth_dates(fl, today=TODAY).birth_year.tolist() == [1990, pd.NA]


def test_nfd_input_reads_like_nfc():
    import unicodedata

    s = pd.Series([unicodedata.normalize("NFD", "sinh năm 1990"), unicodedata.normalize("NFD", "Không rõ")])
    df = parse_birth_dates(s, today=TODAY)
    assert df.birth_year.iloc[0] == 1990 and df.birth_placeholder.iloc[1]


def test_event_dates_use_event_bounds():
    df = parse_dates(pd.Series(["12/05/1930", "2024-03-05T10:22:11", "01/01/1900"]), kind="event", today=TODAY)
    assert list(df.columns)[:4] == ["year", "month", "day", "precision"]
    assert pd.isna(df.year.iloc[0]) and "before 1945" in df.date_error.iloc[0]
    assert (df.year.iloc[1], df.month.iloc[1], df.day.iloc[1]) == (2024, 3, 5)
    assert df.placeholder.iloc[2]


def _rules_copy(tmp_path, edit):
    d = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d)
    p = d / "dates.yaml"
    p.write_text(edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    return d


def test_rules_pivot_and_reference_date_from_yaml(tmp_path):
    d = _rules_copy(
        tmp_path,
        lambda t: t.replace("two_digit_year_pivot: auto", "two_digit_year_pivot: 10").replace(
            "reference_date: null", "reference_date: 2020-01-01"
        ),
    )
    df = parse_birth_dates(pd.Series(["01/02/15", "01/02/10", "2021"]), rules=d)
    assert df.birth_year.tolist()[:2] == [1915, 2010]
    assert df.birth_date_error.iloc[2] == "year 2021 in the future"


def test_rules_errors_name_the_key(tmp_path):
    d = _rules_copy(tmp_path, lambda t: t.replace("two_digit_year_pivot: auto", "two_digit_year_pivot: abc"))
    with pytest.raises(RulesError, match="two_digit_year_pivot"):
        parse_birth_dates(pd.Series(["1990"]), rules=d)
    d2 = _rules_copy(tmp_path / "b", lambda t: t.replace('  - "1900-01-01"', '  - "1/1/1900"'))
    with pytest.raises(RulesError, match="placeholder_dates"):
        parse_birth_dates(pd.Series(["1990"]), rules=d2)


def test_excel_serials_can_be_switched_off(tmp_path):
    d = _rules_copy(tmp_path, lambda t: t.replace("excel_serials: true", "excel_serials: false"))
    df = parse_birth_dates(pd.Series(["32874"]), rules=d, today=TODAY)
    assert pd.isna(df.birth_year.iloc[0]) and "unparseable" in df.birth_date_error.iloc[0]


# ---- property tests ------------------------------------------------------------------------

_PLACEHOLDER_DAYS = {date(1900, 1, 1)}
dates = st.dates(min_value=date(1901, 1, 1), max_value=TODAY)


def _formats(d: date) -> list[str]:
    dd, mm, yyyy = d.day, d.month, d.year
    out = [
        f"{dd:02d}/{mm:02d}/{yyyy}", f"{dd}/{mm}/{yyyy}", f"{yyyy}-{mm:02d}-{dd:02d}",
        f"{dd:02d}.{mm:02d}.{yyyy}", f"{dd:02d}-{mm:02d}-{yyyy}", f"{yyyy}-{mm:02d}-{dd:02d}T00:00:00",
        f"{yyyy}-{mm:02d}-{dd:02d} 00:00:00", f"ngày {dd} tháng {mm} năm {yyyy}", f"{yyyy}{mm:02d}{dd:02d}",
        f"{dd:02d}{mm:02d}{yyyy}", f" {dd} / {mm} / {yyyy} ", f"{yyyy}/{mm}/{dd}",
    ]
    if TODAY.year - 99 <= yyyy:  # two-digit years read back to the same century
        out.append(f"{dd:02d}/{mm:02d}/{yyyy % 100:02d}")
    serial = (d - date(1899, 12, 30)).days
    if 10000 <= serial <= 99999:
        out.append(str(serial))
    return out


@settings(max_examples=150, deadline=None)
@given(dates)
def test_any_format_of_a_valid_date_reads_back(d):
    fmts = _formats(d)
    df = parse_birth_dates(pd.Series(fmts), today=TODAY)
    assert df.birth_date_error.isna().all(), df.birth_date_error.tolist()
    assert (df.birth_year == d.year).all() and (df.birth_month == d.month).all() and (df.birth_day == d.day).all()
    assert (df.birth_precision == "day").all()
    assert (df.birth_jan1 == (d.day == 1 and d.month == 1)).all()
    has_swap = d.day != d.month and d.day <= 12 and date(d.year, d.day, d.month) <= TODAY
    assert df.birth_swap_month.notna().all() == has_swap


@settings(max_examples=100, deadline=None)
@given(st.integers(1901, TODAY.year - 1), st.integers(1, 12))
def test_month_and_year_forms_read_back(y, m):
    df = parse_birth_dates(pd.Series([f"{m:02d}/{y}", f"tháng {m}/{y}", f"{y}-{m:02d}", f"{y}", f"SN {y}"]), today=TODAY)
    assert (df.birth_year == y).all()
    assert df.birth_precision.tolist() == ["month", "month", "month", "year", "year"]
    assert df.birth_month.iloc[:3].tolist() == [m, m, m]


def _canonical(df: pd.DataFrame) -> list[str | None]:
    out = []
    for y, m, d, p in zip(df.birth_year, df.birth_month, df.birth_day, df.birth_precision):
        if pd.isna(p):
            out.append(None)
        elif p == "day":
            out.append(f"{d:02d}/{m:02d}/{y}")
        elif p == "month":
            out.append(f"{m:02d}/{y}")
        else:
            out.append(f"{y}")
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A[0-9]{1,2}[/.\- ][0-9]{1,2}[/.\- ][0-9]{2,4}\Z"),
        st.from_regex(r"\A[0-9]{1,2}/[0-9]{4}\Z"),
        st.from_regex(r"\A(18|19|20)[0-9]{2}\Z"),
        st.text(max_size=12),
    )
)
def test_parse_is_idempotent_on_the_canonical_form(text):
    first = parse_birth_dates(pd.Series([text]), today=TODAY)
    canon = _canonical(first)
    if canon[0] is None:
        return
    second = parse_birth_dates(pd.Series(canon), today=TODAY)
    assert _canonical(second) == canon
    assert second.birth_date_error.isna().all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(list(CASES) + [None]), min_size=1, max_size=20))
def test_column_parse_equals_value_by_value(values):
    whole = parse_birth_dates(pd.Series(values, dtype=object), today=TODAY)
    for i, v in enumerate(values):
        one = parse_birth_dates(pd.Series([v], dtype=object), today=TODAY)
        pd.testing.assert_series_equal(whole.iloc[i], one.iloc[0], check_names=False)


def test_future_boundary_moves_with_reference_date():
    tomorrow = TODAY + timedelta(days=1)
    s = pd.Series([tomorrow.strftime("%d/%m/%Y")])
    assert parse_birth_dates(s, today=TODAY).birth_date_error.notna().all()
    assert parse_birth_dates(s, today=tomorrow).birth_date_error.isna().all()
