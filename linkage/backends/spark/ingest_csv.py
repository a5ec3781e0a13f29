"""CSV ingest on Spark (`--engine spark`): the driver reads the file's head as the DuckDB engine's
reader does (linkage.ingest.csv_reader.layout: encoding, delimiter, header), Spark reads the file
as text lines, and the executors number the lines, split them with the reader's own Arrow options
and validate them with check_rows, as for a Parquet source (linkage/backends/spark/ingest.py).

A file this cannot read exactly as csv_reader does goes back to the driver's reader, with a note
in the summary saying why (`fallback_reason`): not UTF-8 (legacy encodings and UTF-16 are decoded
whole on the driver), blank lines before the header, a quoted field spanning lines (or a stray
quote: a line with an odd number of quote characters), a byte that is not UTF-8 after the head
(`is_valid_utf8`), a file with no data row that parses (the driver's reader words that error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from linkage.ingest.csv_reader import convert_options, cut_row_note, layout, parse_options, ragged_row
from linkage.ingest.mapping import HeaderMatch, load_mappings, match_headers
from linkage.ingest.pipeline import _peek_text, _require_columns
from linkage.ingest.raw import RawTable, RowProblem, empty_to_null, positional_names
from linkage.ingest.sniff import CSV, binary_kind, check_readable, detect_format, read_head
from linkage.normalize.legacy import UTF8, UTF8_BOM, guess_encoding

KIND_FALLBACK = 4  # a batch the executors could not split as csv_reader would
_BLOCK = 1 << 24


@dataclass
class CsvPlan:
    """What the driver learnt from the head: enough for the executors to split every line."""

    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    match: HeaderMatch
    notes: list[str]  # the reader's notes so far (the format note)


def plan(path: Path, source: str, rules: Path | None) -> CsvPlan | str | None:
    """The plan for a CSV file Spark can read; a reason (str) when it must go to the driver's
    reader; None when the file is not CSV at all (or so broken that the driver's reader words the
    error)."""
    check_readable(path)
    head = read_head(path)
    if head.startswith(b"PAR1") or binary_kind(head) or not head.strip(b" \t\r\n\xef\xbb\xbf"):
        return None
    fmt, note = detect_format(path, head, _peek_text(head))
    if fmt != CSV:
        return None
    encoding, _ = guess_encoding(head)
    if encoding not in (UTF8, UTF8_BOM):
        return f"encoding {encoding}"
    delimiter, headers, skip = layout(path, head, complete=path.stat().st_size <= len(head))
    if skip != 1:
        return "blank lines before the header"
    mapping = load_mappings(rules)[source]
    match = match_headers(headers, mapping)
    _require_columns(path, RawTable(headers, pa.table({}), np.zeros(0, np.int64), CSV, delimiter=delimiter),
                     match, mapping)
    return CsvPlan(path, encoding, delimiter, headers, match, [note] if note else [])


def lines_frame(spark, path: Path):
    """The file as text lines, each with the start of the block (split) it was read from."""
    from pyspark.sql import functions as F

    return spark.read.text(str(path)).select("value", F.col("_metadata.file_block_start").alias("_b"))


def line_offsets(lines) -> tuple[dict[int, int], int, str | None]:
    """({block start: non-empty lines before the block}, non-empty lines in the file, a reason to
    fall back or None). One pass over the file; the result is one row per block."""
    stats = lines.selectExpr(
        "_b", "CAST(value <> '' AS INT) AS ne",
        "CAST((length(value) - length(replace(value, '\"', ''))) % 2 = 1 AS INT) AS odd",
        f"CAST({_not_utf8(lines.sparkSession)} AS INT) AS bad",
    ).groupBy("_b").agg({"ne": "sum", "odd": "sum", "bad": "sum"}).collect()
    rows = sorted((int(r["_b"]), int(r["sum(ne)"] or 0), int(r["sum(odd)"] or 0), int(r["sum(bad)"] or 0))
                  for r in stats)
    offsets, total = {}, 0
    for b, ne, _, _ in rows:
        offsets[b] = total
        total += ne
    if any(r[2] for r in rows):
        return offsets, total, "a quoted field spanning lines, or a stray quote character"
    if any(r[3] for r in rows):
        return offsets, total, "bytes that are not UTF-8 further on than the head the encoding was guessed from"
    return offsets, total, None


def _not_utf8(spark) -> str:
    """SQL true for a line that is not UTF-8 (Spark keeps a line's bytes as they are). Before Spark
    4 there is no is_valid_utf8: such a line then fails the executors' split (Arrow checks UTF-8),
    which falls back too, with a vaguer note."""
    return "NOT is_valid_utf8(value)" if int(spark.version.split(".")[0]) >= 4 else "false"


def raw_batches(batches: Iterator[pa.RecordBatch], offsets: dict[int, int], headers: list[str], delimiter: str,
                encoding: str, wanted: np.ndarray | None = None) -> Iterator[tuple[RawTable, np.ndarray] | None]:
    """Executor side: each batch of lines (one partition, in file order) -> the rows csv_reader
    would make of them (data row numbers counted over the non-empty lines after the header, ragged
    rows as its problems), or None when the lines do not split one record per line. `wanted`
    (sorted data row numbers) keeps only those rows; the second item is the kept rows' positions
    in `wanted`."""
    seen: dict[int, int] = {}
    names = positional_names(len(headers))
    for batch in batches:
        if batch.num_rows == 0:
            continue
        values = batch.column(0)
        blocks = batch.column(1).to_numpy(zero_copy_only=False)
        nonempty = pc.not_equal(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
        rows = np.zeros(len(blocks), np.int64)
        for b in np.unique(blocks):  # per block (one or two per batch), not per line
            m = blocks == b
            c = np.cumsum(nonempty[m]) + seen.get(int(b), 0)
            seen[int(b)] = int(c[-1]) if len(c) else seen.get(int(b), 0)
            rows[m] = offsets[int(b)] + c - 1  # the header is non-empty line 0
        keep = nonempty & (rows >= 1)
        where = None
        if wanted is not None:
            where = np.searchsorted(wanted, rows)
            keep &= (where < len(wanted)) & (wanted[np.minimum(where, len(wanted) - 1)] == rows)
        if not keep.any():
            continue
        kept_rows = rows[keep]
        raw = _split(values.filter(pa.array(keep)), kept_rows, headers, names, delimiter, encoding)
        yield None if raw is None else (raw, where[keep] if where is not None else np.zeros(0, np.int64))


def _split(lines: pa.Array, rows: np.ndarray, headers: list[str], names: list[str], delimiter: str,
           encoding: str) -> RawTable | None:
    """Lines -> a RawTable as csv_reader._stream makes (the same Arrow options), or None when the
    lines are not one record each."""
    text = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # each line + "\n"
    bufs = text.buffers()
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offs = np.frombuffer(bufs[1], dtype=width)[text.offset:text.offset + len(text) + 1]
    data = bufs[2][int(offs[0]):int(offs[-1])]
    problems: list[RowProblem] = []
    lost = []

    def on_invalid(row) -> str:
        if row.number is None or not 1 <= row.number <= len(rows):
            lost.append(row)
        else:
            problems.append(ragged_row(int(rows[row.number - 1]), row))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=_BLOCK, column_names=names),
            parse_options=parse_options(delimiter, on_invalid), convert_options=convert_options(names))
    except (pa.ArrowInvalid, IndexError):
        return None
    if lost or table.num_rows + len(problems) != len(rows):
        return None
    keep = np.ones(len(rows), bool)
    keep[np.searchsorted(rows, np.array([p.row_number for p in problems], np.int64))] = False
    table = pa.table([empty_to_null(c) for c in table.columns], names=names)
    return RawTable(headers, table, rows[keep], CSV, encoding, delimiter, problems, [])


def last_row_note(path: Path, q: pa.Table, rows_read: int, delimiter: str, width: int) -> str | None:
    """csv_reader._check_rows's note on a cut last row (only a ragged last row can be one)."""
    last = q.filter(pc.and_(pc.equal(q.column("row_number"), rows_read), pc.is_null(q.column("column"))))
    if not last.num_rows:
        return None
    with path.open("rb") as f:
        f.seek(-1, 2)
        if f.read(1) == b"\n":
            return None
    raw = json.loads(last.column("record")[0].as_py())["_raw"]
    return cut_row_note(RowProblem(rows_read, "", raw), delimiter, width)


def partial_raw(offsets: dict[int, int], p: CsvPlan, wanted: np.ndarray | None = None):
    return partial(raw_batches, offsets=offsets, headers=p.headers, delimiter=p.delimiter, encoding=p.encoding,
                   wanted=wanted)
