"""The quarantine table: one line per problem found in a source row, with the whole raw row."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from linkage.ingest.raw import RawTable
from linkage.ingest.validate import Finding

SCHEMA = pa.schema([
    ("source", pa.string()),
    ("source_file", pa.string()),
    ("row_number", pa.int64()),
    ("column", pa.string()),
    ("reason", pa.string()),
    ("value", pa.string()),
    ("record", pa.string()),  # the raw row as JSON, keyed by the file's own headers
])


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0]


def build(source: str, source_file: str, raw: RawTable, findings: list[Finding]) -> pa.Table:
    """Row problems (never parsed) and findings (parsed rows failing a check), by row number."""
    parts: dict[str, list] = {name: [] for name in SCHEMA.names}
    for p in raw.problems:
        _append(parts, p.row_number, None, p.reason, None, p.record())
    records = _records(raw, findings)
    for f in findings:
        reasons = f.reasons if isinstance(f.reasons, list) else [f.reasons] * len(f.positions)
        for pos, reason, value in zip(f.positions.tolist(), reasons, f.values.to_pylist()):
            _append(parts, int(raw.rows[pos]), f.column, reason, value, records[pos])
    n = len(parts["row_number"])
    parts["source"] = [source] * n
    parts["source_file"] = [source_file] * n
    table = pa.table({k: pa.array(v, SCHEMA.field(k).type) for k, v in parts.items()}, schema=SCHEMA)
    if n:
        table = table.sort_by([("row_number", "ascending"), ("column", "ascending")])
    return table


def _append(parts: dict[str, list], row: int, column: str | None, reason: str, value: str | None,
            record: str) -> None:
    parts["row_number"].append(row)
    parts["column"].append(column)
    parts["reason"].append(reason)
    parts["value"].append(value)
    parts["record"].append(record)


def _records(raw: RawTable, findings: list[Finding]) -> dict[int, str]:
    """JSON of each quarantined parsed row, built once per row."""
    if not findings:
        return {}
    positions = np.unique(np.concatenate([f.positions for f in findings]))
    keys = _unique_keys(raw.headers)
    picked = raw.table.take(pa.array(positions, pa.int64())).to_pylist()
    return {
        int(pos): json.dumps({k: row[c] for k, c in zip(keys, raw.table.column_names)}, ensure_ascii=False)
        for pos, row in zip(positions, picked)
    }


def _unique_keys(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h} ({seen[h]})")
    return out


def empty() -> pa.Table:
    return SCHEMA.empty_table()
