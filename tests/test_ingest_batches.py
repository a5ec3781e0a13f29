"""Ingest reads a file batch by batch (memory holds a batch, not the file): with batches of a few
rows it must write what one batch writes, and what the whole-file reader (read_source_checked,
which finds repeated ids in memory) gives: the same workspace rows with the same row numbers,
the same quarantine and repairs, the same counts."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.ingest import csv_reader, parquet_reader
from linkage.ingest.csv_reader import number_rows
from linkage.ingest.pipeline import ingest, read_source_checked
from tests.ingest_helpers import workspace_rows

HEADER = "person_id,full_name,gender,birth_date,hometown\n"


def _rows(n: int = 60) -> list[str]:
    """Synthetic residents with every kind of row ingest treats apart, spread over the file."""
    lines = []
    for i in range(1, n + 1):
        pid = f"0010850{i:05d}"
        name = f"Nguyễn Văn Hùng {i}"
        if i in (9, 41):
            lines.append(f"{pid},{name},Nam\n")  # ragged: three fields
            continue
        if i in (17, 52):
            pid = "001085000003"  # repeats row 3's id, in a later batch
        if i == 25:
            name = ""  # missing required value
        if i == 30:
            pid = f"1.0850{i:05d}E+11"  # a spreadsheet's number: repaired or rejected
        if i == 33:
            pid = "12345"  # malformed
        lines.append(f"{pid},{name},Nam,15/03/1985,\"Xã Tân Phú, Huyện Đức Hòa\"\n")
    return lines


def _outputs(out) -> dict:
    summary = json.loads((out / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]["residents"]
    summary.pop("path", None)
    return {
        "rows": workspace_rows(out, "residents"),
        "quarantine": pq.read_table(out / "quarantine" / "residents.parquet").to_pylist(),
        "repairs": pq.read_table(out / "repairs" / "residents.parquet").to_pylist(),
        "summary": summary,
    }


@pytest.mark.parametrize("cut_last_row", [False, True])
def test_small_batches_write_what_one_batch_writes(tmp_path, monkeypatch, cut_last_row):
    text = HEADER + "".join(_rows())
    if cut_last_row:
        text += "001085099999,Lê Thị"  # no line end, too few fields
    f = tmp_path / "residents.csv"
    f.write_text(text, encoding="utf-8")
    one = ingest({"residents": f}, tmp_path / "one")
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 256)  # a few rows per block
    monkeypatch.setattr(csv_reader, "BATCH_ROWS", 5)  # and a few blocks per batch
    many = ingest({"residents": f}, tmp_path / "many")
    a, b = _outputs(tmp_path / "one"), _outputs(tmp_path / "many")
    assert a == b
    whole = read_source_checked(f, "residents")
    assert b["rows"] == whole.accepted.to_pylist()
    assert b["quarantine"] == whole.quarantine.to_pylist()
    assert b["repairs"] == whole.repairs.to_pylist()
    s = one.sources["residents"]
    assert (s.rows_read, s.rows_accepted, s.rows_quarantined) == (whole.report.rows_read, whole.report.rows_accepted,
                                                                 whole.report.rows_quarantined)
    assert s.rows_read == s.rows_accepted + s.rows_quarantined == 60 + cut_last_row
    # row numbers survive the ragged rows whatever the batch they fall in
    kept = {r["_row"]: r["person_id"] for r in b["rows"]}
    assert 9 not in kept and 41 not in kept and kept[10] == "001085000010" and kept[60] == "001085000060"
    dup = {q["row_number"]: q["reason"] for q in b["quarantine"] if q["reason"].startswith("duplicate_id")}
    assert dup == {17: "duplicate_id: same person_id as data row 3 (kept)",
                   52: "duplicate_id: same person_id as data row 3 (kept)"}
    assert ("the last row (data row 61) is incomplete" in " ".join(s.notes)) == cut_last_row


def test_parquet_in_small_batches(tmp_path, monkeypatch):
    rows = [dict(zip(HEADER.strip().split(","), line.rstrip("\n").replace('"', "").split(",", 4)))
            for line in _rows() if line.count(",") >= 4]
    f = tmp_path / "residents.parquet"
    pq.write_table(pa.Table.from_pylist(rows), f)
    one = ingest({"residents": f}, tmp_path / "one")
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 7)
    ingest({"residents": f}, tmp_path / "many")
    assert _outputs(tmp_path / "one") == _outputs(tmp_path / "many")
    assert one.sources["residents"].reasons["duplicate_id"] == 2


def test_non_utf8_byte_after_the_head_starts_again_decoded(tmp_path, monkeypatch):
    """A byte that is not UTF-8 past the sniffed head (1 MiB) of a file read as UTF-8: the batches
    already written are replaced by the file decoded whole, each row once, and the report says so."""
    monkeypatch.setattr(csv_reader, "BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr(csv_reader, "BATCH_ROWS", 1000)
    lines = [f"0010850{i:05d},Nguyễn Văn Hùng {i},Nam,15/03/1985,Xã Tân Phú\n".encode() for i in range(1, 20001)]
    lines[-5] = lines[-5].replace("Hùng".encode(), b"H\xf9ng")  # 'ù' as Windows-1258 writes it
    f = tmp_path / "residents.csv"
    f.write_bytes(HEADER.encode() + b"".join(lines))
    assert f.stat().st_size > 1.2 * (1 << 20)
    report = ingest({"residents": f}, tmp_path / "out").sources["residents"]
    rows = workspace_rows(tmp_path / "out", "residents")
    assert report.rows_read == report.rows_accepted == 20000
    assert [r["_row"] for r in rows] == list(range(1, 20001))
    assert rows[-5]["full_name"] == "Nguyễn Văn H\ufffdng 19996"  # the file is UTF-8 but for that byte
    assert "1 byte(s) could not be decoded as utf-8" in report.notes


def test_number_rows_skips_ragged_rows():
    assert number_rows(1, 5, []).tolist() == [1, 2, 3, 4, 5]
    assert number_rows(1, 5, [2, 4]).tolist() == [1, 3, 5, 6, 7]
    assert number_rows(10, 3, [10, 11, 12, 20]).tolist() == [13, 14, 15]
    assert number_rows(4, 2, [1, 2]).tolist() == [4, 5]  # ragged rows before the batch are ignored
