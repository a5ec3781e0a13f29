"""Ingestion of good and partly bad sources: workspace tables, quarantine, summary, formats."""

from __future__ import annotations

import json

import duckdb
import pytest

from ingest_helpers import RESIDENTS, quarantine_rows, workspace_rows, write_csv, write_jsonl, write_parquet
from linkage.ingest import ingest, read_source
from linkage.ingest.contract import COLUMNS, ROW


def test_csv_loads_every_contract_column_as_text(tmp_path):
    src = write_csv(tmp_path / "residents.csv", RESIDENTS)
    report = ingest({"residents": src}, tmp_path / "out")
    rows = workspace_rows(tmp_path / "out", "residents")
    assert [r["person_id"] for r in rows] == ["001085012345", "079190004321", "038078000777"]  # zeros kept
    assert [r[ROW] for r in rows] == [1, 2, 3]
    assert list(rows[0]) == [*COLUMNS["residents"], ROW]
    assert rows[0]["full_name"] == "Nguyễn Văn Hùng"
    assert rows[1]["father_name"] is None  # empty -> NULL
    assert rows[0]["status"] is None  # optional column absent from the file -> NULL
    con = duckdb.connect(str(tmp_path / "out" / "workspace.duckdb"), read_only=True)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'residents'").fetchall())
    con.close()
    assert types[ROW] == "BIGINT" and {t for c, t in types.items() if c != ROW} == {"VARCHAR"}
    s = report.sources["residents"]
    assert (s.rows_read, s.rows_accepted, s.rows_quarantined) == (3, 3, 0)
    assert s.format == "csv" and s.encoding == "utf-8" and s.delimiter == ","
    assert "status" in s.missing_columns
    assert quarantine_rows(tmp_path / "out", "residents") == []  # written even when empty


def test_same_workspace_table_from_csv_parquet_and_jsonl(tmp_path):
    tables = []
    for fmt, write in (("csv", write_csv), ("parquet", write_parquet), ("jsonl", write_jsonl)):
        src = write(tmp_path / f"residents.{fmt}", RESIDENTS)
        report = ingest({"residents": src}, tmp_path / fmt)
        assert report.sources["residents"].format == fmt
        tables.append(workspace_rows(tmp_path / fmt, "residents"))
    assert tables[0] == tables[1] == tables[2]
    assert len(tables[0]) == 3


def test_vietnamese_headers_are_mapped(tmp_path):
    rows = [{
        "Mã đối tượng": "TN-001", "HỌ VÀ TÊN": "Nguyễn Văn Hùng", "Tên gọi khác": "Hùng Sẹo",
        "Giới tính": "Nam", "Ngày tháng năm sinh": "1985", "Nơi sinh": "Long An", "Quê quán": "Đức Hòa, Long An",
        "ĐKTT": "Xã Tân Phú", "Chỗ ở hiện nay": "Quận 5", "Dân tộc": "Kinh", "Số CCCD": "001085012345",
        "Họ tên bố": "Nguyễn Văn Ba", "Họ tên mẹ": "Trần Thị Mai", "Số quyết định": "12/QĐ-CSHS",
        "Ngày quyết định": "01/02/2024", "Đơn vị ra quyết định": "Công an tỉnh Long An",
        "Tội danh": "Trộm cắp tài sản", "Mức độ nguy hiểm": "nguy hiểm", "Ghi chú": "không nạp",
        "Đặc điểm nhận dạng": "Nốt ruồi C 2cm trên trước đuôi mắt phải",
    }]
    src = write_csv(tmp_path / "truy_na.csv", rows)
    report = ingest({"wanted": src}, tmp_path / "out")
    got = workspace_rows(tmp_path / "out", "wanted")[0]
    assert got["wanted_id"] == "TN-001" and got["full_name"] == "Nguyễn Văn Hùng"
    assert got["other_names"] == "Hùng Sẹo" and got["birth_date"] == "1985"
    assert got["hometown"] == "Đức Hòa, Long An" and got["permanent_address"] == "Xã Tân Phú"
    assert got["current_address"] == "Quận 5" and got["id_number"] == "001085012345"
    assert got["father_name"] == "Nguyễn Văn Ba" and got["mother_name"] == "Trần Thị Mai"
    assert got["decision_number"] == "12/QĐ-CSHS" and got["issuing_unit"] == "Công an tỉnh Long An"
    assert got["offence"] == "Trộm cắp tài sản" and got["danger_level"] == "nguy hiểm"
    assert got["identifying_marks"] == "Nốt ruồi C 2cm trên trước đuôi mắt phải"
    s = report.sources["wanted"]
    assert s.mapped_columns["full_name"] == "HỌ VÀ TÊN"
    assert s.ignored_columns == ["Ghi chú"] and s.missing_columns == []


