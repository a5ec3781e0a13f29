"""Name splitting, the vectorised name columns, aliases and variant pairs (synthetic names only)."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.normalize.names import (
    COLUMNS,
    given2,
    normalize_name,
    normalize_names,
    split_aliases,
    split_name,
    variant_pairs,
    variant_table,
)
from linkage.normalize.text import canonical_name, fold_ascii
from test_text import names as name_strategy
from test_text import variant_of

# ------------------------------------------------------------------------------------ split_name


@pytest.mark.parametrize(
    "name, parts",
    [
        ("Nguyễn Văn Hùng", ("Nguyễn", "Văn", "Hùng")),
        ("Nguyễn Thị Minh Khai", ("Nguyễn", "Thị Minh", "Khai")),  # last syllable is the given name
        ("Tôn Nữ Thị Diệu Hằng", ("Tôn", "Nữ Thị Diệu", "Hằng")),  # 5 words
        ("Lê Lợi", ("Lê", "", "Lợi")),
        ("Hùng", ("", "", "Hùng")),  # single-word name
        # H'Mông, Thái: family first like Kinh names
        ("Giàng A Páo", ("Giàng", "A", "Páo")),
        ("Lò Văn Pọm", ("Lò", "Văn", "Pọm")),
        # Ê Đê / M'Nông: prefix first, family last
        ("Y Bih Niê", ("Niê", "Y", "Bih")),
        ("H'Hen Niê", ("Niê", "H'", "Hen")),
        ("Hen Niê", ("Niê", "", "Hen")),  # prefix dropped: same given and family
        ("Y Jut Buôn Yă", ("Buôn Yă", "Y", "Jut")),  # two-word family
        ("Y Ngông Niê Kdăm", ("Niê Kdăm", "Y", "Ngông")),
        ("Y Moan Xyz", ("Xyz", "Y", "Moan")),  # unknown family: still last after a prefix
        ("Y Bih", ("", "Y", "Bih")),
        # Gia Rai: family first, prefix before the given name
        ("Ksor H'Bia", ("Ksor", "H'", "Bia")),
        ("Siu Y Tuân", ("Siu", "Y", "Tuân")),
        ("Rơ Mah H'Bia", ("Rơ Mah", "H'", "Bia")),
        # Ba Na / Xơ Đăng / Cơ Ho
        ("A Tiếp", ("", "A", "Tiếp")),
        ("A Lăng Thị Mai", ("A Lăng", "Thị", "Mai")),
        ("K'Điệp Liêng", ("Liêng", "K'", "Điệp")),
        ("Ka Hồng Ka Sô", ("Ka Sô", "Ka", "Hồng")),
        ("K'Bròng", ("", "K'", "Bròng")),
        ("Liêng Hót K'Hương", ("Liêng", "Hót K'", "Hương")),
        # a minority family name last but a Kinh family first: Kinh order
        ("Nguyễn Văn Nay", ("Nguyễn", "Văn", "Nay")),
        ("", ("", "", "")),
    ],
)
def test_split_name(name: str, parts: tuple[str, str, str]) -> None:
    assert canonical_name(name) == name
    assert split_name(name) == parts


def test_split_is_stable_across_spellings_of_one_person() -> None:
    """The engine compares given names: variants of one name must give the same given name."""
    forms = ["H' Hen Niê", "H’Hen Niê", "h'hen niê", "H Hen Niê", "Hen Niê", "HʼHen  Niê"]
    assert {split_name(canonical_name(f))[::2] for f in forms} == {("Niê", "Hen")}
    forms = ["Nguyễn Thị Minh Khai", "Nguyễn Minh Khai", "Nguyễn Thị Khai", "NGUYỄN THỊ MINH KHAI"]
    assert {split_name(canonical_name(f))[::2] for f in forms} == {("Nguyễn", "Khai")}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Nguyễn Thị Minh Khai", "Minh Khai"),
        ("Nguyễn Minh Khai", "Minh Khai"),  # listed two-syllable given name
        ("Trần Văn Minh Khai", "Minh Khai"),
        ("Nguyễn Văn Hùng", ""),  # Văn is a gender middle
        ("Lê Thị Văn Hùng", ""),
        ("Lê Hùng", ""),
        ("Y Bih Niê", ""),
    ],
)
def test_given2(name: str, expected: str) -> None:
    assert given2(name) == expected


# ------------------------------------------------------------------------------- normalize_names


def test_normalize_names_columns_and_nulls() -> None:
    s = pd.Series(
        ["nguyễn văn hùng", None, "", "  ", "NGUYỄN VĂN HÙNG", "Y Bih Niê", "Nguyeenx Thij Thuys", np.nan],
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    df = normalize_names(s)
    assert list(df.columns) == list(COLUMNS)
    assert list(df.index) == [10, 11, 12, 13, 14, 15, 16, 17]
    assert df.loc[10].drop("given2").to_dict() == {
        "norm": "Nguyễn Văn Hùng",
        "ascii": "nguyen van hung",
        "family": "Nguyễn",
        "middle": "Văn",
        "given": "Hùng",
        "phonetic": "nguien zan hun",
    }
    assert pd.isna(df.loc[10, "given2"])
    assert df.loc[14, "norm"] == "Nguyễn Văn Hùng"
    assert df.loc[15, ["family", "middle", "given"]].tolist() == ["Niê", "Y", "Bih"]
    assert df.loc[16, "norm"] == "Nguyễn Thị Thúy"
    assert df.loc[[11, 12, 13, 17]].isna().all().all()


def test_normalize_names_empty_series() -> None:
    df = normalize_names(pd.Series([], dtype=object))
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)


HARD_VALUES = [
    "Nguyễn Văn Hùng",
    "nguyen van hung",
    "LÊ THỊ HOÀ",
    "Trần  Quý",
    unicodedata.normalize("NFD", "Hoàng Thị Thuý"),
    "Ðỗ Văn Nam",
    "Y Bih Niê",
    "H' Hen Niê",
    "Hen Niê",
    "Rơ Mah H'Bia",
    "A Tiếp",
    "Giàng A Páo",
    "Nguyễn Thị Minh Khai",
    "Nguyễn Minh Khai",
    "Hùng",
    "Nguyeenx Vawn Hungf",
    "Nguye64n Va8n Hu2ng",
    "NguyễnVăn Hùng",
    "Nguyễn V. Hùng",
    "'",
    "123",
    "Tôn Nữ Thị Diệu Hằng",
    "Ksor",
]


def test_vectorised_path_equals_the_scalar_path() -> None:
    """normalize_names takes an Arrow fast path for plain names; it must agree with the scalar
    function on every value."""
    df = normalize_names(pd.Series(HARD_VALUES * 3))
    for i, v in enumerate(HARD_VALUES * 3):
        got = {k: (None if pd.isna(x) else x) for k, x in df.iloc[i].items()}
        assert got == normalize_name(v), v


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(name_strategy, st.none()), min_size=1, max_size=40), st.data())
def test_vectorised_path_equals_scalar_on_generated_names(values, data) -> None:
    values = [v if v is None else data.draw(variant_of(v)) for v in values]
    df = normalize_names(pd.Series(values, dtype=object))
    for i, v in enumerate(values):
        got = {k: (None if pd.isna(x) else x) for k, x in df.iloc[i].items()}
        expected = dict.fromkeys(COLUMNS) if v is None else normalize_name(v)
        assert got == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_name_columns_agree_with_each_other(data) -> None:
    name = data.draw(name_strategy)
    row = normalize_name(data.draw(variant_of(name)))
    assert row["norm"] == canonical_name(name)
    assert row["ascii"] == fold_ascii(row["norm"])
    parts = [p for p in (row["family"], row["middle"], row["given"]) if p]
    # the parts use every word of the name once (prefixes such as H' stay glued in norm)
    assert sorted("".join(parts).replace(" ", "").replace("'", "")) == sorted(row["norm"].replace(" ", "").replace("'", ""))


# ----------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Tèo; Tí", ["Tèo", "Tí"]),
        ("tèo ; TÍ ;", ["Tèo", "Tí"]),
        ("Tèo, Tí", ["Tèo", "Tí"]),
        ("Nguyễn Văn A / Ba Đen", ["Nguyễn Văn A", "Ba Đen"]),
        ("Tèo;Tèo", ["Tèo"]),  # duplicates once
        ("Tư Hùng", ["Tư Hùng"]),
        ("Năm Cam | Năm Râu", ["Năm Cam", "Năm Râu"]),
        ("H’ Hen; Y Bih", ["H'Hen", "Y Bih"]),
        ("", []),
        (";", []),
    ],
)
def test_split_aliases(raw: str, expected: list[str]) -> None:
    assert split_aliases(pd.Series([raw])).iloc[0] == expected


def test_split_aliases_nulls_and_index() -> None:
    s = pd.Series([None, "Tèo; Tí", np.nan, "Tèo; Tí"], index=["a", "b", "c", "d"])
    out = split_aliases(s)
    assert list(out.index) == ["a", "b", "c", "d"]
    assert out.tolist() == [[], ["Tèo", "Tí"], [], ["Tèo", "Tí"]]
    out.loc["b"].append("X")  # rows do not share one list object
    assert out.loc["d"] == ["Tèo", "Tí"]


# ------------------------------------------------------------------------------ variant pairs


def test_variant_pairs_known_pairs() -> None:
    pairs = variant_pairs()
    for a, b in [("Hoàng", "Huỳnh"), ("Vũ", "Võ"), ("Vy", "Vi"), ("Thy", "Thi"), ("Quý", "Quí"), ("Đỗ", "Đổ")]:
        assert frozenset((a, b)) in pairs
    # tone style and dropped diacritics are not variants: canonical form and ASCII fold equal them
    assert frozenset(("Thúy", "Thuý")) not in pairs and frozenset(("Thúy",)) not in pairs
    assert not any("Nguyen" in p for p in pairs)
    assert all(len(p) == 2 for p in pairs)


def test_variant_relations() -> None:
    weak = variant_pairs(relation="weak")
    same = variant_pairs(relation="same")
    assert frozenset(("Hoàng", "Huỳnh")) in weak and frozenset(("Quý", "Quí")) in same
    assert not weak & same
    table = variant_table()
    assert set(table["relation"]) == {"same", "weak"}
    assert (table["form_a"].map(canonical_name) == table["form_a"]).all()


@pytest.mark.parametrize("dtype", [object, "str", "string", "category"])
def test_normalize_names_accepts_any_string_column(dtype) -> None:
    s = pd.Series(["lê văn", None, "Lê Văn", ""], dtype=dtype)
    assert normalize_names(s)["norm"].tolist()[::2] == ["Lê Văn", "Lê Văn"]
    assert normalize_names(s)["norm"].isna().tolist() == [False, True, False, True]


def test_normalize_names_non_string_values_are_text() -> None:
    out = normalize_names(pd.Series(["Lê Văn", 5, 3.5], dtype=object))
    assert out["norm"].tolist()[0] == "Lê Văn" and out["norm"].iloc[1:].isna().all()
