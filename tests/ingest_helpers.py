"""Shared helpers for the ingestion tests: small synthetic sources written as real files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# Invented people; every value is synthetic.
RESIDENTS = [
    {"person_id": "001085012345", "full_name": "Nguyễn Văn Hùng", "gender": "Nam", "birth_date": "15/03/1985",
     "hometown": "Xã Tân Phú, Huyện Đức Hòa, Tỉnh Long An", "father_name": "Nguyễn Văn Ba"},
    {"person_id": "079190004321", "full_name": "Trần Thị Ánh Tuyết", "gender": "Nữ", "birth_date": "1990",
     "hometown": "Phường 3, Quận 5, Thành phố Hồ Chí Minh", "father_name": ""},
    {"person_id": "038078000777", "full_name": "Lê Quốc Việt", "gender": "Nam", "birth_date": "02/1978",
     "hometown": "Xã Yên Sở, Huyện Hoài Đức, Thành phố Hà Nội", "father_name": "Lê Văn Sáu"},
]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def workspace_rows(out: Path, table: str) -> list[dict]:
    con = duckdb.connect(str(out / "workspace.duckdb"), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {table} ORDER BY _row").to_arrow_table().to_pylist()
    finally:
        con.close()


def quarantine_rows(out: Path, source: str) -> list[dict]:
    return pq.read_table(out / "quarantine" / f"{source}.parquet").to_pylist()
