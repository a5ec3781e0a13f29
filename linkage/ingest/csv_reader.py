"""Read a delimited text file: detect encoding and delimiter, keep every value as text, set
aside ragged rows, and refuse truncated files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from linkage.errors import InputError
from linkage.ingest.raw import RawTable, RowProblem, empty_to_null, positional_names
from linkage.ingest.sniff import CSV, HEAD_BYTES, describe_delimiter, sniff_delimiter
from linkage.normalize.legacy import UTF8, UTF8_BOM, decode_bytes, guess_encoding

_CHUNK = 1 << 24


def read_csv(path: Path, head: bytes) -> RawTable:
    """Fast path: UTF-8 files go straight to Arrow's reader. Anything else is decoded in Python
    first (whole file), then parsed the same way."""
    encoding, _ = guess_encoding(head)
    if encoding in (UTF8, UTF8_BOM):
        try:
            return _parse(path, head, path, encoding, [], complete=path.stat().st_size <= len(head))
        except _NotUtf8:
            pass  # a non-UTF-8 byte after the sniffed head: decode the whole file
    data = path.read_bytes()
    encoding, confidence = guess_encoding(data)
    text, unmapped = decode_bytes(data, encoding)
    notes = []
    if encoding not in (UTF8, UTF8_BOM):
        notes.append(f"decoded from {encoding}")
    if confidence < 0.8:
        notes.append(f"encoding guessed with low confidence ({confidence:.2f}): check the names")
    if unmapped:
        notes.append(f"{unmapped} byte(s) could not be decoded as {encoding}")
    utf8 = text.encode("utf-8")
    return _parse(path, utf8[:HEAD_BYTES], io.BytesIO(utf8), encoding, notes, complete=len(utf8) <= HEAD_BYTES,
                  whole=utf8)


class _NotUtf8(Exception):
    pass


def _parse(path: Path, head: bytes, source, encoding: str, notes: list[str], complete: bool,
           whole: bytes | None = None) -> RawTable:
    delimiter, headers, skip = layout(path, head, complete)
    _check_quotes_closed(path, whole, delimiter)
    names = positional_names(len(headers))
    table, problems = _read_table(path, source, skip, names, delimiter, whole, threads=True)
    if any(p.row_number < 0 for p in problems):  # the threaded reader does not number a ragged row
        if isinstance(source, io.BytesIO):
            source.seek(0)
        table, problems = _read_table(path, source, skip, names, delimiter, whole, threads=False)
    columns = table.columns
    del table
    for i in range(len(columns)):  # each column replaced as it is made: one copy of the file at a time
        columns[i] = empty_to_null(columns[i])
    table = pa.table(columns, names=names)
    rows = _row_numbers(table.num_rows, problems, notes)
    raw = RawTable(headers, table, rows, CSV, encoding, delimiter, problems, notes)
    _check_rows(path, raw, whole)
    return raw


def _read_table(path: Path, source, skip: int, names: list[str], delimiter: str, whole: bytes | None,
                threads: bool) -> tuple[pa.Table, list[RowProblem]]:
    """Arrow's parse of the file, and its ragged rows. With `threads` the blocks are parsed on
    every core (0.9 against 1.3 s for 1M residents), but a ragged row comes without its number:
    the caller reads such a file again on one thread."""
    problems: list[RowProblem] = []

    def on_invalid(row) -> str:
        number = (row.number - skip) if row.number is not None else -1
        problems.append(ragged_row(number, row))
        return "skip"

    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=threads, block_size=_CHUNK, skip_rows=skip, column_names=names),
            parse_options=parse_options(delimiter, on_invalid),
            convert_options=convert_options(names),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and whole is None:
            raise _NotUtf8() from None
        raise InputError(f"{path}: cannot be parsed as {describe_delimiter(delimiter)}-delimited text: {exc}") from None
    return table, problems


def layout(path: Path, head: bytes, complete: bool) -> tuple[str, list[str], int]:
    """(delimiter, header fields, rows before the data) from a UTF-8 head of the file; `complete`
    says whether the head is the whole file. Also used by the Spark engine's CSV ingest."""
    sample = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if not complete:
        sample = sample[: sample.rfind("\n") + 1] or sample
    preferred = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
    delimiter = sniff_delimiter(sample, complete, preferred)
    headers, blank_lines = _header(path, sample, delimiter)
    return delimiter, headers, blank_lines + 1


