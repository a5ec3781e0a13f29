"""What a reader hands on: the file's columns as text, one data row number per row, and the
rows that could not even be split into columns."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class RowProblem:
    """A row that never became a table row (ragged, malformed JSON); kept whole for quarantine."""

    row_number: int
    reason: str  # "<code>: <detail>"
    raw: str  # the row's text as found in the file

    def record(self) -> str:
        return json.dumps({"_raw": self.raw}, ensure_ascii=False)


@dataclass
class RawTable:
    """A source as read: positional text columns (`headers[i]` names column i of `table`)."""

    headers: list[str]
    table: pa.Table
    rows: np.ndarray  # int64, data row number of each table row
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RawStream:
    """A source read batch by batch, so a large file is never whole in memory: `batches()` yields
    RawTables (rows numbered in the file; their `problems` and `notes` empty), and sets `problems`
    and `notes` once a pass reaches the end of the file, where the file's own checks (no data
    rows, a cut last row) run. It may be called again for a second pass."""

    headers: list[str]
    batches: Callable[[], Iterator[RawTable]]
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def whole(cls, raw: RawTable) -> RawStream:
        """A RawTable read whole (JSON Lines) as a stream of one batch."""
        one = RawTable(raw.headers, raw.table, raw.rows, raw.format, raw.encoding, raw.delimiter)
        return cls(raw.headers, lambda: iter([one]), raw.format, raw.encoding, raw.delimiter, raw.problems, raw.notes)

    def collect(self) -> RawTable:
        """The whole file as one RawTable (for callers that need every row at once)."""
        parts = list(self.batches())
        names = positional_names(len(self.headers))
        table = pa.concat_tables([p.table for p in parts]) if parts else pa.table(
            [pa.array([], pa.string())] * len(names), names=names)
        rows = np.concatenate([p.rows for p in parts]) if parts else np.zeros(0, np.int64)
        return RawTable(self.headers, table, rows, self.format, self.encoding, self.delimiter, self.problems,
                        self.notes)


def positional_names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def empty_to_null(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """"" and null both mean "no value"; make them one, whatever the format."""
    if col.null_count == len(col):
        return col
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
