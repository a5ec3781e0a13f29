"""The explanation hides no conflict: on a real run of crafted CSV files (real DuckDB workspace,
real Parquet out), every comparison that counts against the match and every set flag is stated
in words, and the agreements alone are capped. Synthetic people only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from engine_helpers import RESIDENT_BASE, WANTED_BASE
from linkage.errors import RulesError
from linkage.explain import explanation_sql
from linkage.model import default_model, save_model
from linkage.pipeline import run
from linkage.rules import DEFAULT_RULES_DIR, rules_hash
from linkage.settings import load_settings

COMMUNE = "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An"

RESIDENTS = [
    # born 14/11/1993; the wanted record says 14/11/1991 and has the ID with one digit wrong
    {"person_id": "080093004567", "full_name": "Phan Minh Khôi", "birth_date": "14/11/1993",
     "birth_place": COMMUNE, "hometown": "Tỉnh Long An", "father_name": "Phan Văn Lộc",
     "mother_name": "Võ Thị Hạnh", "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh"},
    # the same personal ID as W-many, but almost everything else conflicts
    {"person_id": "001070000099", "full_name": "Đoàn Văn Khải", "gender": "Nam", "birth_date": "02/03/1970",
     "birth_place": "Tỉnh Nam Định", "hometown": "Xã Hải Hậu, Huyện Hải Hậu, Tỉnh Nam Định",
     "father_name": "Đoàn Văn Sáu", "mother_name": "Mai Thị Tươi", "ethnicity": "Kinh",
     "permanent_address": "Phường Trúc Bạch, Quận Ba Đình, Hà Nội"},
]

WANTED = [
    {"wanted_id": "W-date", "full_name": "Phan Minh Khôi", "birth_date": "14/11/1991", "id_number": "080093004568",
     "birth_place": COMMUNE, "hometown": "", "father_name": "Phan Văn Lộc", "mother_name": "",
     "permanent_address": "Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh"},
    {"wanted_id": "W-many", "full_name": "Đoàn Văn Khải", "gender": "Nữ", "birth_date": "", "id_number": "001070000099",
     "birth_place": "Tỉnh Cà Mau", "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An",
     "father_name": "Lý Văn Tám", "mother_name": "Hà Thị Nga", "ethnicity": "Tày",
     "permanent_address": "Phường Vĩnh Thanh, Thành phố Rạch Giá, Tỉnh Kiên Giang"},
]


def _run(tmp: Path, rules: Path | None = None, lang: str = "vi") -> pd.DataFrame:
    wanted, residents = tmp / "wanted.csv", tmp / "residents.csv"
    pd.DataFrame([{**WANTED_BASE, **w} for w in WANTED]).to_csv(wanted, index=False)
    pd.DataFrame([{**RESIDENT_BASE, **r} for r in RESIDENTS]).to_csv(residents, index=False)
    model = save_model(default_model(load_settings(rules), rules_hash(rules)), tmp / "model.json")
    res = run(wanted, residents, None, tmp / "out", rules=rules, model_path=model, lang=lang)
    return pd.read_parquet(res.matches).set_index(["wanted_id", "person_id"])


def _rules_copy(tmp: Path, explanation: dict) -> Path:
    """The project's rules with another explanation section (everything else as committed)."""
    d = tmp / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d, ignore=shutil.ignore_patterns("model.json", "examples", "__pycache__"))
    raw = yaml.safe_load((d / "matching.yaml").read_text(encoding="utf-8"))
    raw["explanation"] = explanation
    (d / "matching.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def matches(tmp_path_factory) -> pd.DataFrame:
    return _run(tmp_path_factory.mktemp("explain"))


def _conflicts(explanation: str) -> str:
    return explanation.split("; ", 1)[1] if "; " in explanation else ""


def test_birth_date_change_is_stated_with_both_dates(matches):
    row = matches.loc[("W-date", "080093004567")]
    assert bool(row["birth_date_changed"])
    assert "số định danh lệch một chữ số" in row["explanation"]
    # the conflict is stated, after the agreements, with both dates as dd/mm/yyyy
    assert "khác ngày sinh: 14/11/1991 → 14/11/1993" in _conflicts(row["explanation"])


def test_every_conflict_is_stated_uncapped(matches):
    row = matches.loc[("W-many", "001070000099")]
    assert bool(row["id_match"])
    conflicts = _conflicts(row["explanation"])
    expected = ["khác giới tính", "khác dân tộc", "khác họ tên cha", "khác họ tên mẹ",
                "khác quê quán", "khác nơi sinh", "hiện sống nơi khác"]
    for phrase in expected:
        assert phrase in conflicts, (phrase, row["explanation"])
    # and they are exactly the comparisons weighing at least 1 bit against the match
    against = [c for c in matches.columns if c.startswith("mw_") and row[c] <= -1.0]
    assert len(against) == len(expected) == len(conflicts.split(", "))
    assert "trùng số định danh" in row["explanation"].split("; ")[0]


def test_flags_are_stated_whatever_the_caps(tmp_path):
    """No agreement listed by weight (max_positive 0) and no conflict by weight (a huge
    min_negative_weight): the set flags are still stated, each in its place."""
    rules = _rules_copy(tmp_path, {"min_abs_weight": 1.0, "min_negative_weight": 1000.0, "max_positive": 0,
                                   "agreement_flags": ["id_match"]})
    m = _run(tmp_path, rules)
    date = m.loc[("W-date", "080093004567")]
    assert date["explanation"] == "khác ngày sinh: 14/11/1991 → 14/11/1993 (lệch hai năm)"
    many = m.loc[("W-many", "001070000099")]
    assert many["explanation"].split("; ")[0] == "trùng số định danh"
    assert "hiện sống nơi khác" in _conflicts(many["explanation"])  # residence_changed is set
    assert bool(many["residence_changed"])
    assert "khác giới tính" not in many["explanation"]  # no flag, and below the (huge) minimum


def test_unknown_agreement_flag_is_a_rules_error(tmp_path):
    rules = _rules_copy(tmp_path, {"agreement_flags": ["id_matches"]})
    with pytest.raises(RulesError, match=r"explanation.agreement_flags: unknown flag\(s\) \['id_matches'\]"):
        explanation_sql(load_settings(rules))


@pytest.mark.parametrize("find,put,message", [
    ("    judged_on: current\n    unless_same_commune_2025: true", "    judged_on: current\n    unles_same_commune_2025: true",
     r"flags\.residence_changed: unknown key\(s\) \['unles_same_commune_2025'\]"),
    ("    or_levels: {given_name: [else]}", "    or_levels: {given_name: [elsewhere]}",
     r"flags\.name_changed\.or_levels\.given_name: level\(s\) \['elsewhere'\]"),
    ("    or_levels: {given_name: [else]}", "    or_levels: {given: [else]}", r"flags\.name_changed\.or_levels: unknown comparison 'given'"),
])
def test_flag_keys_are_checked(tmp_path, find, put, message):
    """A typo in a flag's keys is a RulesError naming the flag, not a silently ignored setting."""
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    m = rules / "matching.yaml"
    text = m.read_text(encoding="utf-8")
    assert find in text
    m.write_text(text.replace(find, put, 1), encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_settings(rules)


def test_explanation_in_english_on_request(tmp_path):
    """Vietnamese by default (the tests above); `--lang en` gives the same explanation in English."""
    m = _run(tmp_path, lang="en")
    row = m.loc[("W-date", "080093004567")]
    assert "ID number one digit apart" in row["explanation"]
    assert "birth date differs: 14/11/1991 -> 14/11/1993 (two years apart)" in _conflicts(row["explanation"])


def test_every_level_has_a_phrase_in_each_language():
    """A level without a phrase would show its bare id ("fuzzy_high") to a reviewer."""
    from linkage.explain import level_texts
    from linkage.reports.strings import LANGS

    settings = load_settings()
    for lang in LANGS:
        for j, c in enumerate(settings.comparisons):
            missing = [lv.id for lv, t in zip(c.levels, level_texts(settings, j, lang)) if t == lv.id]
            assert not missing, (lang, c.name, missing)
