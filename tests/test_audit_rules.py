"""rules/quality.yaml is validated at load (errors name the rule), a steward's edit changes what is
checked, and the vectorised text scan agrees with the plain per-value fixes."""

from __future__ import annotations

import shutil
import unicodedata

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.audit import audit
from linkage.audit.checks import CHECKS
from linkage.audit.rules import load_quality_rules
from linkage.audit.textscan import safe_fix, scan_text
from linkage.errors import RulesError
from linkage.normalize.legacy import TCVN3, VNI, encode_legacy
from linkage.rules import DEFAULT_RULES_DIR
from test_audit_data import TODAY, variant, write_csv


def test_project_rules_load_and_cover_every_dimension():
    q = load_quality_rules(None, CHECKS)
    assert {r.dimension for r in q.rules} == {"dung", "du", "sach", "song"}
    assert all(r.check in CHECKS for r in q.rules)
    assert q.required["wanted"][:2] == ("wanted_id", "full_name")


@pytest.fixture()
def rules_copy(tmp_path):
    d = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d, ignore=shutil.ignore_patterns("model.json"))
    return d


def _edit(rules_dir, fn):
    p = rules_dir / "quality.yaml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    fn(data)
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(dimension="dep"), "rule dung.id_format: dimension must be one of"),
    (lambda r: r.update(check="nope"), "rule dung.id_format: unknown check 'nope'"),
    (lambda r: r.update(fields=["@nope"]), "rule dung.id_format: unknown field group"),
    (lambda r: r.update(fields=["nope"]), "unknown column(s) nope"),
    (lambda r: r.pop("safe_fix"), "rule dung.id_format: missing key(s) safe_fix"),
    (lambda r: r.update(severity="fatal"), "severity must be one of"),
])
def test_invalid_rules_name_the_rule(rules_copy, change, message):
    _edit(rules_copy, lambda data: change(data["rules"][0]))
    with pytest.raises(RulesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_quality_rules(rules_copy, CHECKS)


def test_steward_edits_change_the_audit(rules_copy, tmp_path):
    def edit(data):
        data["required"]["wanted"] = ["wanted_id", "full_name", "mother_name"]
        for r in data["rules"]:
            if r["id"] == "song.wanted_over_age":
                r["params"]["age"] = 30
            if r["id"] == "sach.tone_style":
                r["enabled"] = False
    _edit(rules_copy, edit)
    records = [variant("wanted", 0, mother_name="", hometown="Xã Tân Phú, Huyện Đức Hoà, Tỉnh Long An")]
    out = tmp_path / "out"
    audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", out, rules=rules_copy, today=TODAY)
    found = {(r["rule"], r["field"]) for r in pq.read_table(out / "issues.parquet").to_pylist()}
    assert found == {("du.required", "mother_name"), ("song.wanted_over_age", "birth_date")}


# ---------------------------------------------------------------- the text scan
ALPHABET = list("aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệioòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđĐHNT ") + [
    "\u0301", "\u0300", "\u0303", "\u00a0", "\u200b", "\u2019", "'", "\t", "Ð", "x", "f", "j", "7", "6"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=14), min_size=1, max_size=30, unique=True))
def test_scan_agrees_with_the_plain_fixes(values):
    arr = np.array(values, dtype=object)
    s = scan_text(arr, tones=True)
    for v, fixed, leg, conf, nfc, sp, tone in zip(arr, s.fixed, s.legacy, s.confusable, s.not_nfc, s.spacing, s.tone):
        assert fixed == safe_fix(v, tones=True), v
        if fixed == v:
            assert not (leg or conf or nfc or sp or tone), v
        else:
            assert leg or conf or nfc or sp or tone, v


def test_scan_flags_each_kind():
    values = np.array([
        encode_legacy("Trần Thị Thủy", TCVN3).decode("cp1252"),
        encode_legacy("Trần Thị Thủy", VNI).decode("cp1252"),
        unicodedata.normalize("NFD", "Trần Thị Thủy"),
        "Trần  Thị Thủy",
        "Trần Thị Thuỷ",
        "Trần\u200bThị",
        "Traanf Thij Thuyr",
        "Trần Thị Thủy",
    ], dtype=object)
    s = scan_text(values, tones=True, keystrokes=True)
    assert s.legacy.tolist() == [True, True, False, False, False, False, False, False]
    assert s.not_nfc.tolist() == [False, False, True, False, False, False, False, False]
    assert s.spacing.tolist() == [False, False, False, True, False, False, False, False]
    assert s.tone.tolist() == [False, False, False, False, True, False, False, False]
    assert s.confusable.tolist() == [False, False, False, False, False, True, False, False]
    assert s.keystroke.tolist() == [False, False, False, False, False, False, True, False]
    assert s.keystroke_fix[6] == "Trần Thị Thủy"
    assert list(s.fixed[:5]) == ["Trần Thị Thủy"] * 5


def test_single_field_spelling_is_accepted(rules_copy):
    def edit(data):
        rule = next(r for r in data["rules"] if r["id"] == "dung.gender_value")
        rule.pop("fields")
        rule["field"] = "gender"
    _edit(rules_copy, edit)
    q = load_quality_rules(rules_copy, CHECKS)
    assert q.by_id("dung.gender_value").fields == ("gender",)