@pytest.mark.parametrize("header, column", [
    ("Họ tên", "full_name"), ("ho_va_ten", "full_name"), ("  Ho Va Ten ", "full_name"), ("Full name", "full_name"),
    ("Số định danh cá nhân", "card_number"), ("Số CMND", "old_id_number"), ("Ngày cấp", "issue_date"),
    ("Nơi thường trú", "permanent_address"), ("HKTT", "permanent_address"), ("Quê quán", "hometown"),
])
def test_header_matching_ignores_case_spacing_diacritics_punctuation(tmp_path, header, column):
    row = {"card_number": "001085012345", "full_name": "Nguyễn Văn Hùng"}
    value = row.pop(column, "x")
    row[header] = value
    accepted, _, report = read_source(write_csv(tmp_path / "cards.csv", [row]), "id_cards")
    assert accepted.column(column).to_pylist() == [value]
    assert report.mapped_columns[column] == header.strip()


def test_two_headers_for_one_column_first_listed_wins(tmp_path):
    rows = [{"wanted_id": "W1", "full_name": "Lê Văn Tám", "Số CMND": "123456789", "Số CCCD": "001085012345"}]
    accepted, _, report = read_source(write_csv(tmp_path / "w.csv", rows), "wanted")
    assert accepted.column("id_number").to_pylist() == ["001085012345"]
    assert report.ignored_columns == ["Số CMND"]
    assert any("Số CMND" in n and "id_number" in n for n in report.notes)


def test_bad_rows_are_quarantined_and_counts_reconcile(tmp_path):
    rows = [
        {"person_id": "001085012345", "full_name": "Nguyễn Văn Hùng"},   # 1 ok
        {"person_id": "079.190.004.321", "full_name": "Trần Thị Mai"},   # 2 ok once dots removed
        {"person_id": "12345", "full_name": "Lê Văn Tám"},               # 3 malformed id
        {"person_id": "", "full_name": "Phạm Văn Đồng"},                 # 4 missing id
        {"person_id": "038078000777", "full_name": "  "},                # 5 missing name
        {"person_id": "001-085-012-345", "full_name": "Nguyễn Văn Hùng"},  # 6 duplicate of 1
        {"person_id": "0010850123456", "full_name": ""},                 # 7 malformed id and missing name
    ]
    out = tmp_path / "out"
    report = ingest({"residents": write_csv(tmp_path / "r.csv", rows)}, out)
    s = report.sources["residents"]
    assert (s.rows_read, s.rows_accepted, s.rows_quarantined) == (7, 2, 5)
    assert s.reconciled and s.reasons == {"duplicate_id": 1, "malformed_id": 2, "missing_value": 3}
    loaded = workspace_rows(out, "residents")
    assert [(r["person_id"], r[ROW]) for r in loaded] == [("001085012345", 1), ("079190004321", 2)]
    q = quarantine_rows(out, "residents")
    got = [(r["row_number"], r["column"], r["reason"].split(":")[0], r["value"]) for r in q]
    assert got == [
        (3, "person_id", "malformed_id", "12345"),
        (4, "person_id", "missing_value", None),
        (5, "full_name", "missing_value", "  "),
        (6, "person_id", "duplicate_id", "001-085-012-345"),
        (7, "full_name", "missing_value", None),
        (7, "person_id", "malformed_id", "0010850123456"),
    ]
    assert "data row 1" in q[3]["reason"]
    assert {r["source"] for r in q} == {"residents"} and {r["source_file"] for r in q} == {str(tmp_path / "r.csv")}
    assert json.loads(q[0]["record"]) == {"person_id": "12345", "full_name": "Lê Văn Tám"}
    assert len({r["row_number"] for r in q}) == s.rows_quarantined


