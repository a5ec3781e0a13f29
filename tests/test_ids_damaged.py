"""Ids a spreadsheet turned into numbers ("72205055449.0", 72205055449, "7.22050554E+10") are
repaired where the repair is certain and rejected (record ids) or emptied with a record (optional
ids) where it is not; never loaded as another valid-looking id. All people are synthetic."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest_helpers import workspace_rows, write_csv, write_jsonl
from linkage.ingest import ingest, read_source
from linkage.ingest.pipeline import read_source_checked


def _residents(ids: list[str]) -> list[dict]:
    return [{"person_id": i, "full_name": f"Nguyễn Văn An {k}"} for k, i in enumerate(ids)]


def test_float_written_id_is_repaired_not_read_as_another_id(tmp_path):
    """Issue 17.1: '72205055449.0' (072205055449 through a spreadsheet) was loaded as 722050554490."""
    src = write_csv(tmp_path / "r.csv", _residents(["72205055449.0", "079190004321"]))
    report = ingest({"residents": src}, tmp_path / "out")
    rows = workspace_rows(tmp_path / "out", "residents")
    assert [r["person_id"] for r in rows] == ["072205055449", "079190004321"]
    s = report.sources["residents"]
    assert (s.rows_read, s.rows_accepted, s.rows_quarantined) == (2, 2, 0)
    assert s.ids_repaired == {"person_id": 1} and s.ids_emptied == {}
    assert "ids repaired" in s.render() and "person_id 1" in s.render()
    summary = json.loads((tmp_path / "out" / "ingest_summary.json").read_text())
    assert summary["sources"]["residents"]["ids_repaired"] == {"person_id": 1}
    rep = pq.read_table(tmp_path / "out" / "repairs" / "residents.parquet").to_pylist()
    assert [(r["row_number"], r["column"], r["value"]) for r in rep] == [(1, "person_id", "72205055449.0")]
    assert rep[0]["reason"].startswith("id_repaired:") and rep[0]["reason"].endswith("-> 072205055449")


def test_scientific_notation_lost_digits_is_quarantined(tmp_path):
    src = write_csv(tmp_path / "r.csv", _residents(["7.22050554E+10", "079190004321"]))
    accepted, q, report = read_source(src, "residents")
    assert accepted.column("person_id").to_pylist() == ["079190004321"]
    assert report.rows_read == 2 and report.rows_quarantined == 1 and report.reconciled
    assert [(r["row_number"], r["column"]) for r in q.to_pylist()] == [(1, "person_id")]
    reason = q.column("reason")[0].as_py()
    assert reason.startswith("malformed_id: damaged by a spreadsheet") and "lost" in reason


def test_padding_must_give_a_valid_structure(tmp_path):
    """099... has no province: the zero is not restored, the row is rejected with the reason."""
    src = write_csv(tmp_path / "r.csv", _residents(["99205055449.0", "1205055449"]))
    accepted, q, report = read_source(src, "residents")
    assert accepted.column("person_id").to_pylist() == ["001205055449"]  # two zeros, province 001
    assert report.ids_repaired == {"person_id": 1}
    assert q.num_rows == 1 and "099205055449 is not a valid 12-digit id" in q.column("reason")[0].as_py()


def test_parquet_integer_ids_get_their_zero_back(tmp_path):
    path = tmp_path / "cards.parquet"
    pq.write_table(pa.table({"card_number": pa.array([72205055449, 79190004321], pa.int64()),
                             "old_id_number": pa.array([12345678, None], pa.int64()),
                             "full_name": ["Lê Thị Bình", "Trần Văn Cường"]}), path)
    r = read_source_checked(path, "id_cards")
    assert r.accepted.column("card_number").to_pylist() == ["072205055449", "079190004321"]
    # an 8-digit CMND read from a number column (no '.0' mark in the text): not certain, left as is
    assert r.accepted.column("old_id_number").to_pylist() == ["12345678", None]
    assert r.report.ids_repaired == {"card_number": 2} and r.report.rows_quarantined == 0


def test_jsonl_float_cmnd_is_repaired(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", [
        {"card_number": "079190004321", "old_id_number": 12345678.0, "full_name": "Lê Thị Bình"}])
    accepted, _q, report = read_source(src, "id_cards")
    assert accepted.column("old_id_number").to_pylist() == ["012345678"]
    assert report.ids_repaired == {"old_id_number": 1}


def test_wanted_id_number_beyond_repair_is_emptied_and_recorded(tmp_path):
    """A damaged optional id must not be used, and the wanted person must still be screened."""
    rows = [{"wanted_id": "TN-1", "full_name": "Hồ Nhật Sự", "id_number": "7.22050554E+10"},
            {"wanted_id": "TN-2", "full_name": "Lý Thị Hoa", "id_number": "72205055449.0"},
            {"wanted_id": "TN-3", "full_name": "Đào Văn Minh", "id_number": "12345678.0"}]
    r = read_source_checked(write_csv(tmp_path / "w.csv", rows), "wanted")
    assert r.accepted.column("id_number").to_pylist() == [None, "072205055449", "012345678"]
    assert (r.report.rows_read, r.report.rows_accepted, r.report.rows_quarantined) == (3, 3, 0)
    assert r.report.ids_emptied == {"id_number": 1} and r.report.ids_repaired == {"id_number": 2}
    emptied = [x for x in r.repairs.to_pylist() if x["reason"].startswith("id_emptied:")]
    assert [(x["row_number"], x["value"]) for x in emptied] == [(1, "7.22050554E+10")]
    assert "ids emptied" in r.report.render()


@pytest.mark.parametrize("value", ["072205055449", "072.205.055.449", "01085012345"])
def test_text_ids_are_not_touched(tmp_path, value):
    """Only what a spreadsheet writes is looked at: a text id (with zero, dotted, or a typo that
    kept its zero) is not 'repaired'."""
    src = write_csv(tmp_path / "r.csv", _residents([value]))
    accepted, q, report = read_source(src, "residents")
    assert report.ids_repaired == {}
    if value == "01085012345":
        assert q.num_rows == 1 and q.column("reason")[0].as_py().startswith("malformed_id: must be 12 digits")
    else:
        assert accepted.column("person_id").to_pylist() == ["072205055449"]


def test_repaired_id_counts_as_a_duplicate_of_the_same_id(tmp_path):
    src = write_csv(tmp_path / "r.csv", _residents(["072205055449", "72205055449.0"]))
    accepted, q, _ = read_source(src, "residents")
    assert accepted.num_rows == 1 and q.column("reason")[0].as_py().startswith("duplicate_id")


# ------------------------------------------------------------------ audit and clean
def _wanted_with_damaged_ids(tmp_path):
    from test_audit_data import variant, write_csv as write_source

    records = [variant("wanted", 1, id_number="80085000001.0"),  # lost zero + .0: certain
               variant("wanted", 2, id_number="8.0085E+10"),  # digits lost: beyond repair
               variant("wanted", 3)]
    return write_source(tmp_path / "w.csv", "wanted", records)


def test_audit_reports_repaired_and_emptied_ids(tmp_path):
    import pyarrow.parquet as pq_

    from linkage.audit import audit
    from test_audit_data import TODAY

    audit(_wanted_with_damaged_ids(tmp_path), "wanted", tmp_path / "out", today=TODAY)
    issues = [r for r in pq_.read_table(tmp_path / "out" / "issues.parquet").to_pylist() if r["field"] == "id_number"]
    got = {(r["record_id"], r["rule"]): (r["value"], r["suggestion"]) for r in issues}
    assert got[("W01", "sach.id_spreadsheet")] == ("80085000001.0", "use 080085000001")
    assert got[("W02", "dung.id_damaged")][0] == "8.0085E+10"
    assert "lost" in got[("W02", "dung.id_damaged")][1]
    # one finding per defect: the emptied id is not also reported as a missing or malformed id
    assert {rule for rid, rule in got if rid == "W02"} == {"dung.id_damaged"}
    assert not [k for k in got if k[0] == "W03"]


def test_clean_repairs_only_the_certain_ids_and_logs_them(tmp_path):
    import pyarrow.parquet as pq_

    from linkage.audit import clean

    result = clean(_wanted_with_damaged_ids(tmp_path), "wanted", tmp_path / "copy.csv")
    copy = read_source(result.output, "wanted")[0].column("id_number").to_pylist()
    assert copy[0] == "080085000001"  # not 800850000010: the dot is not a separator
    changes = pq_.read_table(result.changes).to_pylist()
    assert [(c["record_id"], c["before"], c["after"], c["rule"]) for c in changes] == [
        ("W01", "80085000001.0", "080085000001", "sach.id_spreadsheet")]
    assert "8.0085E+10" in result.output.read_text(encoding="utf-8")  # left for the audit
