"""rules/sources.yaml is validated at load: a mistake names the file and the key."""

from __future__ import annotations

import pytest

from linkage.errors import RulesError
from linkage.ingest.contract import COLUMNS, SOURCES
from linkage.ingest.mapping import header_key, load_mappings


def write_rules(tmp_path, text: str):
    (tmp_path / "sources.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_rules_load_and_cover_the_vietnamese_headers():
    m = load_mappings()
    assert set(m) == set(SOURCES)
    expect = {
        "wanted": {"Họ và tên": "full_name", "Ngày sinh": "birth_date", "Quê quán": "hometown",
                   "Nơi thường trú": "permanent_address", "Số CCCD": "id_number", "Số CMND": "id_number",
                   "Tên gọi khác": "other_names", "Họ tên bố": "father_name", "Mức độ nguy hiểm": "danger_level"},
        "residents": {"Họ tên": "full_name", "Số định danh cá nhân": "person_id", "Số CCCD": "person_id",
                      "Nơi đăng ký khai sinh": "birth_place", "Chỗ ở hiện nay": "current_address",
                      "Dân tộc": "ethnicity", "Giới tính": "gender"},
        "id_cards": {"Số CCCD": "card_number", "Số CMND": "old_id_number", "Ngày cấp": "issue_date",
                     "ĐKTT": "permanent_address"},
    }
    for source, headers in expect.items():
        for header, column in headers.items():
            assert m[source].keys[header_key(header)][0] == column, (source, header)
    for source in SOURCES:  # every canonical name maps to itself
        for column in COLUMNS[source]:
            assert m[source].keys[header_key(column)] == (column, 0)


def test_header_key():
    assert header_key(" Họ và tên ") == header_key("HO_VA_TEN") == header_key("ho-và-tên") == "hovaten"
    assert header_key("ĐKTT") == "dktt"


@pytest.mark.parametrize("text, message", [
    ("people:\n  full_name: [Tên]\n", "unknown source 'people'"),
    ("wanted:\n  nickname: [Biệt danh]\n", "wanted.nickname: unknown column"),
    ("residents:\n  full_name: [Họ tên]\n  other_names: [HO TEN]\n", "already mapped to residents.full_name"),
    ("residents:\n  full_name: [gender]\n", "already mapped to residents.gender"),
    ("residents:\n  full_name: 12\n", "expected a list"),
    ("residents:\n  full_name: ['--']\n", "no letters or digits"),
    ("residents: [a, b]\n", "expected a mapping"),
    ("residents:\n  full_name: [a\n", "invalid YAML"),
])
def test_invalid_rules_name_file_and_key(tmp_path, text, message):
    rules = write_rules(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_mappings(rules)
    assert str(tmp_path / "sources.yaml") in str(info.value) and message in str(info.value)


def test_rules_dir_override_is_used(tmp_path):
    from ingest_helpers import write_csv
    from linkage.ingest import read_source

    rules = write_rules(tmp_path, "residents:\n  full_name: [Tên đầy đủ]\n")
    src = write_csv(tmp_path / "r.csv", [{"person_id": "001085012345", "Tên đầy đủ": "Nguyễn Văn Hùng"}])
    accepted, _, _ = read_source(src, "residents", rules=rules)
    assert accepted.column("full_name").to_pylist() == ["Nguyễn Văn Hùng"]