def test_wanted_id_duplicates_compare_trimmed(tmp_path):
    rows = [{"wanted_id": "W1", "full_name": "A Văn B"}, {"wanted_id": " W1 ", "full_name": "C Thị D"},
            {"wanted_id": "W2", "full_name": ""}, {"wanted_id": "W2", "full_name": "E Văn F"}]
    accepted, q, report = read_source(write_csv(tmp_path / "w.csv", rows), "wanted")
    # row 3 is quarantined for its name, so row 4 is the first good W2 and is kept
    assert accepted.column("wanted_id").to_pylist() == ["W1", "W2"]
    assert accepted.column(ROW).to_pylist() == [1, 4]
    assert q.column("row_number").to_pylist() == [2, 3]


def test_ragged_rows_and_quoted_newlines(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('person_id,full_name,hometown\n'
                   '001085012345,"Nguyễn Văn Hùng","Xã Tân Phú,\nHuyện Đức Hòa"\n'
                   '079190004321,Trần Thị Mai\n'
                   '\n'
                   '038078000777,Lê Quốc Việt,Hà Nội,extra\n'
                   '038078000778,"Lê ""Tư"" Việt",Hà Nội\n', encoding="utf-8")
    accepted, q, report = read_source(src, "residents")
    assert accepted.column("hometown").to_pylist()[0] == "Xã Tân Phú,\nHuyện Đức Hòa"
    assert accepted.column("full_name").to_pylist()[1] == 'Lê "Tư" Việt'
    assert accepted.column(ROW).to_pylist() == [1, 4]
    assert [(r["row_number"], r["reason"]) for r in q.to_pylist()] == [
        (2, "ragged_row: 2 fields, the header has 3"), (3, "ragged_row: 4 fields, the header has 3")]
    assert json.loads(q.column("record")[1].as_py()) == {"_raw": "038078000777,Lê Quốc Việt,Hà Nội,extra"}
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 2, 2)


@pytest.mark.parametrize("delimiter, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_delimiter_is_detected_and_reported(tmp_path, delimiter, name):
    rows = [r | {"hometown": r["hometown"].replace(",", " -")} for r in RESIDENTS]
    src = write_csv(tmp_path / "r.txt", rows, delimiter=delimiter)
    accepted, _, report = read_source(src, "residents")
    assert report.delimiter == delimiter and name in report.render()
    assert accepted.num_rows == 3 and accepted.column("full_name").to_pylist()[2] == "Lê Quốc Việt"


def test_semicolon_file_with_commas_in_values(tmp_path):
    src = write_csv(tmp_path / "r.csv", RESIDENTS, delimiter=";")  # hometown values contain commas
    accepted, _, report = read_source(src, "residents")
    assert report.delimiter == ";"
    assert accepted.column("hometown").to_pylist()[0] == "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An"


def test_extension_that_lies_is_read_by_content(tmp_path):
    pq_as_csv = write_parquet(tmp_path / "residents.csv", RESIDENTS)
    accepted, _, report = read_source(pq_as_csv, "residents")
    assert report.format == "parquet" and accepted.num_rows == 3
    assert any("extension '.csv'" in n for n in report.notes)
    jsonl_as_txt = write_jsonl(tmp_path / "residents.txt", RESIDENTS)
    assert read_source(jsonl_as_txt, "residents")[2].format == "jsonl"


def test_parquet_integer_ids_are_text_and_noted(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"person_id": pa.array([1085012345, 79190004321], pa.int64()),
                             "full_name": ["Nguyễn Văn Hùng", "Trần Thị Mai"]}), path)
    accepted, q, report = read_source(path, "residents")
    # zeros lost upstream, given back because the padded ids are valid structures (docs/ingest.md)
    assert accepted.column("person_id").to_pylist() == ["001085012345", "079190004321"] and q.num_rows == 0
    assert any("int64" in n for n in report.notes) and report.ids_repaired == {"person_id": 2}


def test_jsonl_values_kept_as_written_and_bad_lines_quarantined(tmp_path):
    src = tmp_path / "w.jsonl"
    src.write_text('{"wanted_id": 17, "full_name": "Nguyễn Văn Hùng", "birth_date": 1985.0}\n'
                   '\n'
                   '{"wanted_id": "W2", "full_name": "Trần Thị Mai"\n'
                   '["W3", "Lê Văn Tám"]\n'
                   '{"wanted_id": "W4", "full_name": "Lê Văn Tám", "other_names": ["Tám Lé", "Tư"]}\n',
                   encoding="utf-8")
    accepted, q, report = read_source(src, "wanted")
    assert accepted.column("wanted_id").to_pylist() == ["17", "W4"]
    assert accepted.column("birth_date").to_pylist() == ["1985.0", None]
    assert accepted.column("other_names").to_pylist()[1] == '["Tám Lé", "Tư"]'
    assert accepted.column(ROW).to_pylist() == [1, 4]
    assert [r["reason"].split(":")[0] for r in q.to_pylist()] == ["malformed_json", "malformed_record"]
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (4, 2, 2)


