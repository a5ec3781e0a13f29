"""Ingest on Spark against linkage.ingest on the driver: a Parquet source read by Spark and
validated batch by batch in the executors (the same check functions) must give the same workspace
tables, quarantine (reason, file, row number, column, value, the raw record), repairs and summary
counts: on crafted bad rows (missing names, malformed and spreadsheet-damaged ids, an id repeated
in another batch, an integer column) and on the committed sample written as Parquet. A CSV source
is read by Spark as text lines over several splits and split and validated in the executors
(ragged rows, a blank line, a BOM, a cut last row): the same files again; a CSV file Spark cannot
read as the driver's reader does (a legacy encoding, a quoted field spanning lines) is read on the
driver, with a note in the summary."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.backends.spark.ingest import ingest_on_spark
from linkage.ingest import ingest
from linkage.normalize.legacy import VNI, encode_legacy
from spark_session import spark  # noqa: F401  (the shared session fixture)

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"


def _bad_residents() -> pa.Table:
    """Synthetic residents, 4 row groups of 5 rows: every kind of row the checks reject or repair."""
    rows = []
    for i in range(20):
        rows.append({"person_id": f"0790900{i:05d}", "full_name": f"Trần Văn Mẫu {i}", "birth_date": "01/02/1990",
                     "gender": "Nam", "updated_at": 20240101 + i})
    rows[1]["full_name"] = "  "                          # missing_value
    rows[3]["person_id"] = "07909-0000"                  # malformed_id (too short once dashes go)
    rows[4]["person_id"] = "079 090 000 004"             # stripped, accepted
    rows[6]["person_id"] = "7.909E+10"                   # spreadsheet: digits lost, rejected
    rows[8]["person_id"] = "79090000008.0"               # spreadsheet: repaired (leading zero back)
    rows[12]["person_id"] = rows[2]["person_id"]         # repeats row 3's id, in another row group
    rows[17]["person_id"] = " " + rows[2]["person_id"]   # the same id with a space: also a repeat
    rows[18]["person_id"] = None                         # missing required id
    return pa.Table.from_pylist(rows)


@pytest.fixture
def on_driver(monkeypatch) -> list[str]:
    """The sources the Spark ingest handed to the driver's reader (so a test sees Spark did the rest)."""
    import linkage.backends.spark.ingest as mod

    seen: list[str] = []
    real = mod.read_source_checked

    def spy(path, source, rules=None):
        seen.append(source)
        return real(path, source, rules)

    monkeypatch.setattr(mod, "read_source_checked", spy)
    return seen


def _compare(a: Path, b: Path, sources: list[str]) -> None:
    for s in sources:
        qa, qb = pq.read_table(a / "quarantine" / f"{s}.parquet"), pq.read_table(b / "quarantine" / f"{s}.parquet")
        assert qa.to_pylist() == qb.to_pylist(), s
        ra, rb = pq.read_table(a / "repairs" / f"{s}.parquet"), pq.read_table(b / "repairs" / f"{s}.parquet")
        assert ra.to_pylist() == rb.to_pylist(), s
    sa = json.loads((a / "ingest_summary.json").read_text(encoding="utf-8"))
    sb = json.loads((b / "ingest_summary.json").read_text(encoding="utf-8"))
    assert sa["sources"] == sb["sources"] and sa["reconciled"] == sb["reconciled"] is True
    ca, cb = (duckdb.connect(str(p / "workspace.duckdb"), read_only=True) for p in (a, b))
    try:
        for s in sources:
            assert ca.execute(f"DESCRIBE {s}").fetchall() == cb.execute(f"DESCRIBE {s}").fetchall()
            assert ca.sql(f"SELECT * FROM {s}").fetchall() == cb.sql(f"SELECT * FROM {s}").fetchall()  # rows and order
    finally:
        ca.close()
        cb.close()


