"""Audit counts agree with each other (issue 17, items 13 and 15): one finding per defect, the
console's list sums to its total, an absent column is one finding, one progress line per audit.
Small synthetic files, all people invented."""

from __future__ import annotations

import re

import pyarrow.parquet as pq

from linkage.audit import audit
from test_audit_data import TODAY, variant, write_csv


def _rows(out) -> list[dict]:
    return pq.read_table(out / "issues.parquet").to_pylist()


def test_a_repeated_record_id_is_one_finding(tmp_path):
    """The repeat is rejected at ingestion and reported once (ingest.duplicate_id, naming the row
    kept); the kept row is not reported a second time under sach.duplicate_id."""
    records = [variant("wanted", 0), variant("wanted", 1), variant("wanted", 2, wanted_id="W01")]
    out = tmp_path / "out"
    result = audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", out, today=TODAY)
    dup = [(r["rule"], r["record_id"], r["row"]) for r in _rows(out) if "duplicate_id" in r["rule"]]
    assert dup == [("ingest.duplicate_id", "W01", 3)]
    assert result.by_rule["ingest.duplicate_id"] == 1 and result.by_rule["sach.duplicate_id"] == 0


def test_console_list_sums_to_the_total(tmp_path):
    """More rules fire than the old top-12 listing showed: every rule with issues is listed."""
    from test_audit import WANTED_CASES

    records = [variant("wanted", i, **changes) for i, (changes, _) in enumerate(WANTED_CASES.values(), start=1)]
    result = audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", tmp_path / "out", today=TODAY)
    text = result.render()
    listed = [int(m.group(2).replace(",", "")) for m in re.finditer(r"^  (\S+)\s+([\d,]+)$", text, re.M)]
    assert sum(1 for v in result.by_rule.values() if v) > 12
    assert sum(listed) == result.issue_count == sum(result.by_rule.values())
    assert f"issues: {result.issue_count:,} " in text


def test_absent_column_is_one_finding_per_column(tmp_path):
    """Five required-by-quality columns missing from a 30-row file: 5 findings, not 150."""
    records = [variant("residents", i) for i in range(30)]
    absent = ("birth_place", "hometown", "ethnicity", "status", "updated_at")
    cols = tuple(c for c in records[0] if c not in absent)
    out = tmp_path / "out"
    result = audit(write_csv(tmp_path / "r.csv", "residents", records, columns=cols), "residents", out,
                   today=TODAY)
    req = [r for r in _rows(out) if r["rule"] == "du.required"]
    assert sorted(r["field"] for r in req) == sorted(absent)
    assert all(r["record_id"] is None and r["row"] is None for r in req)
    assert all("column absent from the file (all 30 records)" == r["suggestion"] for r in req)
    assert result.by_rule["du.required"] == 5
    summary = {(r["section"], r["rule"], r["field"]): r for r in pq.read_table(out / "summary.parquet").to_pylist()}
    assert summary[("field", None, "hometown")]["completeness"] == 0.0  # completeness still says it all


def test_one_progress_line_for_the_rules(tmp_path):
    said: list[str] = []
    records = [variant("wanted", 0), variant("wanted", 1, gender="Khác")]
    audit(write_csv(tmp_path / "w.csv", "wanted", records), "wanted", tmp_path / "out", today=TODAY,
          say=said.append)
    assert not [m for m in said if m.startswith("rule ")]
    lines = [m for m in said if "rules checked" in m]
    assert len(lines) == 1 and re.fullmatch(r"\d+ rules checked in \d+\.\d s; \d+ rules? found issues", lines[0])
