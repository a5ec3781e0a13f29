"""Read a JSON Lines file (one object per line) as text columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from linkage.errors import InputError
from linkage.ingest.raw import RawTable, RowProblem, empty_to_null, positional_names
from linkage.ingest.sniff import JSONL
from linkage.normalize.legacy import UTF8, UTF8_BOM, decode_bytes, guess_encoding

# Numbers stay as written ("0012" cannot occur in JSON, but 1.50 must not become 1.5).
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def read_jsonl(path: Path, head: bytes) -> RawTable:
    data = path.read_bytes()
    encoding, _ = guess_encoding(data)
    text, unmapped = decode_bytes(data, encoding)
    notes = [f"decoded from {encoding}"] if encoding not in (UTF8, UTF8_BOM) else []
    if unmapped:
        notes.append(f"{unmapped} byte(s) could not be decoded as {encoding}")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    numbered = [line for line in lines if line.strip()]
    if not numbered:
        raise InputError(f"{path}: file has no content (only blank lines)")
    records: list[dict] = []
    rows: list[int] = []
    problems: list[RowProblem] = []
    for row, line in enumerate(numbered, start=1):
        try:
            value = _DECODER.decode(line)
        except json.JSONDecodeError as exc:
            if row == len(numbered) and not text.endswith("\n"):
                raise InputError(f"{path}: file seems truncated: the last line (data row {row}) is not complete "
                                 f"JSON ({exc.msg}, column {exc.colno})") from None
            problems.append(RowProblem(row, f"malformed_json: {exc.msg}, column {exc.colno}", line))
            continue
        if not isinstance(value, dict):
            problems.append(RowProblem(row, f"malformed_record: a {type(value).__name__} instead of a JSON object", line))
            continue
        records.append(value)
        rows.append(row)
    headers = list(dict.fromkeys(k for r in records for k in r))
    columns = [empty_to_null(pa.array([_text(r.get(k)) for r in records], pa.string())) for k in headers]
    table = pa.table(columns, names=positional_names(len(headers))) if headers else pa.table({})
    if not records:
        raise InputError(f"{path}: none of its {len(problems)} line(s) is a JSON object "
                         f"(first problem, data row {problems[0].row_number}: {problems[0].reason})")
    return RawTable(headers, table, np.array(rows, dtype=np.int64), JSONL, encoding, None, problems, notes)


def _text(v: object) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, ensure_ascii=False)
