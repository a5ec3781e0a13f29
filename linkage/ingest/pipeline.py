"""Ingestion: read each source, map its columns, validate its rows, and write the workspace,
the quarantine and a summary. Everything is read and checked before anything is written."""

from __future__ import annotations

import shutil
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from linkage.errors import InputError
from linkage.ingest import quarantine
from linkage.ingest.atomic import write_json, write_parquet
from linkage.ingest.contract import COLUMNS, KEY, REQUIRED, check_source
from linkage.ingest.csv_reader import NotUtf8, read_csv, read_decoded
from linkage.ingest.jsonl_reader import read_jsonl
from linkage.ingest.mapping import HeaderMatch, SourceMapping, load_mappings, match_headers
from linkage.ingest.parquet_reader import read_parquet
from linkage.ingest.raw import RawStream, RawTable
from linkage.ingest.report import IngestReport, SourceReport
from linkage.ingest.sniff import (CSV, DELIMITERS, JSONL, PARQUET, binary_kind, check_readable, detect_format,
                                  read_head)
from linkage.ingest.validate import Finding, Validated, canonical_table, validate
from linkage.ingest.repeated import drop_rows, repeated_quarantine, repeated_rows
from linkage.ingest.workspace import WORKSPACE, Tables, open_tables, write_tables
from linkage.rules import load_yaml, rules_dir
from linkage.settings import MATCHING_FILE

READERS = {CSV: read_csv, PARQUET: read_parquet, JSONL: lambda path, head: RawStream.whole(read_jsonl(path, head))}
T = TypeVar("T")
SUMMARY = "ingest_summary.json"


@dataclass
class SourceRead:
    """One file read and checked: the rows kept, the rows rejected, the values changed in kept rows
    (ids a spreadsheet damaged: repaired, or emptied when beyond repair) and the report."""

    accepted: pa.Table | None  # None once handed to the workspace
    quarantine: pa.Table
    repairs: pa.Table  # quarantine's schema; reason "id_repaired: ..." or "id_emptied: ..."
    report: SourceReport


def read_source(path: Path | str, source: str, rules: Path | str | None = None
                ) -> tuple[pa.Table, pa.Table, SourceReport]:
    """(accepted rows as contract columns + `_row`, quarantine table, report) for one file."""
    r = read_source_checked(path, source, rules)
    return r.accepted, r.quarantine, r.report


def read_source_checked(path: Path | str, source: str, rules: Path | str | None = None) -> SourceRead:
    """read_source, plus the table of values repaired or emptied in the rows it kept."""
    check_source(source)
    mapping = load_mappings(rules)[source]
    path = Path(path)
    raw = _read_raw(path)
    match = match_headers(raw.headers, mapping)
    _require_columns(path, raw, match, mapping)
    checked, q, repairs = check_rows(source, path, raw, match, rules)
    report = _report(source, path, raw, match, raw.table.num_rows, checked.accepted.num_rows,
                     len(checked.bad_positions()), q, checked.repairs)
    return SourceRead(checked.accepted, q, repairs, report)


def ingest_source(path: Path, source: str, rules: Path | str | None, tables: Tables,
                  writer: ThreadPoolExecutor) -> SourceRead:
    """One source into the workspace batch by batch, so memory holds a batch and not the file.
    A batch's rows are written in `writer`'s thread (DuckDB releases the GIL) while the next is
    read and checked; ids repeated across batches are found in the written table at the end
    (repeated.py) and their rows taken out and quarantined, as read_source_checked does in memory."""
    check_source(source)
    mapping = load_mappings(rules)[source]
    path = Path(path)

    def consume(stream: RawStream) -> SourceRead:
        match = match_headers(stream.headers, mapping)
        _require_columns(path, stream, match, mapping)
        qs, repairs, repair_findings = [], [], []
        parsed = accepted = bad = 0
        writing: Future | None = None
        try:
            for raw in stream.batches():
                checked, q, rep = check_rows(source, path, raw, match, rules, duplicates=False)
                parsed += raw.table.num_rows
                accepted += checked.accepted.num_rows
                bad += len(checked.bad_positions())
                qs.append(q)
                repairs.append(rep)
                repair_findings += checked.repairs
                del raw, q, rep
                put = tables.put if writing is None else tables.append
                if writing is not None:
                    writing.result()
                writing = writer.submit(put, source, checked.accepted)
                del checked
        finally:
            if writing is not None:
                wait([writing])  # even when reading failed: a restart must not race the last write
        if writing is not None:
            writing.result()
        rows, first = repeated_rows(tables.con, source, KEY[source])
        if len(rows):
            drop_rows(tables.con, source, rows)
            qs += repeated_quarantine(stream.batches(), rows, first, source, str(path), match)
        qs.insert(0, quarantine.build(source, str(path), _problems_only(stream), []))
        q = _sorted(pa.concat_tables(qs))
        report = _report(source, path, stream, match, parsed, accepted - len(rows), bad + len(rows), q,
                         repair_findings)
        return SourceRead(None, q, _sorted(pa.concat_tables([quarantine.empty(), *repairs])), report)

    return each_stream(path, consume)


