"""Read a Parquet file as text columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import InputError
from linkage.ingest.raw import RawStream, RawTable, empty_to_null, positional_names
from linkage.ingest.sniff import PARQUET

MAGIC = b"PAR1"


BATCH_ROWS = 131072  # rows converted to text at a time: memory holds a batch, not the file


def read_parquet(path: Path, head: bytes) -> RawStream:
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if tail != MAGIC or path.stat().st_size < 12:
        raise InputError(f"{path}: Parquet file is truncated or corrupt (its footer is missing; "
                         "was the copy interrupted?)")
    try:
        pf = pq.ParquetFile(path)
        headers = [str(n) for n in pf.schema_arrow.names]
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet file (truncated or corrupt?): {exc}") from None
    if pf.metadata.num_rows == 0:
        raise InputError(f"{path}: has columns but no data rows")
    names = positional_names(len(headers))

    def batches() -> Iterator[RawTable]:
        start = 1
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                notes: list[str] = []
                columns = [_as_text(path, h, pa.chunked_array([c]), notes) for h, c in zip(headers, batch.columns)]
                stream.notes.extend(n for n in notes if n not in stream.notes)
                rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
                start += batch.num_rows
                yield RawTable(headers, pa.table(columns, names=names), rows, PARQUET)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path}: cannot read Parquet file (truncated or corrupt?): {exc}") from None

    stream = RawStream(headers, batches, PARQUET)
    return stream


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
