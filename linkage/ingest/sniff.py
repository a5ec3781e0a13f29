"""Look at a file's first bytes: which format it really is, whether it is binary, which
delimiter a CSV uses. Extensions lie (an Excel workbook renamed .csv), contents do not."""

from __future__ import annotations

import csv
import io
from itertools import islice
from pathlib import Path

from linkage.errors import InputError

CSV, PARQUET, JSONL = "csv", "parquet", "jsonl"
FORMAT_BY_EXTENSION = {
    ".csv": CSV, ".tsv": CSV, ".txt": CSV, ".tab": CSV,
    ".parquet": PARQUET, ".pq": PARQUET,
    ".jsonl": JSONL, ".ndjson": JSONL, ".json": JSONL,
}
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEAD_BYTES = 1 << 20

# (magic bytes at offset 0, what it is, what to do)
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ""),
    (b"\xff\xd8\xff", "a JPEG image", ""),
    (b"GIF8", "a GIF image", ""),
    (b"%PDF", "a PDF document", ""),
    (b"PK\x03\x04", "a ZIP archive", " (an Excel .xlsx workbook is one: save it as CSV UTF-8)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.xls/.doc)", " (save it as CSV UTF-8)"),
    (b"\x7fELF", "an ELF executable", ""),
    (b"\x1f\x8b", "gzip-compressed data", " (decompress it first)"),
    (b"BZh", "bzip2-compressed data", " (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data", " (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", ""),
    (b"Rar!\x1a\x07", "a RAR archive", ""),
    (b"SQLite format 3\x00", "an SQLite database", ""),
)


def binary_kind(head: bytes) -> str | None:
    """A description of the binary format `head` starts with, or None if it may be text.

    UTF-16 text has NUL bytes too, so only NULs in text that is not UTF-16 count as binary."""
    for magic, what, hint in _SIGNATURES:
        if head.startswith(magic):
            return what + hint
    if len(head) >= 12 and head[8:12] == b"DUCK":
        return "a DuckDB database"
    if head[:2] == b"MZ" and b"\x00" in head[:64]:
        return "a Windows executable"
    if b"\x00" in head and not _looks_utf16(head):
        return "binary data (it contains NUL bytes)"
    return None


def _looks_utf16(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = head[:4096]
    half = max(len(sample) // 2, 1)
    even, odd = sample[0::2].count(0) / half, sample[1::2].count(0) / half
    return (odd > 0.3 and even < 0.05) or (even > 0.3 and odd < 0.05)


def detect_format(path: Path, head: bytes, text_head: str) -> tuple[str, str | None]:
    """(format, note). The content decides; the note says when it disagrees with the extension."""
    by_ext = FORMAT_BY_EXTENSION.get(path.suffix.lower())
    if head.startswith(b"PAR1"):
        by_content = PARQUET
    elif text_head.lstrip("\ufeff \t\r\n").startswith("{") or by_ext == JSONL:
        by_content = JSONL  # a .jsonl file of arrays or scalars is still JSON: say so per line
    else:
        by_content = CSV
    if by_ext is None:
        return by_content, f"unknown extension {path.suffix!r}: content read as {by_content}"
    if by_ext != by_content:
        return by_content, f"extension {path.suffix!r} suggests {by_ext} but the content is {by_content}; read as {by_content}"
    return by_content, None


def sniff_delimiter(sample: str, complete: bool, preferred: str | None = None) -> str:
    """The delimiter among , ; tab | that splits the header into the most columns and the
    following rows into the same number. `complete` says whether the sample is the whole file
    (else its last record may be cut and is not counted)."""
    best, best_score = preferred or ",", (False, 0.0, 0, 0)
    for delim in DELIMITERS:
        try:
            records = [r for r in islice(csv.reader(io.StringIO(sample), delimiter=delim), 60) if r]
        except csv.Error:
            continue
        if not complete and len(records) > 2:
            records = records[:-1]
        if not records:
            continue
        width = len(records[0])
        rest = records[1:]
        consistent = sum(len(r) == width for r in rest) / len(rest) if rest else 1.0
        score = (width > 1, consistent, width, delim == preferred)
        if score > best_score:
            best, best_score = delim, score
    return best


def describe_delimiter(delim: str | None) -> str:
    return DELIMITER_NAMES.get(delim or "", repr(delim))


def check_readable(path: Path) -> None:
    """A clear message for paths that cannot be a data file at all."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with path.open("rb") as f:
        return f.read(size)