def _problems_only(stream: RawStream) -> RawTable:
    """The stream's rows that were never parsed, as quarantine.build takes them."""
    return RawTable(stream.headers, pa.table({}), np.zeros(0, np.int64), stream.format, problems=stream.problems)


def _sorted(lines: pa.Table) -> pa.Table:
    """Quarantine or repair lines by row, as quarantine.build orders one table of them."""
    return lines.sort_by([("row_number", "ascending"), ("column", "ascending")]) if lines.num_rows else lines


def _report(source: str, path: Path, raw: RawTable | RawStream, match: HeaderMatch, parsed: int, accepted: int,
            rejected: int, q: pa.Table, repairs: list[Finding]) -> SourceReport:
    reasons = Counter(quarantine.reason_code(r) for r in q.column("reason").to_pylist())
    return SourceReport(
        source=source, path=str(path), format=raw.format, encoding=raw.encoding, delimiter=raw.delimiter,
        rows_read=parsed + len(raw.problems), rows_accepted=accepted,
        rows_quarantined=rejected + len(raw.problems), reasons=dict(sorted(reasons.items())),
        mapped_columns=match.mapped, ignored_columns=match.ignored,
        missing_columns=[c for c in COLUMNS[source] if c not in match.columns],
        notes=raw.notes + match.notes,
        ids_repaired=_count(repairs, "id_repaired"), ids_emptied=_count(repairs, "id_emptied"),
    )


def check_rows(source: str, path: Path, raw: RawTable, match: HeaderMatch, rules: Path | str | None,
               duplicates: bool = True) -> tuple[Validated, pa.Table, pa.Table]:
    """Validate the rows of `raw` (a whole file, or one batch of it on a Spark executor with
    `duplicates` False): (validated, quarantine table, repairs table)."""
    columns = {c: raw.table.column(pos) for c, pos in match.columns.items()}
    checked = validate(source, canonical_table(source, columns, raw.table.num_rows), raw.rows, rules, duplicates)
    q = quarantine.build(source, str(path), raw, checked.findings)
    repairs = quarantine.build(source, str(path), replace(raw, problems=[]), checked.repairs)
    return checked, q, repairs


def _count(findings: list[Finding], code: str) -> dict[str, int]:
    """column -> values whose reason starts with `code`."""
    out: Counter[str] = Counter()
    for f in findings:
        reasons = f.reasons if isinstance(f.reasons, list) else [f.reasons] * len(f.positions)
        out[f.column] += sum(quarantine.reason_code(r) == code for r in reasons)
    return {k: v for k, v in sorted(out.items()) if v}


def _read_raw(path: Path) -> RawTable:
    """The whole file at once (for callers that need every row together)."""
    return each_stream(path, RawStream.collect)


def each_stream(path: Path, consume: Callable[[RawStream], T]) -> T:
    """consume(the file read batch by batch). A UTF-8 file with a byte that is not UTF-8 after its
    sniffed head is consumed again from the start, decoded whole: `consume` must start afresh."""
    try:
        return consume(open_raw(path))
    except NotUtf8:
        return consume(read_decoded(path))


