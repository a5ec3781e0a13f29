"""Ingest on Spark (`--engine spark`): a Parquet source is read by Spark (`spark.read.parquet`, each
row with its place in the file) and validated in the executors, batch by batch, by the DuckDB
engine's own functions (linkage.ingest.pipeline.check_rows: parquet_reader's conversion to text,
the header mapping, validate and quarantine.build); ids repeated across batches are found with
Spark SQL (one window per key) and worded by validate.duplicate_reasons. The result is the files
`linkage.ingest.ingest` writes, equal to them: workspace tables, quarantine/, repairs/ and
ingest_summary.json.

A CSV source is read by Spark as text lines and split in the executors as csv_reader splits it
(linkage/backends/spark/ingest_csv.py), then checked the same way. A CSV file it cannot read
alike, and JSON Lines sources, are read on the driver by linkage.ingest (docs/spark.md). So is a
Parquet file Spark cannot read: the driver's reader then gives the same clear error as the DuckDB
engine.
"""

from __future__ import annotations

import shutil
from collections import Counter
from functools import partial
from pathlib import Path
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.ingest import quarantine
from linkage.ingest.contract import COLUMNS, KEY, ROW
from linkage.ingest.mapping import HeaderMatch, load_mappings, match_headers
from linkage.ingest.pipeline import SourceRead, _require_columns, check_rows, read_source_checked, write_ingest
from linkage.ingest.raw import RawTable, positional_names
from linkage.ingest.report import IngestReport, SourceReport
from linkage.ingest.sniff import CSV, PARQUET, check_readable, read_head
from linkage.ingest.repeated import quarantine_lines

KIND_ACCEPTED, KIND_QUARANTINE, KIND_REPAIR, KIND_NOTE = 0, 1, 2, 3
_Q = [f"q_{n}" for n in quarantine.SCHEMA.names]


def _schema(source: str) -> pa.Schema:
    """One output schema for everything a batch yields: accepted rows (contract columns and _row),
    quarantine and repair lines (q_*), and the reader's notes."""
    fields = [("_kind", pa.int8())] + [(c, pa.string()) for c in COLUMNS[source]] + [(ROW, pa.int64())]
    fields += [(f"q_{f.name}", f.type) for f in quarantine.SCHEMA] + [("_note", pa.string())]
    return pa.schema(fields)


def _raw_batch(batch: pa.RecordBatch, headers: list[str], path: str, notes: list[str]) -> RawTable:
    """A batch of Spark's rows as parquet_reader.read_parquet hands a file on: text columns and
    1-based row numbers (from the file's row index)."""
    from linkage.ingest.parquet_reader import _as_text

    cols = [_as_text(Path(path), h, pa.chunked_array([batch.column(i)]), notes) for i, h in enumerate(headers)]
    rows = np.asarray(batch.column(len(headers)).to_numpy(zero_copy_only=False), dtype=np.int64) + 1
    return RawTable(headers, pa.table(cols, names=positional_names(len(headers))), rows, PARQUET, encoding=None)


def _lines(kind: int, table: pa.Table, schema: pa.Schema) -> pa.Table:
    n = table.num_rows
    cols = {f.name: pa.nulls(n, f.type) for f in schema}
    cols["_kind"] = pa.array(np.full(n, kind, np.int8))
    for name in table.column_names:
        cols[f"q_{name}"] = table.column(name).combine_chunks()
    return pa.table(cols, schema=schema)


