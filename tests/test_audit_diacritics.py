"""sach.name_no_diacritics (issue 17.14): a Vietnamese name typed without its marks is flagged;
minority and foreign names that are rightly unmarked are not, and the letter-case rule does not
offer "Ho Nhat Su" as the fix of "HO NHAT SU". All names synthetic."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from linkage.audit import audit
from test_audit_data import TODAY, variant, write_csv

NAMES = {
    "HO NHAT SU": True,  # Hồ Nhật Sự
    "Nguyen Van Binh": True,  # Nguyễn Văn Bình
    "tran thi thuy": True,
    "Hồ Nhật Sự": False,
    "HỒ NHẬT SỰ": False,  # marks present: only the case rule
    "Y Bih Nie": False,  # Ê Đê name: at most one syllable looks Vietnamese
    "H'Hen Nie": False,
    "John Smith": False,
    "Maria Tran": False,  # one Vietnamese-looking syllable is not enough
    "Lan Anh": False,  # rightly unmarked syllables (Lan, Anh) do not count
    "Nguyeenx Vawn Thaanj": False,  # keystroke residue, its own rule
}


@pytest.fixture(scope="module")
def issues(tmp_path_factory):
    d = tmp_path_factory.mktemp("nodia")
    records = [variant("wanted", i, full_name=name) for i, name in enumerate(NAMES)]
    audit(write_csv(d / "w.csv", "wanted", records), "wanted", d / "out", today=TODAY)
    by_name = {r["wanted_id"]: r["full_name"] for r in records}
    rows = pq.read_table(d / "out" / "issues.parquet").to_pylist()
    return {(by_name[r["record_id"]], r["rule"]): r for r in rows if r["field"] == "full_name"}


@pytest.mark.parametrize("name, flagged", NAMES.items())
def test_name_without_diacritics(issues, name, flagged):
    assert ((name, "sach.name_no_diacritics") in issues) == flagged


def test_case_rule_does_not_suggest_the_unmarked_name(issues):
    case = issues[("HO NHAT SU", "sach.name_case")]
    assert case["suggestion"] != "Ho Nhat Su" and "diacritics" in case["suggestion"]
    assert issues[("HỒ NHẬT SỰ", "sach.name_case")]["suggestion"] == "Hồ Nhật Sự"
    hit = issues[("HO NHAT SU", "sach.name_no_diacritics")]
    assert hit["severity"] == "warning" and hit["dimension"] == "sach" and hit["suggestion"] is None