def open_raw(path: Path) -> RawStream:
    check_readable(path)
    head = read_head(path)
    if not head.startswith(b"PAR1"):
        kind = binary_kind(head)
        if kind:
            raise InputError(f"{path}: this is {kind}, not a CSV, Parquet or JSON Lines file")
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(f"{path}: file has no content (only blank lines)")
    fmt, note = detect_format(path, head, _peek_text(head))
    stream = READERS[fmt](path, head)
    if note:
        stream.notes.insert(0, note)
    return stream


def _peek_text(head: bytes) -> str:
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:200].decode(enc, errors="ignore")
    return head[:200].decode("latin-1")


def _require_columns(path: Path, raw: RawTable | RawStream, match: HeaderMatch, mapping: SourceMapping) -> None:
    for column in REQUIRED[mapping.source]:
        if column in match.columns:
            continue
        found = ", ".join(repr(h) for h in raw.headers) or "none"
        accepted = ", ".join([column, *mapping.accepted.get(column, ())])
        msg = (f"{path}: required column '{column}' not found for source '{mapping.source}'. "
               f"Headers found: {found}. Accepted for {column}: {accepted}")
        if raw.format == CSV and len(raw.headers) == 1:
            msg += (f". The header was read as a single column: the file may use a delimiter other than "
                    f"{', '.join(repr(d) for d in DELIMITERS)}")
        raise InputError(msg)


def ingest(sources: Mapping[str, Path | str | None], out_dir: Path | str, rules: Path | str | None = None
           ) -> IngestReport:
    """Read every given source, then write `<out>/workspace.duckdb`, `<out>/quarantine/<source>.parquet`
    and `<out>/ingest_summary.json`. A bad file stops the run before anything is written."""
    given = {s: Path(p) for s, p in sources.items() if p is not None}
    for s in given:
        check_source(s)
    if not given:
        raise InputError("no source given: pass at least one of wanted, residents, id_cards")
    out = Path(out_dir)
    results: dict[str, SourceRead] = {}
    # Each source's rows go into the (temporary) workspace batch by batch (ingest_source). The
    # workspace replaces the old one only once every source was read, and the quarantine and
    # summary are written after: a bad file still leaves nothing written.
    created = _missing_root(out)
    try:
        engine = _engine(rules)
        with open_tables(out / WORKSPACE, engine.get("memory_limit"), engine.get("workspace_compression")) as tables, \
                ThreadPoolExecutor(max_workers=1) as writer:
            for source, path in given.items():
                results[source] = ingest_source(path, source, rules, tables, writer)
    except BaseException:
        if created is not None and not any(p.is_file() for p in created.rglob("*")):
            shutil.rmtree(created, ignore_errors=True)  # the folders made for the temporary workspace
        raise
    return write_ingest(results, out, workspace_written=True)


def _engine(rules: Path | str | None) -> dict:
    """The rules' engine settings (memory_limit, workspace_compression), for the workspace's DuckDB
    while the sources go in (none when the rules folder has no matching.yaml: `linkage ingest`
    needs only the column mappings)."""
    if not (rules_dir(rules) / MATCHING_FILE).is_file():
        return {}
    return load_yaml(MATCHING_FILE, rules).get("engine") or {}


def _missing_root(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None if `path` exists)."""
    missing = None
    for p in [path, *path.parents]:
        if p.exists():
            break
        missing = p
    return missing


def write_ingest(results: Mapping[str, Any], out: Path, workspace_written: bool = False) -> IngestReport:
    """The files ingest writes, from what was read (a SourceRead, or the Spark engine's read whose
    accepted rows are a Parquet file): quarantine, repairs, the workspace (unless the caller
    wrote it already) and the summary."""
    report = IngestReport(out_dir=out, workspace=out / WORKSPACE, summary=out / SUMMARY)
    for source, r in results.items():
        target = out / "quarantine" / f"{source}.parquet"
        write_parquet(r.quarantine, target)
        report.quarantine[source] = target
        report.sources[source] = r.report
        report.repairs[source] = out / "repairs" / f"{source}.parquet"
        write_parquet(r.repairs, report.repairs[source])
    if not workspace_written:
        write_tables(report.workspace, {s: r.accepted for s, r in results.items()})
    write_json(report.to_dict(), report.summary)
    return report