def test_ingest_writes_summary_and_keeps_other_sources(tmp_path):
    out = tmp_path / "out"
    ingest({"residents": write_csv(tmp_path / "r.csv", RESIDENTS)}, out)
    cards = [{"Số CCCD": "001085012345", "Họ và tên": "Nguyễn Văn Hùng", "Số CMND": "271234567", "Ngày cấp": "2021"}]
    report = ingest({"id_cards": write_csv(tmp_path / "c.csv", cards), "wanted": None}, out)
    con = duckdb.connect(str(out / "workspace.duckdb"), read_only=True)
    tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert tables == {"residents", "id_cards"}  # residents from the first run is still there
    assert workspace_rows(out, "id_cards")[0]["old_id_number"] == "271234567"
    summary = json.loads((out / "ingest_summary.json").read_text(encoding="utf-8"))
    assert summary["reconciled"] is True and list(summary["sources"]) == ["id_cards"]
    assert summary["sources"]["id_cards"]["rows_accepted"] == 1
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no temporary file left behind
    text = report.render()
    assert "id_cards" in text and "rows read 1 = accepted 1 + quarantined 0" in text


def test_bad_source_stops_before_anything_is_written(tmp_path):
    from linkage.errors import InputError

    out = tmp_path / "out"
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError):
        ingest({"residents": write_csv(tmp_path / "r.csv", RESIDENTS), "wanted": tmp_path / "empty.csv"}, out)
    assert not out.exists()


def test_crlf_leading_blank_lines_and_repeated_header(tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes("\r\n\r\nperson_id,full_name,full_name\r\n001085012345,Nguyễn Văn Hùng,X\r\n"
                    "079190004321,Trần Thị Mai\r\n\r\n038078000777,Lê Quốc Việt,Y\r\n".encode())
    accepted, q, report = read_source(src, "residents")
    assert accepted.column("full_name").to_pylist() == ["Nguyễn Văn Hùng", "Lê Quốc Việt"]
    assert accepted.column(ROW).to_pylist() == [1, 3]
    assert q.column("row_number").to_pylist() == [2]
    assert report.ignored_columns == ["full_name"]
    assert any("column 3 'full_name' also maps to full_name: column 2" in n for n in report.notes)


def _compressions(out, table: str) -> set[str]:
    con = duckdb.connect(str(out / "workspace.duckdb"), read_only=True)
    try:
        return {c for (c,) in con.execute(f"SELECT DISTINCT compression FROM pragma_storage_info('{table}')").fetchall()}
    finally:
        con.close()


def test_workspace_tables_follow_the_rules_compression(tmp_path):
    """The sources' tables are read once, by the next stage: the default rules store them as they
    are (compressing them cost a quarter of ingest's time); `workspace_compression: auto` gives
    DuckDB its choice back."""
    import shutil

    from linkage.settings import load_settings

    rows = [dict(r, **{"Họ và tên": f"Nguyễn Văn {'Hùng' if i % 2 else 'Dũng'}"}) for i in range(400) for r in RESIDENTS[:1]]
    source = {"residents": write_csv(tmp_path / "r.csv", rows)}
    ingest(source, tmp_path / "plain")
    rules = tmp_path / "rules"
    shutil.copytree(load_settings().path.parent, rules, ignore=shutil.ignore_patterns("model.json"))
    text = (rules / "matching.yaml").read_text(encoding="utf-8")
    (rules / "matching.yaml").write_text(text.replace('workspace_compression: "uncompressed"', 'workspace_compression: "auto"'),
                                         encoding="utf-8")
    ingest(source, tmp_path / "auto", rules=rules)
    assert _compressions(tmp_path / "plain", "residents") <= {"Uncompressed", "Constant"}
    assert _compressions(tmp_path / "auto", "residents") - {"Uncompressed", "Constant"}  # e.g. Dictionary, FSST
    assert workspace_rows(tmp_path / "plain", "residents") == workspace_rows(tmp_path / "auto", "residents")
