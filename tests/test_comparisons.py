"""Each comparison level on small crafted cases, through the real normalisers, the prepared
tables in a DuckDB file and the compare stage."""

from __future__ import annotations

import pytest

from engine_helpers import pair_levels, workspace

# (case id, changes to the wanted record, changes to the resident, comparison, expected level)
CASES = [
    ("name exact", {}, {}, "full_name", "exact"),
    ("name tone style", {"full_name": "Trần Thị Hoà"}, {"full_name": "Trần Thị Hòa"}, "full_name", "exact"),
    ("name NFD and case", {"full_name": "NGUYỄN VĂN HÙNG"}, {}, "full_name", "exact"),
    ("tone marks differ", {"full_name": "Nguyễn Văn Hung"}, {"full_name": "Nguyễn Văn Hùng"}, "full_name", "tones"),
    ("ascii only", {"full_name": "Nguyen Van Hung"}, {}, "full_name", "ascii"),
    ("hung vs hưng folds equal", {"full_name": "Nguyễn Văn Hưng"}, {}, "full_name", "ascii"),
    ("reordered", {"full_name": "Hùng Nguyễn Văn"}, {}, "full_name", "reordered"),
    ("middle missing", {"full_name": "Nguyễn Hùng"}, {}, "full_name", "reordered"),
    ("typos in two parts", {"full_name": "Nguyễn Thị Phương Thảo"}, {"full_name": "Nguyễn Thị Phươmg Thảoo"}, "full_name",
     "fuzzy_high"),
    # which parts agree comes before how alike the whole strings look: the shared family and
    # middle name make any two "Nguyễn Văn ..." score as very similar
    ("given typo", {"full_name": "Nguyễn Văn Hùnh"}, {}, "full_name", "family_middle"),
    ("given typo: the given name speaks", {"full_name": "Nguyễn Văn Hùnh"}, {}, "given_name", "fuzzy"),
    ("given typo: family silent", {"full_name": "Nguyễn Văn Hùnh"}, {}, "family_name", None),
    ("given typo: middle silent", {"full_name": "Nguyễn Văn Hùnh"}, {}, "middle_name", None),
    ("prefix alike, given differs", {"full_name": "Nguyễn Văn Luân"}, {"full_name": "Nguyễn Văn Dũng"}, "full_name", "family_middle"),
    ("middle differs", {"full_name": "Nguyễn Đức Hùng"}, {}, "full_name", "family_given"),
    ("middle differs: family silent", {"full_name": "Nguyễn Đức Hùng"}, {}, "family_name", None),
    ("middle differs: middle speaks", {"full_name": "Nguyễn Đức Hùng"}, {}, "middle_name", "else"),
    ("family changed: given silent", {"full_name": "Phạm Văn Hùng"}, {}, "given_name", None),
    ("family changed: family speaks", {"full_name": "Phạm Văn Hùng"}, {}, "family_name", "else"),
    ("given changed", {"full_name": "Nguyễn Văn Minh"}, {}, "full_name", "family_middle"),
    ("family changed", {"full_name": "Phạm Văn Hùng"}, {}, "full_name", "given_only"),
    ("whole name changed", {"full_name": "Lò Thị Mai"}, {}, "full_name", "else"),
    ("family and middle equal, given differs: family silent", {"full_name": "Nguyễn Văn Minh"}, {}, "family_name", None),
    ("family exact, middle and given differ", {"full_name": "Nguyễn Đức Minh"}, {}, "family_name", "exact"),
    ("parts silent when the whole name agrees", {}, {}, "family_name", None),
    ("family variant", {"full_name": "Huỳnh Văn Hùng"}, {"full_name": "Hoàng Văn Hùng"}, "family_name", "variant"),
    ("given equal without diacritics, family differs: given silent", {"full_name": "Trần Văn Hung"}, {}, "given_name", None),
    ("given differs", {"full_name": "Nguyễn Văn Minh"}, {}, "given_name", "else"),
    ("reordered parts stay silent", {"full_name": "Hùng Nguyễn Văn"}, {}, "given_name", None),
    ("middle missing is null", {"full_name": "Nguyễn Hùng"}, {}, "middle_name", None),
    # the full name's `reordered` level counts family + given name with their pair's frequency:
    # the parts add nothing more (a rare family name and a rare given name were counted thrice)
    ("middle missing: family silent", {"full_name": "Nguyễn Hùng"}, {}, "family_name", None),
    ("middle missing: given silent", {"full_name": "Nguyễn Hùng"}, {}, "given_name", None),
    ("middle contained: given silent", {"full_name": "Nguyễn Văn Hùng"}, {"full_name": "Nguyễn Văn Minh Hùng"}, "given_name", None),
    ("middle differs: given silent", {"full_name": "Nguyễn Đức Hùng"}, {}, "given_name", None),
    ("alias exact", {"full_name": "Nguyễn Văn Tèo"}, {"other_names": "Nguyễn Văn Tèo"}, "alias", "exact"),
    ("alias ascii", {"full_name": "Nguyen Van Teo"}, {"other_names": "Nguyễn Văn Tèo"}, "alias", "ascii"),
    ("wanted alias", {"other_names": "Tư Sẹo; Nguyễn Văn Hùng"}, {}, "alias", "exact"),
    ("no aliases", {}, {}, "alias", None),
    ("date exact", {}, {}, "birth_date", "exact"),
    ("date iso", {"birth_date": "1985-05-12"}, {}, "birth_date", "exact"),
    ("date swapped", {"birth_date": "05/12/1985"}, {}, "birth_date", "swapped"),
    ("month known", {"birth_date": "05/1985"}, {}, "birth_date", "month_known"),
    ("year known", {"birth_date": "1985"}, {}, "birth_date", "year_known"),
    ("same month", {"birth_date": "20/05/1985"}, {}, "birth_date", "same_month"),
    ("same year", {"birth_date": "20/08/1985"}, {}, "birth_date", "same_year"),
    ("one year", {"birth_date": "12/05/1986"}, {}, "birth_date", "one_year"),
    ("two years", {"birth_date": "1983"}, {}, "birth_date", "two_years"),
    ("date far", {"birth_date": "1970"}, {}, "birth_date", "else"),
    ("date missing", {"birth_date": ""}, {}, "birth_date", None),
    ("gender equal M/Nam", {"gender": "M"}, {}, "gender", "exact"),
    ("gender differs", {"gender": "Nữ"}, {}, "gender", "else"),
    ("hometown ward", {}, {}, "hometown", "ward"),
    ("hometown ward, 2025 name", {"hometown": "Xã Hiệp Hòa, Tỉnh Tây Ninh"}, {}, "hometown", "ward"),
    ("hometown district", {"hometown": "Huyện Đức Hòa, Long An"}, {}, "hometown", "district"),
    ("hometown province", {"hometown": "Long An"}, {}, "hometown", "province"),
    ("hometown else", {"hometown": "Nghệ An"}, {}, "hometown", "else"),
    ("moved: current vs permanent", {"permanent_address": "Nghệ An", "current_address": "Phường Bến Nghé, Quận 1, TP HCM"}, {}, "address", "ward"),
    ("father exact", {}, {}, "father", "exact"),
    ("father ascii", {"father_name": "Nguyen Van Tu"}, {}, "father", "ascii"),
    ("father typo", {"father_name": "Nguyễn Văn Tưư"}, {"father_name": "Nguyễn Văn Tưng"}, "father", "fuzzy"),
    ("father given only", {"father_name": "Trần Minh Tư"}, {}, "father", "given"),
    ("father missing", {"father_name": ""}, {}, "father", None),
    ("ethnicity variant spelling", {"ethnicity": "Việt"}, {}, "ethnicity", "exact"),
    ("id equal", {"id_number": "080085001234"}, {}, "id_number", "exact"),
    ("id with separators", {"id_number": "080 085 001 234"}, {}, "id_number", "exact"),
    ("id one digit", {"id_number": "080085001237"}, {}, "id_number", "one_digit"),
    ("id conflicts", {"id_number": "080085999999"}, {}, "id_number", "else"),
    ("no id", {}, {}, "id_number", None),
    ("id encodes same year and gender", {"id_number": "001085777777", "birth_date": ""}, {}, "id_encoded", "consistent"),
    ("id encodes year one off", {"id_number": "001086777777", "birth_date": ""}, {}, "id_encoded", "near"),
    ("id encodes other gender", {"id_number": "001185777777", "birth_date": ""}, {}, "id_encoded", "else"),
    ("id silent when birth dates compare", {"id_number": "001085777777"}, {}, "id_encoded", None),
    ("equal ids are not counted twice", {"id_number": "080085001234", "birth_date": ""}, {}, "id_encoded", None),
]


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    wanted = [{"wanted_id": f"W{i}", **w} for i, (_, w, _, _, _) in enumerate(CASES)]
    residents = [{"person_id": f"0800850{i:05d}" if not r else f"0800850{i:05d}", **r} for i, (_, _, r, _, _) in enumerate(CASES)]
    # The id cases compare against person 080085001234: give the resident of those cases that id.
    for i, (name, w, r, comp, _) in enumerate(CASES):
        if comp in {"id_number", "id_encoded"}:
            residents[i]["person_id"] = "080085001234" if name != "no id" else residents[i]["person_id"]
    by_id = {}
    for row in residents:
        by_id.setdefault(row["person_id"], row)
    con = workspace(tmp, wanted, list(by_id.values()))
    pairs = [(f"W{i}", residents[i]["person_id"]) for i in range(len(CASES))]
    return pair_levels(con, pairs)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] for c in CASES])
def test_level(levels, i):
    name, _, _, comparison, expected = CASES[i]
    assert levels[i][comparison] == expected, f"{name}: {levels[i]}"