def test_bad_rows_are_quarantined_as_on_the_driver(tmp_path, spark, on_driver):  # noqa: F811
    src = tmp_path / "residents.parquet"
    pq.write_table(_bad_residents(), src, row_group_size=5)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "4")  # batches smaller than a row group
    try:
        ingest({"residents": src}, tmp_path / "duck")
        ingest_on_spark(spark, {"residents": src}, tmp_path / "spark", None, tmp_path / "work")
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert on_driver == []
    _compare(tmp_path / "duck", tmp_path / "spark", ["residents"])
    q = pq.read_table(tmp_path / "spark" / "quarantine" / "residents.parquet").to_pandas()
    codes = q.reason.str.split(":").str[0]
    assert sorted(set(codes)) == ["duplicate_id", "malformed_id", "missing_value"]
    assert q[q.row_number == 7].reason.iloc[0].startswith("malformed_id: damaged by a spreadsheet")
    assert (q[codes == "duplicate_id"].row_number.tolist() == [13, 18]
            and q[codes == "duplicate_id"].reason.str.endswith("as data row 3 (kept)").all())
    summary = json.loads((tmp_path / "spark" / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]["residents"]
    assert summary["rows_read"] == 20 == summary["rows_accepted"] + summary["rows_quarantined"]
    assert summary["ids_repaired"] == {"person_id": 1} and any("updated_at" in n for n in summary["notes"])
    assert not (tmp_path / "work" / "ingest_residents").exists()


def test_the_sample_as_parquet_and_a_csv_source(tmp_path, spark, on_driver):  # noqa: F811
    files = {}
    for s in ("residents", "id_cards"):
        frame = pd.read_csv(SAMPLE / f"{s}.csv", dtype=str, keep_default_na=False)
        files[s] = tmp_path / f"{s}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), files[s], row_group_size=4000)
    files["wanted"] = SAMPLE / "wanted.csv"  # read by Spark as text lines
    ingest(files, tmp_path / "duck")
    ingest_on_spark(spark, files, tmp_path / "spark", None, tmp_path / "work")
    assert on_driver == []
    _compare(tmp_path / "duck", tmp_path / "spark", list(files))
    con = duckdb.connect(str(tmp_path / "spark" / "workspace.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM residents").fetchall()[0][0] > 19_000
    con.close()


def test_an_unreadable_parquet_file_gets_the_drivers_message(tmp_path, spark, on_driver):  # noqa: F811
    from linkage.errors import InputError

    full = tmp_path / "full.parquet"
    pq.write_table(_bad_residents(), full)
    cut = tmp_path / "r.parquet"
    cut.write_bytes(full.read_bytes()[:-30])
    with pytest.raises(InputError) as duck:
        ingest({"residents": cut}, tmp_path / "duck")
    with pytest.raises(InputError) as sp:
        ingest_on_spark(spark, {"residents": cut}, tmp_path / "spark", None, tmp_path / "work")
    assert str(duck.value) == str(sp.value) and "truncated" in str(sp.value) and on_driver == ["residents"]


def _bad_residents_csv() -> bytes:
    """Synthetic residents as a UTF-8 CSV with a BOM and CRLF line ends: the rows the checks reject
    or repair, rows with too many and too few fields, quoted fields, a blank line, and a last
    row cut short without a line end."""
    lines = ["person_id,full_name,birth_date,permanent_address,updated_at"]
    for i in range(24):
        lines.append(f'0790900{i:05d},Trần Văn Mẫu {i},01/02/1990,"Số {i}, Phường Bến Nghé",2024-01-01')
    lines[2] = '079090000001,  ,01/02/1990,"Số 1, Phường Bến Nghé",2024-01-01'     # missing_value
    lines[4] = "07909-0000,Lê Thị Mẫu,1990,,"                                       # malformed_id
    lines[7] = '7.909E+10,Lê Thị Mẫu,1990,"a ""quoted"" word",'                     # spreadsheet-damaged id
    lines[9] = "79090000008.0,Đỗ Văn Mẫu,1990,,"                                    # repaired id
    lines[11] = "079090000010,Phạm Văn Mẫu,1990,,,extra"                            # ragged: too many
    lines[13] = lines[3].replace("Mẫu 2", "Mẫu hai")                                # repeats row 3's id
    lines[16] = "079090000015,Vũ Văn Mẫu"                                           # ragged: too few
    lines[19] = " " + lines[3].replace("Mẫu 2", "Mẫu ba")                           # repeat, with a space
    lines.insert(21, "")                                                            # a blank line
    text = "\r\n".join(lines) + "\r\n079090009999,Cut Văn"                       # cut, no line end
    return "\ufeff".encode() + text.encode("utf-8")


def test_a_bad_csv_is_read_on_spark_as_on_the_driver(tmp_path, spark, on_driver):  # noqa: F811
    src = tmp_path / "residents.csv"
    src.write_bytes(_bad_residents_csv())
    conf = {"spark.sql.files.maxPartitionBytes": "300", "spark.sql.files.openCostInBytes": "0",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "3"}  # several splits, small batches
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        ingest({"residents": src}, tmp_path / "duck")
        ingest_on_spark(spark, {"residents": src}, tmp_path / "spark", None, tmp_path / "work")
        assert spark.read.text(str(src)).rdd.getNumPartitions() > 3
    finally:
        for k in conf:
            spark.conf.unset(k)
    assert on_driver == []
    _compare(tmp_path / "duck", tmp_path / "spark", ["residents"])
    q = pq.read_table(tmp_path / "spark" / "quarantine" / "residents.parquet").to_pandas()
    codes = q.reason.str.split(":").str[0]
    assert sorted(set(codes)) == ["duplicate_id", "malformed_id", "missing_value", "ragged_row"]
    assert q[codes == "ragged_row"].row_number.tolist() == [11, 16, 25]
    assert q[codes == "duplicate_id"].row_number.tolist() == [13, 19]
    summary = json.loads((tmp_path / "spark" / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]["residents"]
    assert summary["rows_read"] == 25 and summary["encoding"] == "utf-8-sig" and summary["ids_repaired"]
    assert any("data row 25" in n for n in summary["notes"])


@pytest.mark.parametrize("case", ["legacy", "late_legacy", "multiline"])
def test_a_csv_spark_cannot_read_alike_goes_to_the_driver(tmp_path, spark, on_driver, case):  # noqa: F811
    lines = ["wanted_id,full_name,identifying_marks"] + [f"W{i},Nguyễn Văn Mẫu {i},nốt ruồi" for i in range(6)]
    if case == "multiline":
        lines[3] = 'W2,Nguyễn Văn Mẫu 2,"sẹo ở trán\nnốt ruồi"'
        data = "\n".join(lines).encode("utf-8")
    elif case == "late_legacy":  # a UTF-8 head, one VNI line at the end
        lines += [f"W{i},Nguyễn Văn Mẫu {i},sẹo" for i in range(6, 300)]
        data = "\n".join(lines).encode("utf-8") + encode_legacy("\nW999,Nguyễn Văn Mẫu,sẹo\n", VNI)
    else:
        data = encode_legacy("\n".join(lines), VNI)
    src = tmp_path / "wanted.csv"
    src.write_bytes(data)
    ingest({"wanted": src}, tmp_path / "duck")
    ingest_on_spark(spark, {"wanted": src}, tmp_path / "spark", None, tmp_path / "work")
    assert on_driver == ["wanted"]
    sa = json.loads((tmp_path / "duck" / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]["wanted"]
    sb = json.loads((tmp_path / "spark" / "ingest_summary.json").read_text(encoding="utf-8"))["sources"]["wanted"]
    note = sb["notes"].pop()
    assert note.startswith("read on the driver, not on Spark") and sa == sb
    assert {"legacy": "encoding", "late_legacy": "not UTF-8", "multiline": "quote"}[case] in note
