"""Place resolution: hard cases by hand, a stratified sample of every ward in every writing style,
and properties (case, spacing, Unicode form and tone style never change the codes)."""

from __future__ import annotations

import importlib.util
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.errors import RulesError
from linkage.normalize.places import COLUMNS, resolve_places
from linkage.rules import read_ref_csv

ROOT = Path(__file__).resolve().parent.parent


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_places", ROOT / "bench" / "bench_places.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one(text: str) -> dict:
    row = resolve_places(pd.Series([text])).iloc[0]
    return {k: (None if pd.isna(v) else v) for k, v in row.items()}


N = None  # shorthand in the table below
# text -> expected (province, district, ward, province_2025, ward_2025, regime, level); codes checked
# by hand against rules/ref/admin (GSO pre-2025 lists, dvhcvn 2025 mapping).
HARD_CASES = [
    # abbreviations, numbered wards and districts
    ("Q.1, TP.HCM", ("79", "760", N, "79", N, "pre2025", "district")),
    ("P. 5, Q. Gò Vấp", ("79", "764", "26887", "79", "26876", "pre2025", "ward")),
    ("P1, Q3, TPHCM", ("79", "770", "27160", "79", "27154", "pre2025", "ward")),
    ("Phường 01, Quận 03, Tp. Hồ Chí Minh", ("79", "770", "27160", "79", "27154", "pre2025", "ward")),
    ("F.5 Q.3 TP.HCM", ("79", "770", "27151", "79", None, "pre2025", "ward")),
    ("TX Sơn Tây, HN", ("01", "269", N, "01", N, "pre2025", "district")),
    ("T.T Đông Anh, H. Đông Anh, T.P Hà Nội", ("01", "017", "00454", "01", "00454|00466|00475", "pre2025", "ward")),
    ("Đặc khu Phú Quốc, Tỉnh An Giang", ("91", "911", N, "91", "31078", "2025", "ward")),
    # district + province, with and without diacritics, old tone style (Hoà)
    ("Huyện Đức Hòa, Long An", ("80", "802", N, "80", N, "pre2025", "district")),
    ("Huyện Đức Hoà, Tỉnh Long An", ("80", "802", N, "80", N, "pre2025", "district")),
    ("Xa Tan Phu, Huyen Duc Hoa, Long An", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    ("xã tân phú - huyện đức hòa - tỉnh long an", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    ("Xã Tân Phú. Huyện Đức Hòa. Long An", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    ("Xã Tân Phú Huyện Đức Hòa Tỉnh Long An", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    ("  XÃ   TÂN PHÚ ,HUYỆN ĐỨC HÒA,LONG AN ", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    # house numbers, streets and hamlets are ignored
    ("Số 12 đường Lê Lợi, Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh",
     ("79", "760", "26740", "79", "26740", "pre2025", "ward")),
    ("Thôn 3, Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An, Việt Nam",
     ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    # province only, both regimes; old and new province names
    ("Nghệ An", ("40", N, N, "40", N, "both", "province")),
    ("Hà Nội", ("01", N, N, "01", N, "both", "province")),
    ("HN", ("01", N, N, "01", N, "both", "province")),
    ("TP HCM", ("79", N, N, "79", N, "both", "province")),
    ("HCM", ("79", N, N, "79", N, "both", "province")),
    ("Sài Gòn", ("79", N, N, "79", N, "both", "province")),
    ("Huế", ("46", N, N, "46", N, "both", "province")),
    ("Thừa Thiên Huế", ("46", N, N, "46", N, "pre2025", "province")),
    ("Lào Cai", ("10", N, N, "15", N, "both", "province")),  # codes differ between regimes
    ("Yên Bái", ("15", N, N, "15", N, "pre2025", "province")),  # merged into Lào Cai (2025 code 15)
    ("Quảng Bình", ("44", N, N, "44", N, "pre2025", "province")),
    ("Quảng Trị", ("45", N, N, "44", N, "both", "province")),
    ("Bà Rịa - Vũng Tàu", ("77", N, N, "79", N, "pre2025", "province")),
    ("Bà Rịa-Vũng Tàu", ("77", N, N, "79", N, "pre2025", "province")),
    ("Tuyên Quang", ("08", N, N, "08", N, "both", "province")),
    # a province that no longer exists in either table: NULL, never a wrong code
    ("Tỉnh Hà Tây", (N, N, N, N, N, N, N)),
    # a pre-2025 district written with the 2025 province it now belongs to
    ("Huyện Lệ Thủy, Quảng Trị", ("44", "457", N, "44", N, "pre2025", "district")),
    # the 2021 Thủ Đức merger, an alias in rules/places/aliases.csv
    ("Quận 9, TP HCM", ("79", "769", N, "79", N, "pre2025", "district")),
    # same ward name in both regimes; pre-2025 district makes it pre-2025
    ("Phường Bến Thành, Quận 1, TP HCM", ("79", "760", "26743", "79", "26743", "pre2025", "ward")),
    ("Phường Bến Thành, TP HCM", ("79", "760", "26743", "79", "26743", "both", "ward")),
    # a 2025 ward: pre-2025 province and district derived from its predecessors (all in Quận 1)
    ("Phường Sài Gòn, Thành phố Hồ Chí Minh", ("79", "760", N, "79", "26740", "2025", "ward")),
    # a split pre-2025 ward maps to the set of its 2025 successors
    ("Phường Văn Miếu - Quốc Tử Giám, Quận Đống Đa, Hà Nội",
     ("01", "006", "00181", "01", "00190|00226", "pre2025", "ward")),
    # Hùng/Hưng-style twins in one district: diacritics decide; without them the ward stays NULL
    ("Xã Nga Thanh, Huyện Nga Sơn, Tỉnh Thanh Hóa", ("38", "401", "16123", "38", "16093", "pre2025", "ward")),
    ("Xã Nga Thành, Huyện Nga Sơn, Tỉnh Thanh Hóa", ("38", "401", "16141", "38", N, "pre2025", "ward")),
    ("Xa Nga Thanh, Huyen Nga Son, Thanh Hoa", ("38", "401", N, "38", N, "pre2025", "district")),
    # a ward name found in many provinces, no parent: no ward
    ("Xã Tân Phú", (N, N, N, N, N, N, N)),
    # district without province: unique nation-wide, lower confidence
    ("Xã Tân Phú, Huyện Đức Hòa", ("80", "802", "27961", "80", "27952", "pre2025", "ward")),
    # garbage
    ("asdf qwer", (N, N, N, N, N, N, N)),
    ("!!! ---", (N, N, N, N, N, N, N)),
    ("12345", (N, N, N, N, N, N, N)),
]
KEYS = ("province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025", "regime", "level")


@pytest.mark.parametrize("text,expected", HARD_CASES, ids=[c[0] for c in HARD_CASES])
def test_hard_cases(text, expected):
    got = one(text)
    want = dict(zip(KEYS, expected))
    if want["ward_code_2025"] is None and want["ward_code"] is not None:
        want.pop("ward_code_2025")  # checked against the mapping in test_split_and_mapping
    assert {k: got[k] for k in want} == want
    if want["province_code"] is None and want["province_code_2025"] is None:
        assert got["confidence"] == 0.0


def test_bulk_resolution_equals_one_by_one():
    """Caches shared across values and calls never change a result (order independence)."""
    texts = [c[0] for c in HARD_CASES] + _bench_module().styled_inputs(sample=40, seed=3)["text"].tolist()
    bulk = resolve_places(pd.Series(texts[::-1])).iloc[::-1].reset_index(drop=True)
    for i, t in enumerate(texts):
        assert {k: (None if pd.isna(v) else v) for k, v in bulk.iloc[i].items()} == one(t), t


def test_f5_and_nga_thanh_successors_follow_the_mapping():
    m = read_ref_csv("ref/admin/mapping_wards_pre2025_to_2025.csv", columns=("old_ward_code", "new_ward_code"))
    for text in ("F.5 Q.3 TP.HCM", "Xã Nga Thành, Huyện Nga Sơn, Tỉnh Thanh Hóa"):
        got = one(text)
        want = "|".join(sorted(m.loc[m["old_ward_code"] == got["ward_code"], "new_ward_code"].unique()))
        assert got["ward_code_2025"] == want


def test_confidence_orders_how_exactly_the_place_was_written():
    exact = one("Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An")["confidence"]
    no_dia = one("Xa Tan Phu, Huyen Duc Hoa, Tinh Long An")["confidence"]
    typo = one("Xã Tân Phús, Huyện Đức Hòa, Tỉnh Long An")
    no_parent = one("Phường Bến Nghé")
    assert exact == 1.0
    assert 0.8 < no_dia < exact
    assert typo["ward_code"] == "27961" and typo["confidence"] < no_dia
    assert no_parent["ward_code"] == "26740" and no_parent["confidence"] <= 0.7  # unique nation-wide
    assert one("Gò Vấp, TP HCM")["confidence"] < one("Quận Gò Vấp, TP HCM")["confidence"]


def test_2025_ward_whose_predecessors_span_provinces_has_no_pre2025_province():
    m = read_ref_csv("ref/admin/mapping_wards_pre2025_to_2025.csv",
                     columns=("old_province_code", "new_ward_code", "new_ward_name", "new_province_name"))
    spans = m.groupby("new_ward_code")["old_province_code"].nunique()
    code = "14014"  # Xã Nam Đồng, Ninh Bình: formed from communes of Nam Định and Ninh Bình
    assert spans[code] == 2
    got = one("Xã Nam Đồng, Tỉnh Ninh Bình")
    assert (got["ward_code_2025"], got["province_code_2025"], got["regime"]) == (code, "37", "2025")
    assert got["province_code"] is None and got["ward_code"] is None


def test_output_is_index_aligned_with_nulls_for_missing_input():
    s = pd.Series(["Hà Nội", None, "", "   ", np.nan, "Hà Nội", 79], index=[10, 3, 7, 1, 2, 99, 5])
    out = resolve_places(s)
    assert list(out.columns) == list(COLUMNS)
    assert list(out.index) == [10, 3, 7, 1, 2, 99, 5]
    assert out.loc[10, "province_code"] == "01" and out.loc[99, "province_code"] == "01"
    for i in (3, 7, 1, 2):
        assert out.loc[i, ["province_code", "ward_code_2025", "regime"]].isna().all()
        assert np.isnan(out.loc[i, "confidence"])
    assert out.loc[5, "confidence"] == 0.0  # a number is text that resolves to nothing
    assert str(out["province_code"].dtype) == "string" and out["confidence"].dtype == "float64"
    assert resolve_places(pd.Series([], dtype="string")).shape == (0, len(COLUMNS))


@pytest.fixture(scope="module")
def sample_scores():
    bench = _bench_module()
    return bench.summarise(bench.score(bench.styled_inputs(sample=300, seed=20261126)))


# Minimum share resolved to exactly the right codes, per (source, style), on a stratified sample of
# 300 wards per regime. Measured on all wards (bench/bench_places.py): see docs/benchmarks.md.
# "noprefix" for 2025 wards is low by design: a bare name that is also a pre-2025 district in the
# province ("Ba Đình, Hà Nội") is read as the district.
MIN_CORRECT = {
    ("pre2025", "full"): 0.99, ("pre2025", "abbrev"): 0.99, ("pre2025", "lower"): 0.99,
    ("pre2025", "noprefix"): 0.97, ("pre2025", "ascii"): 0.98, ("pre2025", "alias"): 0.95,
    ("pre2025", "typo"): 0.92,
    ("2025", "full"): 0.99, ("2025", "abbrev"): 0.99, ("2025", "lower"): 0.99,
    ("2025", "noprefix"): 0.75, ("2025", "ascii"): 0.98, ("2025", "alias"): 0.95, ("2025", "typo"): 0.92,
}


@pytest.mark.parametrize("key", list(MIN_CORRECT), ids=["/".join(k) for k in MIN_CORRECT])
def test_styled_sample_accuracy(sample_scores, key):
    row = sample_scores.loc[key]
    assert row["n"] >= 30
    assert row["correct"] >= MIN_CORRECT[key]
    # a wrong code is worse than none: typos may land on a real neighbour, nothing else may
    assert row["wrong"] <= (0.02 if key[1] == "typo" else 0.005)
    if key[0] == "pre2025":
        assert row["mapping_2025_ok"] == row["correct"]  # every correct pre-2025 ward maps right


# ---------------------------------------------------------------------------------------------
# Properties: writing variants never change the codes


_WARDS = read_ref_csv("ref/admin/wards_pre2025.csv",
                      columns=("ward_code", "ward_name", "district_name", "province_name")).sample(
    400, random_state=7)
_TONES_OLD_TO_NEW = {"òa": "oà", "óa": "oá", "ỏa": "oả", "õa": "oã", "ọa": "oạ", "òe": "oè", "óe": "oé",
                     "ùy": "uỳ", "úy": "uý", "ủy": "uỷ", "ũy": "uỹ", "ụy": "uỵ"}


def _retone(s: str) -> str:
    out = s
    for a, b in _TONES_OLD_TO_NEW.items():
        out = out.replace(a + " ", b + " ").replace(a + ",", b + ",")
        if out.endswith(a):
            out = out[: -len(a)] + b
    return out


_VARIANTS = {
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "upper": str.upper,
    "spaces": lambda s: "  " + s.replace(" ", "   ").replace(",", " , ") + " ",
    "tone_style": _retone,
    "semicolons": lambda s: s.replace(", ", ";"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.sampled_from(list(_WARDS.itertuples(index=False))), variant=st.sampled_from(sorted(_VARIANTS)))
def test_writing_variants_resolve_like_the_official_form(row, variant):
    text = f"{row.ward_name}, {row.district_name}, {row.province_name}"
    base = one(text)
    got = one(_VARIANTS[variant](text))
    assert {k: got[k] for k in KEYS} == {k: base[k] for k in KEYS}


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gives_valid_output(text):
    got = one(text)
    if not text.strip():
        assert got["confidence"] is None  # missing input: NULL, not 0
    else:
        assert 0.0 <= got["confidence"] <= 1.0
    if got["province_code"] is None and got["province_code_2025"] is None:
        assert got["ward_code"] is None and got["ward_code_2025"] is None


# ---------------------------------------------------------------------------------------------
# Rules are validated at load


def _rules_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    (dst / "ref").mkdir(parents=True)
    shutil.copytree(ROOT / "rules" / "ref" / "admin", dst / "ref" / "admin")
    shutil.copytree(ROOT / "rules" / "places", dst / "places")
    return dst


def test_alias_to_unknown_province_is_a_rules_error(tmp_path):
    rules = _rules_copy(tmp_path)
    with open(rules / "places" / "aliases.csv", "a", encoding="utf-8") as f:
        f.write("province,HT,Tỉnh Hà Tây,,,no longer exists\n")
    with pytest.raises(RulesError, match=r"aliases\.csv, row \d+, column province"):
        resolve_places(pd.Series(["Hà Nội"]), rules=rules)


def test_an_edited_alias_table_is_used(tmp_path):
    rules = _rules_copy(tmp_path)
    with open(rules / "places" / "aliases.csv", "a", encoding="utf-8") as f:
        f.write("province,Xứ Nghệ,Tỉnh Nghệ An,,,regional name\n")
    assert resolve_places(pd.Series(["Xứ Nghệ"]), rules=rules)["province_code"].iloc[0] == "40"
    assert pd.isna(resolve_places(pd.Series(["Xứ Nghệ"]))["province_code"].iloc[0])


def test_bad_confidence_factor_is_a_rules_error(tmp_path):
    rules = _rules_copy(tmp_path)
    p = rules / "places" / "places.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("no_prefix: 0.97", "no_prefix: 3"), encoding="utf-8")
    with pytest.raises(RulesError, match="confidence.no_prefix"):
        resolve_places(pd.Series(["Hà Nội"]), rules=rules)
