"""Read a delimited text file: detect encoding and delimiter, keep every value as text, set
aside ragged rows, and refuse truncated files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from linkage.errors import InputError
from linkage.ingest.raw import RawStream, RawTable, RowProblem, empty_to_null, positional_names
from linkage.ingest.sniff import CSV, HEAD_BYTES, describe_delimiter, sniff_delimiter
from linkage.normalize.legacy import UTF8, UTF8_BOM, decode_bytes, guess_encoding

_CHUNK = 1 << 24
# Arrow's streaming reader reads up to 32 blocks ahead of the one parsed: with small blocks that
# is 128 MB of the file, not a gigabyte. Its batches are handed on in groups of BATCH_ROWS rows,
# enough to keep each check's and each workspace insert's fixed cost small.
BLOCK_BYTES = 1 << 22
BATCH_ROWS = 131072


def read_csv(path: Path, head: bytes) -> RawStream:
    """Fast path: a UTF-8 file goes straight to Arrow's reader, batch by batch. Anything else is
    decoded in Python first (whole file), then parsed the same way. A non-UTF-8 byte after the
    sniffed head raises NotUtf8 from the batches: the caller starts again with `read_decoded`."""
    encoding, _ = guess_encoding(head)
    if encoding in (UTF8, UTF8_BOM):
        return _stream(path, head, lambda: path, encoding, [], complete=path.stat().st_size <= len(head))
    return read_decoded(path)


class NotUtf8(Exception):
    """A byte that is not UTF-8 after the sniffed head of a file read as UTF-8."""


def read_decoded(path: Path) -> RawStream:
    """The whole file decoded from its guessed encoding, then parsed as UTF-8 text."""
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
    return _stream(path, utf8[:HEAD_BYTES], lambda: io.BytesIO(utf8), encoding, notes,
                   complete=len(utf8) <= HEAD_BYTES, whole=utf8)


def _stream(path: Path, head: bytes, source, encoding: str, notes: list[str], complete: bool,
            whole: bytes | None = None) -> RawStream:
    delimiter, headers, skip = layout(path, head, complete)
    _check_quotes_closed(path, whole, delimiter)
    names = positional_names(len(headers))

    def batches() -> Iterator[RawTable]:
        problems: list[RowProblem] = []  # the stream's once the pass is whole (a second pass may stop early)

        def on_invalid(row) -> str:
            problems.append(ragged_row((row.number - skip) if row.number is not None else -1, row))
            return "skip"

        reader = _open(path, source(), skip, names, delimiter, on_invalid, whole)
        parsed, start, seen = 0, 1, 0
        for group in _groups(reader, path, delimiter, whole):
            n = sum(b.num_rows for b in group)
            seen = _first_at_or_after(problems, start, seen)
            rows = number_rows(start, n, [p.row_number for p in problems[seen:]])
            start = int(rows[-1]) + 1
            parsed += n
            table = pa.Table.from_batches(group)
            table = pa.table([empty_to_null(c) for c in table.columns], names=names)
            yield RawTable(headers, table, rows, CSV, encoding, delimiter)
        stream.problems[:] = problems
        for note in _check_rows(path, len(headers), delimiter, parsed, problems, whole):
            if note not in stream.notes:
                stream.notes.append(note)

    stream = RawStream(headers, batches, CSV, encoding, delimiter, [], notes)
    return stream


def _groups(reader, path: Path, delimiter: str, whole: bytes | None) -> Iterator[list[pa.RecordBatch]]:
    """The reader's batches, BATCH_ROWS rows or more at a time (the last group may hold fewer)."""
    group: list[pa.RecordBatch] = []
    rows = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _parse_error(path, exc, delimiter, whole) from None
        if batch.num_rows:
            group.append(batch)
            rows += batch.num_rows
        if rows >= BATCH_ROWS:
            yield group
            group, rows = [], 0
    if group:
        yield group


def _open(path: Path, source, skip: int, names: list[str], delimiter: str, on_invalid, whole: bytes | None):
    """Arrow's streaming reader on one thread: only then does a ragged row come with its number."""
    try:
        return pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, skip_rows=skip,
                                           column_names=names),
            parse_options=parse_options(delimiter, on_invalid),
            convert_options=convert_options(names),
        )
    except pa.ArrowInvalid as exc:
        raise _parse_error(path, exc, delimiter, whole) from None


def _parse_error(path: Path, exc: pa.ArrowInvalid, delimiter: str, whole: bytes | None) -> Exception:
    if "UTF8" in str(exc) and whole is None:
        return NotUtf8()
    return InputError(f"{path}: cannot be parsed as {describe_delimiter(delimiter)}-delimited text: {exc}")


def _first_at_or_after(problems: list[RowProblem], start: int, i: int) -> int:
    """Index of the first ragged row numbered `start` or later (problems come in file order)."""
    while i < len(problems) and 0 <= problems[i].row_number < start:
        i += 1
    return i


def number_rows(start: int, n: int, ragged: list[int]) -> np.ndarray:
    """Data row numbers of `n` parsed rows whose first is at `start` or later: the numbers from
    `start` on that are not ragged rows' (`ragged`: their numbers from `start` on, ascending)."""
    bad = np.array([r for r in ragged if r >= start], dtype=np.int64)
    end = start + n
    while True:
        taken = int(np.count_nonzero(bad < end))
        if end - start - taken >= n:
            break
        end = start + n + taken
    numbers = np.arange(start, end, dtype=np.int64)
    return numbers[~np.isin(numbers, bad)][:n]


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


def _check_rows(path: Path, width: int, delimiter: str, parsed: int, problems: list[RowProblem],
               whole: bytes | None) -> list[str]:
    """The whole file's checks once its last batch is read -> notes."""
    rows_read = parsed + len(problems)
    if rows_read == 0:
        raise InputError(f"{path}: has a header row but no data rows")
    if parsed == 0:
        raise InputError(
            f"{path}: none of the {len(problems)} data row(s) has the header's {width} field(s) when split on "
            f"{describe_delimiter(delimiter)}: is the delimiter right? (first bad row: data row "
            f"{problems[0].row_number})")
    notes = []
    if any(not 1 <= p.row_number <= rows_read for p in problems):  # the reader could not number a ragged row
        notes.append("row numbers of some ragged rows unknown: the rows after them may be numbered off by one")
    last = problems[-1] if problems else None
    if last is not None and last.row_number == rows_read and not _ends_with_newline(path, whole):
        note = cut_row_note(last, delimiter, width)
        if note:
            notes.append(note)
    return notes


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