def check_batches(batches: Iterator[pa.RecordBatch], source: str, path: str, headers: list[str],
                  match: HeaderMatch, rules: str | None, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Executor side: each batch through check_rows (every check but repeated ids)."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        notes: list[str] = []
        raw = _raw_batch(batch, headers, path, notes)
        yield from check_raw(raw, notes, source, path, match, rules, schema)


def check_raw(raw: RawTable, notes: list[str], source: str, path: str, match: HeaderMatch, rules: str | None,
              schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """One batch's rows (as a reader hands them on) through check_rows -> accepted rows,
    quarantine and repair lines, the reader's notes (one schema, told apart by `_kind`)."""
    checked, q, repairs = check_rows(source, Path(path), raw, match, rules, duplicates=False)
    acc = {f.name: pa.nulls(checked.accepted.num_rows, f.type) for f in schema}
    acc["_kind"] = pa.array(np.zeros(checked.accepted.num_rows, np.int8))
    for c in checked.accepted.column_names:
        acc[c] = checked.accepted.column(c).combine_chunks()
    out = [pa.table(acc, schema=schema), _lines(KIND_QUARANTINE, q, schema), _lines(KIND_REPAIR, repairs, schema)]
    if notes:
        out.append(note_lines(KIND_NOTE, notes, schema))
    yield from pa.concat_tables(out).to_batches()


def note_lines(kind: int, notes: list[str], schema: pa.Schema) -> pa.Table:
    note = {f.name: pa.nulls(len(notes), f.type) for f in schema}
    note["_kind"] = pa.array(np.full(len(notes), kind, np.int8))
    note["_note"] = pa.array(notes, pa.string())
    return pa.table(note, schema=schema)


def duplicate_batches(batches: Iterator[pa.RecordBatch], source: str, path: str, headers: list[str],
                      match: HeaderMatch, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Executor side: the rows whose id repeats an earlier row's (with that row's number in the
    last column) -> their quarantine lines, built by quarantine.build as validate's finding is."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        raw = _raw_batch(batch, headers, path, [])
        first = batch.column(len(headers) + 1).to_numpy(zero_copy_only=False)
        yield from duplicate_lines(raw, first, source, path, match, schema)


def duplicate_lines(raw: RawTable, first: np.ndarray, source: str, path: str, match: HeaderMatch,
                    schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Rows repeating an earlier row's id (`first`: that row's number) -> quarantine lines."""
    yield from _lines(KIND_QUARANTINE, quarantine_lines(raw, first, source, path, match), schema).to_batches()


def _col(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_source(spark, path: Path, source: str, rules: Path | None, work: Path) -> SparkRead | None:
    """One Parquet source read and validated on Spark, or None when it is not a Parquet file Spark
    should read (the caller then reads it on the driver)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    check_readable(path)
    if not read_head(path, 4).startswith(b"PAR1"):
        return None
    try:
        meta = pq.ParquetFile(path)
        headers = [str(n) for n in meta.schema_arrow.names]
        if meta.metadata.num_rows == 0 or len(set(headers)) != len(headers):
            return None
    except Exception:  # noqa: BLE001 - truncated or corrupt: the driver's reader words the error
        return None
    mapping = load_mappings(rules)[source]
    match = match_headers(headers, mapping)
    _require_columns(path, RawTable(headers, pa.table({}), np.zeros(0, np.int64), PARQUET), match, mapping)
    schema = _schema(source)
    rules_s = str(rules) if rules else None
    df = spark.read.parquet(str(path)).select(*[F.col(_col(h)) for h in headers], F.col("_metadata.row_index").alias("_ri"))
    fn = partial(check_batches, source=source, path=str(path), headers=headers, match=match, rules=rules_s, schema=schema)
    out = work / f"ingest_{source}"
    try:
        df.mapInArrow(fn, from_arrow_schema(schema)).write.mode("overwrite").parquet(str(out))
    except Exception:  # noqa: BLE001 - an unreadable page: the driver's reader gives the clear error
        return None
    # ids repeated across batches (validate's duplicate check, which the batches skipped): the
    # first row of each id is kept, the others quarantined naming it
    dups = repeated_ids(spark, out, source).selectExpr(f"{ROW} - 1 AS _ri", "_first")
    dup_out = work / f"ingest_{source}_dups"
    dup_rows = (df.join(F.broadcast(dups), "_ri").select(*[F.col(_col(h)) for h in headers], "_ri", "_first"))
    fn = partial(duplicate_batches, source=source, path=str(path), headers=headers, match=match, schema=schema)
    dup_rows.mapInArrow(fn, from_arrow_schema(schema)).write.mode("overwrite").parquet(str(dup_out))
    return collect(out, dup_out, source, path, match, meta.metadata.num_rows)


def repeated_ids(spark, out: Path, source: str):
    """(_row, _first) of the accepted rows in the executors' lines at `out` whose id repeats an
    earlier row's (`_first`: the number of that id's first row, which is kept)."""
    key = KEY[source]
    accepted = spark.read.parquet(str(out)).filter("_kind = 0")
    return (accepted.selectExpr(key, ROW, f"min({ROW}) OVER (PARTITION BY {key}) AS _first")
            .filter(f"{ROW} > _first").select(ROW, "_first"))


def csv_check_batches(batches: Iterator[pa.RecordBatch], plan, offsets: dict[int, int], source: str,
                      rules: str | None, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Executor side of a CSV source: lines -> rows as csv_reader splits them -> check_raw; a
    batch that does not split one record per line yields a KIND_FALLBACK line instead."""
    from linkage.backends.spark.ingest_csv import KIND_FALLBACK, partial_raw

    for item in partial_raw(offsets, plan)(batches):
        if item is None:
            yield from note_lines(KIND_FALLBACK, ["lines that are not one record each"], schema).to_batches()
            continue
        yield from check_raw(item[0], [], source, str(plan.path), plan.match, rules, schema)


def csv_duplicate_batches(batches: Iterator[pa.RecordBatch], plan, offsets: dict[int, int], wanted: np.ndarray,
                          first: np.ndarray, source: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Executor side of a CSV source: the rows `wanted` (accepted rows repeating an earlier id;
    `first`: that row's number) -> their quarantine lines."""
    from linkage.backends.spark.ingest_csv import partial_raw

    for item in partial_raw(offsets, plan, wanted)(batches):
        if item is not None:  # the first pass split these lines, one record each
            raw, where = item
            yield from duplicate_lines(raw, first[where], source, str(plan.path), plan.match, schema)


def _spark_csv_source(spark, path: Path, source: str, rules: Path | None, work: Path) -> SparkRead | str | None:
    """A CSV source read and validated on Spark; a reason (str) when it must be read on the driver
    (docs/spark.md), None when it is not CSV (or the driver's reader must word its error)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from linkage.backends.spark import ingest_csv as ic

    plan = ic.plan(path, source, rules)
    if not isinstance(plan, ic.CsvPlan):
        return plan
    lines = ic.lines_frame(spark, path)
    offsets, total, why = ic.line_offsets(lines)
    if why or total <= 1:
        return why  # None: a header and no data row; the driver's reader says so
    schema = _schema(source)
    out, dup_out = work / f"ingest_{source}", work / f"ingest_{source}_dups"
    fn = partial(csv_check_batches, plan=plan, offsets=offsets, source=source,
                 rules=str(rules) if rules else None, schema=schema)
    lines.mapInArrow(fn, from_arrow_schema(schema)).write.mode("overwrite").parquet(str(out))
    if spark.read.parquet(str(out)).filter(f"_kind = {ic.KIND_FALLBACK}").limit(1).count():
        return "lines that do not split one record each (a quoted field spanning lines, or bytes that are not UTF-8)"
    dups = repeated_ids(spark, out, source).orderBy(ROW).toPandas()  # a few bytes per repeated id
    if len(dups):
        wanted = dups[ROW].to_numpy(np.int64)
        first = dups["_first"].to_numpy(np.int64)
        fn = partial(csv_duplicate_batches, plan=plan, offsets=offsets, wanted=wanted, first=first, source=source,
                     schema=schema)
        lines.mapInArrow(fn, from_arrow_schema(schema)).write.mode("overwrite").parquet(str(dup_out))
    got = collect(out, dup_out, source, path, plan.match, total - 1, CSV, plan.encoding, plan.delimiter)
    q = got.quarantine
    if q.column("column").null_count == total - 1:  # every row ragged
        return None  # no row has the header's width: the driver's reader gives the error
    last = ic.last_row_note(path, q, total - 1, plan.delimiter, len(plan.headers))
    got.report.notes = plan.notes + ([last] if last else []) + plan.match.notes
    return got


@dataclass
class SparkRead:
    """SourceRead of a source read on Spark: the accepted rows as a Parquet file in `_row` order
    (loaded into the workspace by DuckDB, never held by the driver's Python)."""

    accepted: Path
    quarantine: pa.Table
    repairs: pa.Table
    report: SourceReport


def collect(out: Path, dup_out: Path, source: str, path: Path, match: HeaderMatch, rows_read: int,
            fmt: str = PARQUET, encoding: str | None = None, delimiter: str | None = None) -> SparkRead:
    """The executors' lines -> accepted rows (a Parquet file), quarantine and repairs tables in
    the DuckDB engine's order, and the source's report."""
    import duckdb

    con = duckdb.connect()
    try:
        src = f"read_parquet('{out}/*.parquet')"
        dsrc = f"read_parquet('{dup_out}/*.parquet')"
        has_dups = any(dup_out.glob("*.parquet"))
        dup_rows = f"(SELECT q_row_number FROM {dsrc})" if has_dups else "(SELECT NULL::BIGINT AS q_row_number WHERE FALSE)"
        cols = ", ".join(COLUMNS[source])
        accepted = out.parent / f"accepted_{source}.parquet"
        con.execute(f"COPY (SELECT {cols}, {ROW} FROM {src} WHERE _kind = 0 AND {ROW} NOT IN {dup_rows} "
                    f"ORDER BY {ROW}) TO '{str(accepted).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
        n_accepted = pq.ParquetFile(accepted).metadata.num_rows
        qcols = ", ".join(f"{c} AS {c[2:]}" for c in _Q)
        parts = [f"SELECT {qcols} FROM {src} WHERE _kind = 1"] + ([f"SELECT {qcols} FROM {dsrc}"] if has_dups else [])
        q = con.sql(" UNION ALL ".join(parts)).to_arrow_table().cast(quarantine.SCHEMA)
        repairs = con.sql(f"SELECT {qcols} FROM {src} WHERE _kind = 2").to_arrow_table().cast(quarantine.SCHEMA)
        notes = [r[0] for r in con.execute(f"SELECT _note FROM {src} WHERE _kind = 3").fetchall()]
    finally:
        con.close()
    q = q.sort_by([("row_number", "ascending"), ("column", "ascending")]) if q.num_rows else q
    repairs = repairs.sort_by([("row_number", "ascending"), ("column", "ascending")]) if repairs.num_rows else repairs
    reasons = Counter(quarantine.reason_code(r) for r in q.column("reason").to_pylist())

    def count(code: str) -> dict[str, int]:
        c = Counter(col for col, r in zip(repairs.column("column").to_pylist(), repairs.column("reason").to_pylist())
                    if quarantine.reason_code(r) == code)
        return {k: v for k, v in sorted(c.items()) if v}

    report = SourceReport(
        source=source, path=str(path), format=fmt, encoding=encoding, delimiter=delimiter,
        rows_read=rows_read, rows_accepted=n_accepted,
        rows_quarantined=len(set(q.column("row_number").to_pylist())), reasons=dict(sorted(reasons.items())),
        mapped_columns=match.mapped, ignored_columns=match.ignored,
        missing_columns=[c for c in COLUMNS[source] if c not in match.columns],
        notes=list(dict.fromkeys(notes)) + match.notes,
        ids_repaired=count("id_repaired"), ids_emptied=count("id_emptied"),
    )
    return SparkRead(accepted, q, repairs, report)


def ingest_on_spark(spark, sources: dict[str, Path | str | None], out_dir: Path | str, rules: Path | None,
                    work: Path) -> IngestReport:
    """linkage.ingest.ingest with each Parquet source read and validated on Spark; writes the same
    files. Everything is read and checked before anything is written, as there."""
    given = {s: Path(p) for s, p in sources.items() if p is not None}
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, SourceRead | SparkRead] = {}
    try:
        for s, p in given.items():
            got = _spark_source(spark, p, s, rules, work) or _spark_csv_source(spark, p, s, rules, work)
            if got is None or isinstance(got, str):
                read = read_source_checked(p, s, rules)
                if got:
                    read.report.notes.append(f"read on the driver, not on Spark: {got}")
                got = read
            results[s] = got
        return write_ingest(results, Path(out_dir))
    finally:
        for s in given:
            for name in (f"ingest_{s}", f"ingest_{s}_dups"):
                shutil.rmtree(work / name, ignore_errors=True)
            (work / f"accepted_{s}.parquet").unlink(missing_ok=True)


def ingest_for_run(sources: dict[str, Path | str | None], out_dir: Path, rules: Path | None, settings,
                   master: str | None) -> IngestReport:
    """prepare_workspace's ingest with --engine spark (work folder `<out>/spark`)."""
    from linkage.backends.spark.session import get_session

    return ingest_on_spark(get_session(settings, master), sources, out_dir, rules, Path(out_dir) / "spark")
