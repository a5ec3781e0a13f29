"""`linkage clean`: the safe fixes of rules/quality.yaml (the enabled rules with safe_fix: true),
applied to a copy of a source file, with a change log. The input is never written to.

What a safe fix may do: undo legacy-encoding mojibake, replace look-alike and invisible
characters, compose to NFC, collapse spacing, move a tone mark to the traditional place, remove
separators from an id number, undo what a spreadsheet did to an id where that is certain (a trailing
".0", lost leading zeros that restore to a valid id: docs/ingest.md). None of them changes what a
value means: letters, vowel marks and tones stay the same (Hưng stays Hưng), and an id keeps its
digits. Ids a spreadsheet damaged beyond repair are left as they are, for the audit to report.
The fixes are the normalisers' own functions (see textscan.py), each applied once per distinct value.
A CSV copy keeps the input's UTF-8 BOM and line endings (CRLF from Excel), so an untouched file
comes out byte-identical.

The copy keeps every column of the file (also the ones the mapping does not load) under the
file's own headers, in the file's order; a value nothing applies to is written back unchanged.
Rows the reader could not split into columns (ragged CSV lines, broken JSON) cannot be copied:
they are counted and named by row number in the result (see `linkage ingest` for their text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.checks import CHECKS
from linkage.audit.rules import QualityRules, load_quality_rules
from linkage.audit.textscan import scan_text
from linkage.audit.values import distinct, regex_flags
from linkage.errors import InputError
from linkage.ingest.atomic import atomic_path, write_parquet
from linkage.ingest.contract import ID_WIDTHS, KEY, SOURCES
from linkage.ingest.mapping import load_mappings, match_headers
from linkage.ingest.raw import RawTable
from linkage.ingest.sniff import CSV
from linkage.normalize.ids import REPAIRED, repair_spreadsheet_ids
from linkage.normalize.legacy import UTF8_BOM

CHANGES_SCHEMA = pa.schema([
    ("record_id", pa.string()),
    ("row", pa.int64()),  # data row number in the source file
    ("field", pa.string()),  # canonical column
    ("header", pa.string()),  # the column's header in the file
    ("before", pa.string()),
    ("after", pa.string()),
    ("rule", pa.string()),  # the safe-fix rules that changed it, '+'-joined
])

_TEXT_FIXES = ("legacy_encoding", "not_nfc", "spacing", "confusable", "tone_style")
_ID_SEPARATED = "^[0-9][0-9 .\\-\\x{A0}]*[0-9]$"
_ID_SEPARATOR = "[ .\\-\\x{A0}]"
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv",
            ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class CleanResult:
    source: str
    input: Path
    output: Path
    changes: Path
    rows_written: int
    cells_changed: int
    by_rule: dict[str, int] = field(default_factory=dict)
    rows_not_copied: list[int] = field(default_factory=list)  # unreadable rows (by data row number)
    notes: list[str] = field(default_factory=list)  # how the file was read (e.g. "decoded from tcvn3")

    def render(self) -> str:
        lines = [f"{self.source}: {self.rows_written:,} rows copied to {self.output}; "
                 f"{self.cells_changed:,} values changed (log: {self.changes})"]
        lines += [f"  {rule:<24} {n:>10,}" for rule, n in sorted(self.by_rule.items())]
        lines += [f"  note: {n} (the copy is UTF-8)" if n.startswith("decoded from") else f"  note: {n}"
                  for n in self.notes]
        if self.rows_not_copied:
            shown = ", ".join(str(r) for r in self.rows_not_copied[:10])
            more = "" if len(self.rows_not_copied) <= 10 else f" and {len(self.rows_not_copied) - 10} more"
            lines.append(f"  not copied (could not be read into columns): rows {shown}{more}")
        return "\n".join(lines)


def changes_path(out_file: Path) -> Path:
    return out_file.with_name(out_file.stem + ".changes.parquet")


def _fix_plan(qrules: QualityRules, source: str) -> dict[str, dict[str, list[str]]]:
    """field -> {check -> [rule ids]} for the enabled safe fixes that apply to the source."""
    plan: dict[str, dict[str, list[str]]] = {}
    for r in qrules.for_source(source):
        if r.safe_fix and r.check in (*_TEXT_FIXES, "id_separators", "spreadsheet_id"):
            for f in r.fields_for(source):
                plan.setdefault(f, {}).setdefault(r.check, []).append(r.id)
    return plan


def clean(path: Path | str, source: str, out_file: Path | str, rules: Path | str | None = None) -> CleanResult:
    """Copy `path` to `out_file` with only the safe fixes applied; write the change log next to it
    (<out stem>.changes.parquet)."""
    if source not in SOURCES:
        raise InputError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
    path, out_file = Path(path), Path(out_file)
    fmt = _FORMATS.get(out_file.suffix.lower())
    if fmt is None:
        raise InputError(f"{out_file}: unknown output format; use .csv, .tsv, .parquet or .jsonl")
    if out_file.resolve() == path.resolve() or changes_path(out_file).resolve() == path.resolve():
        raise InputError(f"{out_file}: the output would overwrite the input; write the copy elsewhere")
    rules_path = Path(rules) if rules is not None else None
    qrules = load_quality_rules(rules_path, CHECKS)
    raw = _read_raw(path)
    match = match_headers(raw.headers, load_mappings(rules_path)[source])
    key_pos = match.columns.get(KEY[source])
    record_ids = (raw.table.column(key_pos).combine_chunks() if key_pos is not None
                  else pa.nulls(raw.table.num_rows, pa.string()))

    columns = list(raw.table.columns)
    logs: list[pa.Table] = []
    for fld, checks in _fix_plan(qrules, source).items():
        pos = match.columns.get(fld)
        if pos is None:
            continue
        new, log = _fix_column(raw.table.column(pos), checks, rules_path, ID_WIDTHS[source].get(fld, ()))
        if log is not None:
            columns[pos] = new
            idx = pa.array(log["rows"], pa.int64())
            logs.append(pa.table({
                "record_id": pc.utf8_trim_whitespace(record_ids.take(idx)),
                "row": pa.array(raw.rows[log["rows"]], pa.int64()),
                "field": pa.array([fld] * len(idx), pa.string()),
                "header": pa.array([raw.headers[pos]] * len(idx), pa.string()),
                "before": pa.array(log["before"], pa.string()),
                "after": pa.array(log["after"], pa.string()),
                "rule": pa.array(log["rule"], pa.string()),
            }, schema=CHANGES_SCHEMA))
    changes = pa.concat_tables(logs).sort_by([("row", "ascending"), ("field", "ascending")]) if logs \
        else CHANGES_SCHEMA.empty_table()
    out = pa.Table.from_arrays([c if isinstance(c, pa.ChunkedArray) else pa.chunked_array([c]) for c in columns],
                               names=raw.headers)
    _write(out, out_file, fmt, raw, path)
    write_parquet(changes, changes_path(out_file))
    by_rule: dict[str, int] = {}
    for r in changes.column("rule").to_pylist():
        for part in r.split("+"):
            by_rule[part] = by_rule.get(part, 0) + 1
    return CleanResult(source, path, out_file, changes_path(out_file), out.num_rows, changes.num_rows, by_rule,
                       sorted(p.row_number for p in raw.problems), list(raw.notes))


def _fix_column(col: pa.ChunkedArray, checks: dict[str, list[str]], rules: Path | None,
                id_widths: tuple[int, ...] = ()) -> tuple[pa.Array, dict | None]:
    """The column with the fixes applied, and the log (rows, before, after, rule) or None."""
    d = distinct(col, blank_is_missing=False)
    n = len(d.values)
    fixed = d.values.copy()
    rule_of = np.full(n, "", dtype=object)
    text = [c for c in _TEXT_FIXES if c in checks]
    if text and n:
        s = scan_text(d.values, tones="tone_style" in checks, rules=rules)
        for check, flags in (("legacy_encoding", s.legacy), ("confusable", s.confusable), ("not_nfc", s.not_nfc),
                             ("spacing", s.spacing), ("tone_style", s.tone)):
            if check in checks:
                rule_of[flags] = rule_of[flags] + "+" + "+".join(checks[check])
        # nfc_clean does confusables, NFC and spacing in one pass: applied when any of them is on
        nfc_on = any(c in checks for c in ("confusable", "not_nfc", "spacing"))
        if nfc_on and "legacy_encoding" in checks:
            fixed = s.fixed
        else:
            fixed = _partial(d.values, s, checks, nfc_on, rules)
    number = np.zeros(n, dtype=bool)  # written by a spreadsheet as a number: not a separator matter
    if id_widths and n:
        ss = repair_spreadsheet_ids(pd.Series(fixed, dtype=object), id_widths, rules)
        status = ss["status"].to_numpy(dtype=object, na_value=None)
        number = status != None  # noqa: E711
        if "spreadsheet_id" in checks:
            ok = np.flatnonzero(status == REPAIRED)
            fixed[ok] = ss["fixed"].to_numpy(dtype=object, na_value=None)[ok]
            rule_of[ok] = rule_of[ok] + "+" + "+".join(checks["spreadsheet_id"])
    if "id_separators" in checks and n:
        sep = regex_flags(fixed, _ID_SEPARATED) & regex_flags(fixed, _ID_SEPARATOR) & ~number
        stripped = pc.replace_substring_regex(pa.array(fixed, pa.string()), _ID_SEPARATOR, "")
        stripped = np.asarray(stripped.to_numpy(zero_copy_only=False), dtype=object)
        length = np.array([len(v) for v in stripped[sep]], dtype=np.int64)
        ok = np.flatnonzero(sep)[np.isin(length, (9, 12))]
        fixed[ok] = stripped[ok]
        rule_of[ok] = rule_of[ok] + "+" + "+".join(checks["id_separators"])
    changed = np.flatnonzero(fixed != d.values)
    if len(changed) == 0:
        return col.combine_chunks(), None
    rows = np.flatnonzero(np.isin(d.codes, changed))
    per_row_before = d.values[d.codes[rows]]
    per_row_after = fixed[d.codes[rows]]
    after_col = np.append(fixed, None)[d.codes]
    new = pa.array(after_col, pa.string())
    new = pc.if_else(pc.equal(new, ""), pa.scalar(None, pa.string()), new)  # an all-space value is empty
    return new, {"rows": rows, "before": per_row_before, "after": per_row_after,
                 "rule": np.array([r.lstrip("+") for r in rule_of[d.codes[rows]]], dtype=object)}


def _partial(values: np.ndarray, s, checks: dict, nfc_on: bool, rules: Path | None) -> np.ndarray:
    """The fixes when a steward turned some of them off: legacy repair and nfc_clean separately."""
    from linkage.normalize.legacy import repair_legacy_text
    from linkage.normalize.text import canonical_tones, nfc_clean

    out = values.copy()
    todo = np.flatnonzero(s.legacy | s.confusable | s.not_nfc | s.spacing | s.tone)
    for i in todo:
        v = values[i]
        if "legacy_encoding" in checks:
            v = repair_legacy_text(v)
        if nfc_on:
            v = nfc_clean(v, rules=rules)
        if "tone_style" in checks:
            v = canonical_tones(v, rules=rules)
        out[i] = v
    return out


def _read_raw(path: Path) -> RawTable:
    """The file as ingestion reads it (encoding and delimiter detected, every value as text)."""
    from linkage.ingest.pipeline import _read_raw as read_raw

    return read_raw(path)


def _text_marks(path: Path, raw: RawTable) -> tuple[bool, str]:
    """(write a UTF-8 BOM, line ending) as the input CSV has them, so a spreadsheet opens the copy
    like the original and an untouched file comes out byte-identical: a BOM when the input is
    UTF-8 with one, CRLF when its first line ends so (also in UTF-16). Other inputs: no BOM, LF."""
    if raw.format != CSV:
        return False, "\n"
    with path.open("rb") as f:
        head = f.read(1 << 16)
    nl = head.find(b"\n")
    before = head[max(nl - 2, 0):nl] if nl > 0 else b""
    crlf = before.endswith(b"\r") or before == b"\r\x00"  # UTF-8 and legacy; UTF-16 LE and BE
    return raw.encoding == UTF8_BOM, "\r\n" if crlf else "\n"


def _write(table: pa.Table, out_file: Path, fmt: str, raw: RawTable, source_file: Path) -> None:
    with atomic_path(out_file) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif fmt == "csv":
            delimiter = "\t" if out_file.suffix.lower() == ".tsv" else (
                raw.delimiter if raw.format == CSV and raw.delimiter else ",")
            bom, newline = _text_marks(source_file, raw)
            _write_csv(table, tmp, delimiter, newline=newline, bom=bom)
        else:
            con = duckdb.connect()
            try:
                con.register("copy_of", table)
                con.execute(f"COPY copy_of TO '{_sql_str(tmp)}' (FORMAT JSON)")
            finally:
                con.close()


def _quote(col: pa.Array, delimiter: str) -> pa.Array:
    """RFC 4180 minimal quoting: only values holding the delimiter, a quote or a line break."""
    col = pc.fill_null(col.cast(pa.large_string()), "")
    needs = pc.match_substring_regex(col, "[\"\r\n" + ("\\t" if delimiter == "\t" else _re_escape(delimiter)) + "]")
    q = pa.scalar('"', pa.large_string())
    quoted = pc.binary_join_element_wise(q, pc.replace_substring(col, '"', '""'), q, pa.scalar("", pa.large_string()))
    return pc.if_else(needs, quoted, col)


def _re_escape(ch: str) -> str:
    return "\\" + ch if not ch.isalnum() else ch


def _write_csv(table: pa.Table, target: Path, delimiter: str, batch: int = 200_000, *, newline: str = "\n",
               bom: bool = False) -> None:
    """UTF-8 (with a BOM if asked), header line, minimal quoting, `newline` line ends, written in
    slices (bounded memory)."""
    sep = pa.scalar(delimiter, pa.large_string())
    nl = pa.scalar(newline, pa.large_string())
    with target.open("wb") as f:
        header = pa.array(table.column_names, pa.string())
        f.write((b"\xef\xbb\xbf" if bom else b"")
                + (delimiter.join(_quote(header, delimiter).to_pylist()) + newline).encode("utf-8"))
        for start in range(0, table.num_rows, batch):
            part = table.slice(start, batch)
            cols = [_quote(c.combine_chunks(), delimiter) for c in part.columns]
            lines = pc.binary_join_element_wise(*cols, sep) if len(cols) > 1 else cols[0]
            lines = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()), nl)
            f.write(_concat(lines))


def _concat(lines: pa.Array) -> bytes:
    """The strings of a large_string array back to back, straight from its data buffer."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")
