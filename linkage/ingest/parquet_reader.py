"""Read a Parquet file as text columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import InputError
from linkage.ingest.raw import RawTable, empty_to_null, positional_names
from linkage.ingest.sniff import PARQUET

MAGIC = b"PAR1"


def read_parquet(path: Path, head: bytes) -> RawTable:
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if tail != MAGIC or path.stat().st_size < 12:
        raise InputError(f"{path}: Parquet file is truncated or corrupt (its footer is missing; "
                         "was the copy interrupted?)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet file (truncated or corrupt?): {exc}") from None
    headers = [str(n) for n in table.column_names]
    if table.num_rows == 0:
        raise InputError(f"{path}: has columns but no data rows")
    notes: list[str] = []
    columns = [_as_text(path, name, col, notes) for name, col in zip(headers, table.columns)]
    text = pa.table(columns, names=positional_names(len(headers)))
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawTable(headers, text, rows, PARQUET, encoding=None, notes=notes)


def _as_text(path: Path, name: str, col: pa.ChunkedArray, notes: list[str]) -> pa.ChunkedArray:
    """Every value as text, so ids keep their digits exactly as stored."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return empty_to_null(col.cast(pa.string()))
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return empty_to_null(col.cast(pa.string()))
    if pa.types.is_integer(t):
        notes.append(f"column {name!r} is stored as {t}: read as text (leading zeros, if any, were lost "
                     "when the file was written)")
    try:
        if pa.types.is_nested(t):
            raise pa.ArrowNotImplementedError("nested")
        return empty_to_null(col.cast(pa.string()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in col.to_pylist()]
        notes.append(f"column {name!r} ({t}) read as JSON text")
        return pa.chunked_array([pa.array(values, pa.string())])
