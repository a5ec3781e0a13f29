"""Files that cannot be ingested get one clear InputError naming the file (and row/column when
known), never a traceback; and nothing is written."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest_helpers import RESIDENTS, write_csv, write_jsonl
from linkage.errors import InputError
from linkage.ingest import ingest, read_source


def fails(path, source="residents") -> str:
    with pytest.raises(InputError) as info:
        read_source(path, source)
    message = str(info.value)
    assert str(path) in message
    return message


def test_missing_file(tmp_path):
    assert "file not found" in fails(tmp_path / "nope.csv")


def test_directory(tmp_path):
    assert "is a directory" in fails(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "r.csv").write_bytes(b"")
    assert "file is empty (0 bytes)" in fails(tmp_path / "r.csv")


def test_blank_lines_only(tmp_path):
    (tmp_path / "r.csv").write_bytes(b"\n \r\n\n")
    assert "only blank lines" in fails(tmp_path / "r.csv")


@pytest.mark.parametrize("name, content", [
    ("r.csv", "person_id,full_name\n"),
    ("r.csv", "\ufeffperson_id;full_name\r\n\r\n"),
])
def test_header_only(tmp_path, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert "has a header row but no data rows" in fails(tmp_path / name)


def test_parquet_without_rows(tmp_path):
    pq.write_table(pa.table({"person_id": pa.array([], pa.string()), "full_name": pa.array([], pa.string())}),
                   tmp_path / "r.parquet")
    assert "no data rows" in fails(tmp_path / "r.parquet")


def test_csv_truncated_inside_a_quoted_field(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('person_id,full_name,hometown\n001085012345,Nguyễn Văn Hùng,"Xã Tân Phú"\n'
                   '079190004321,Trần Thị Mai,"Phường 3, Quận', encoding="utf-8")
    message = fails(src)
    assert "truncated" in message and "line 3" in message and "data row 2" in message


def test_quote_characters_inside_values_are_not_truncation(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('person_id,full_name\n001085012345,Nguyễn Văn "Tư\n', encoding="utf-8")
    accepted, _, _ = read_source(src, "residents")
    assert accepted.column("full_name").to_pylist() == ['Nguyễn Văn "Tư']


def test_csv_cut_mid_row_is_quarantined_with_a_note(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("person_id,full_name,gender\n001085012345,Nguyễn Văn Hùng,Nam\n079190004321,Trần",
                   encoding="utf-8")
    accepted, q, report = read_source(src, "residents")
    assert accepted.num_rows == 1 and q.column("row_number").to_pylist() == [2]
    assert any("truncated" in n for n in report.notes)


def test_parquet_cut_short(tmp_path):
    full = tmp_path / "full.parquet"
    pq.write_table(pa.Table.from_pylist(RESIDENTS * 50), full)
    cut = tmp_path / "r.parquet"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert "truncated or corrupt" in fails(cut)


def test_parquet_with_a_damaged_middle(tmp_path):
    full = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pylist(RESIDENTS * 50), full)
    data = bytearray(full.read_bytes())
    data[4:40] = b"\xff" * 36
    full.write_bytes(bytes(data))
    assert "Parquet" in fails(full)


def test_jsonl_last_line_cut(tmp_path):
    src = write_jsonl(tmp_path / "r.jsonl", RESIDENTS)
    src.write_bytes(src.read_bytes()[:-20])
    message = fails(src)
    assert "truncated" in message and "data row 3" in message


def test_jsonl_with_no_object(tmp_path):
    (tmp_path / "r.jsonl").write_text("[1, 2]\n\"text\"\n", encoding="utf-8")
    assert "none of its 2 line(s) is a JSON object" in fails(tmp_path / "r.jsonl")


@pytest.mark.parametrize("magic, what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive (an Excel .xlsx"),
    (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8, "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "old Office document"),
    (b"\x1f\x8b\x08\x00\x00\x00", "gzip"),
    (b"person_id,full_name\n\x00\x01\x02\x03binary\x00", "binary data"),
])
def test_binary_files(tmp_path, magic, what):
    src = tmp_path / "residents.csv"
    src.write_bytes(magic + bytes(range(256)) * 4)
    message = fails(src)
    assert what in message and "not a CSV, Parquet or JSON Lines file" in message


def test_unsupported_delimiter_names_the_problem(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("person_id:full_name\n001085012345:Nguyễn Văn Hùng\n", encoding="utf-8")
    message = fails(src)
    assert "required column 'person_id' not found" in message
    assert "'person_id:full_name'" in message  # the headers found
    assert "single column" in message and "delimiter" in message


def test_rows_split_on_another_delimiter_than_the_header(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("person_id,full_name,gender\n001085012345;Nguyễn Văn Hùng;Nam\n079190004321;Trần Thị Mai;Nữ\n",
                   encoding="utf-8")
    message = fails(src)
    assert "none of the 2 data row(s) has the header's 3 field(s)" in message and "delimiter" in message


@pytest.mark.parametrize("source, columns, missing", [
    ("residents", ["full_name", "gender"], "person_id"),
    ("wanted", ["wanted_id", "gender"], "full_name"),
    ("id_cards", ["Họ và tên", "Số CMND"], "card_number"),
])
def test_missing_required_column(tmp_path, source, columns, missing):
    src = write_csv(tmp_path / f"{source}.csv", [dict.fromkeys(columns, "x")])
    message = fails(src, source)
    assert f"required column '{missing}' not found" in message
    for header in columns:
        assert repr(header) in message  # lists what it found
    assert re.search(r"Accepted for \w+: " + missing, message)


def test_ingest_error_writes_nothing_and_cli_style_message(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "w.csv").write_text("wanted_id,full_name\n", encoding="utf-8")
    with pytest.raises(InputError, match="no data rows"):
        ingest({"residents": write_csv(tmp_path / "r.csv", RESIDENTS), "wanted": tmp_path / "w.csv"}, out)
    assert not out.exists()