def parse_options(delimiter: str, on_invalid) -> pacsv.ParseOptions:
    """How every CSV row is split (here and on Spark's executors)."""
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid)


def convert_options(names: list[str]) -> pacsv.ConvertOptions:
    """Every column as text; an empty field is null."""
    return pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                strings_can_be_null=True, quoted_strings_can_be_null=True)


def ragged_row(number: int, row) -> RowProblem:
    """The quarantine problem of a row (Arrow's InvalidRow) whose field count is not the header's."""
    return RowProblem(number, f"ragged_row: {row.actual_columns} fields, the header has {row.expected_columns}", row.text)


def _header(path: Path, sample: str, delimiter: str) -> tuple[list[str], int]:
    """The header fields, and how many blank lines precede them."""
    blank = 0
    for record in csv.reader(io.StringIO(sample), delimiter=delimiter):
        if any(f.strip() for f in record):
            return [f.strip() for f in record], blank
        blank += 1
    raise InputError(f"{path}: file has no content (only blank lines)")


def _check_quotes_closed(path: Path, whole: bytes | None, delimiter: str) -> None:
    """An odd number of quote characters means a quoted field may run to the end of the file
    (a truncated copy). Confirm with a strict parse, which also tells where it opened."""
    count = whole.count(b'"') if whole is not None else _count_in_file(path, b'"')
    if count % 2 == 0:
        return
    text = (whole if whole is not None else path.read_bytes()).decode("utf-8", errors="replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    records, last_line = 0, 0
    try:
        for record in reader:
            if record:
                records += 1
            last_line = reader.line_num
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                f"{path}: file seems truncated: a quoted field that opens on line {last_line + 1} "
                f"(data row {records}) is never closed before the end of the file (or that quote "
                "character is stray)") from None


def _count_in_file(path: Path, needle: bytes) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            n += chunk.count(needle)
    return n


def _row_numbers(n_rows: int, problems: list[RowProblem], notes: list[str]) -> np.ndarray:
    """Data row numbers of the parsed rows: 1..N with the ragged rows' numbers taken out."""
    total = n_rows + len(problems)
    bad = np.array([p.row_number for p in problems], dtype=np.int64)
    keep = np.ones(total, dtype=bool)
    if ((bad >= 1) & (bad <= total)).all():
        keep[bad - 1] = False
    rows = np.arange(1, total + 1, dtype=np.int64)[keep]
    if len(rows) != n_rows:  # the reader could not number a ragged row: keep counts honest
        notes.append("row numbers of ragged rows unknown; accepted rows numbered in order")
        rows = np.arange(1, n_rows + 1, dtype=np.int64)
    return rows


def _check_rows(path: Path, raw: RawTable, whole: bytes | None) -> None:
    width = len(raw.headers)
    if raw.rows_read == 0:
        raise InputError(f"{path}: has a header row but no data rows")
    if raw.table.num_rows == 0:
        raise InputError(
            f"{path}: none of the {len(raw.problems)} data row(s) has the header's {width} field(s) when split on "
            f"{describe_delimiter(raw.delimiter)}: is the delimiter right? (first bad row: data row "
            f"{raw.problems[0].row_number})")
    last = raw.problems[-1] if raw.problems else None
    if last is not None and last.row_number == raw.rows_read and not _ends_with_newline(path, whole):
        note = cut_row_note(last, raw.delimiter, width)
        if note:
            raw.notes.append(note)


def cut_row_note(last: RowProblem, delimiter: str | None, width: int) -> str | None:
    """The note on a ragged last row with too few fields in a file with no final line end."""
    if last.raw.count(delimiter or ",") + 1 < width:
        return (f"the last row (data row {last.row_number}) is incomplete and has no line end: "
                "the file may be truncated")
    return None


def _ends_with_newline(path: Path, whole: bytes | None) -> bool:
    if whole is not None:
        return whole.endswith(b"\n")
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"
