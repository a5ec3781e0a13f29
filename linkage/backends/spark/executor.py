"""What the Spark executors run on each Arrow batch (mapInArrow): the DuckDB engine's own
functions and SQL (normalisation, key expressions, blocking filters, comparison levels and the
rapidfuzz kernels), with DuckDB in-process over the batch. The same code on both engines is what
gives exact parity; nothing here knows a rule or a comparison by name."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from linkage.backends.arrow_sql import duckdb_query

_STATE: dict[str, Any] = {}


def connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per Python worker; one thread, as Spark gives each task one core."""
    if "con" not in _STATE:
        con = duckdb.connect()
        con.execute("SET threads = 1")
        con.execute("SET preserve_insertion_order = true")
        _STATE["con"] = con
    return _STATE["con"]


def table_from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch, w: pa.Table) -> Iterator[pa.Table]:
    """The batch as `_b` (with `_j`, each row's own number, standing for its register record) and
    the wanted records as `w`, for the duration of one batch's SQL."""
    b = pa.Table.from_batches([batch])
    b = b.append_column("_j", pa.array(np.arange(b.num_rows, dtype=np.int64)))
    con.register("_b", b)
    con.register("w", w)
    try:
        yield b
    finally:
        con.unregister("_b")
        con.unregister("w")


def wanted_table(token: str, broadcast) -> pa.Table:
    """The prepared wanted records (`w`), shipped once per job as a broadcast, kept per worker."""
    key = f"w:{token}"
    if key not in _STATE:
        _STATE[key] = table_from_ipc(broadcast.value)
    return _STATE[key]


def _out(table: pa.Table, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    if table.num_rows:
        yield from table.select(schema.names).cast(schema).to_batches()


def normalise_batches(batches: Iterator[pa.RecordBatch], source: str, rules: str | None, place_text: bool,
                      schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    """Raw register rows -> the `reg` vocabulary: prepare_chunk (normalize_table + prepared_arrow)
    then derived_sql, as pipeline._normalise and prepare.load_register do; r_idx and person_idx
    come with the rows (numbered on the driver in the DuckDB engine's order). `schema` None: as
    DuckDB gives it (the driver reads the schema so)."""
    from pathlib import Path

    from linkage.pipeline import prepare_chunk
    from linkage.prepare import derived_sql

    con = connection()
    sql = derived_sql(place_text).replace("{source}", "_prepared")
    for batch in batches:
        if batch.num_rows == 0:
            continue
        raw = pa.Table.from_batches([batch])
        r_idx, person_idx = raw.column("_r_idx"), raw.column("_person_idx")
        prepared = prepare_chunk(raw.drop_columns(["_r_idx", "_person_idx"]), source, Path(rules) if rules else None)
        prepared = prepared.add_column(0, "r_idx", r_idx)
        got = duckdb_query(sql, {"_prepared": prepared}, con).append_column("person_idx", person_idx)
        yield from (got.to_batches() if schema is None else _out(got, schema))


def key_batches(batches: Iterator[pa.RecordBatch], rules: list[tuple[int, Any]], token: str,
                broadcast) -> Iterator[pa.RecordBatch]:
    """Register records -> (bit, r_idx, k): each rule's keys by block.rule_keys_sql, the SQL the
    DuckDB engine runs (lists unnested, empty keys dropped, the birth-year window in the key).
    Only keys some wanted record holds (`broadcast`: the wanted side's distinct (bit, k)) leave
    the executor: the others join nothing, so neither the pairs nor the counts change. With
    `broadcast` None every key leaves (a nightly workspace stores them all)."""
    from linkage.block import rule_keys_sql

    con = connection()
    key = f"wk:{token}"
    if broadcast is not None and key not in _STATE:
        _STATE[key] = table_from_ipc(broadcast.value)
    wanted_keys = _STATE[key] if broadcast is not None else None
    semi = " SEMI JOIN _wk USING (bit, k)" if wanted_keys is not None else ""
    schema = pa.schema([("bit", pa.int32()), ("r_idx", pa.int64()), ("k", pa.string())])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        con.register("_b", pa.Table.from_batches([batch]))
        if wanted_keys is not None:
            con.register("_wk", wanted_keys)
        try:
            parts = [con.sql(f"SELECT * FROM (SELECT {bit}::INTEGER AS bit, r_idx, CAST(k AS VARCHAR) AS k "
                             f"FROM ({rule_keys_sql(con, rule, 'r', '_b')})){semi}").to_arrow_table()
                     for bit, rule in rules]
        finally:
            con.unregister("_b")
            if wanted_keys is not None:
                con.unregister("_wk")
        yield from _out(pa.concat_tables(parts), schema)


def filter_batches(batches: Iterator[pa.RecordBatch], rules: dict[int, Any], token: str, broadcast) -> Iterator[pa.RecordBatch]:
    """Key-join rows (bit, w_idx, r_idx, person_idx, the register columns the filters name) ->
    the (w_idx, person_idx, bit) that pass the rule's filter, by block._rule_pairs_sql. Each row
    stands for its own register record (`_j`), so no record is joined twice."""
    from linkage.block import _rule_pairs_sql

    con = connection()
    w = wanted_table(token, broadcast)
    schema = pa.schema([("w_idx", pa.int64()), ("person_idx", pa.int64()), ("bit", pa.int32())])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        with _registered(con, batch, w) as b:
            con.execute("CREATE OR REPLACE TEMP VIEW _rt AS SELECT * EXCLUDE (r_idx, bit, w_idx), _j AS r_idx FROM _b")
            parts = []
            for bit in sorted(set(b.column("bit").to_pylist())):
                joined = f"SELECT w_idx, _j AS r_idx FROM _b WHERE bit = {int(bit)}"
                sql = _rule_pairs_sql(rules[bit], joined, "w", "_rt")
                parts.append(con.sql(f"SELECT w_idx, person_idx, {int(bit)}::INTEGER AS bit FROM ({sql})").to_arrow_table())
        if parts:
            yield from _out(pa.concat_tables(parts), schema)


def compare_batches(batches: Iterator[pa.RecordBatch], settings: Any, token: str, broadcast,
                    schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Rows (pair_idx, w_idx, person_idx, r_idx, register columns) -> (pair_idx, g0..gN): the SQL
    levels of compare.pair_query and the fuzzy bands of compare._apply_fuzzy. Each row is one
    (pair, register record); the person-level merge (best level over records) follows on the driver."""
    from linkage.compare import _apply_fuzzy, pair_query

    con = connection()
    w = wanted_table(token, broadcast)
    sql, compiled, fcols = pair_query(settings, "(SELECT pair_idx, w_idx, _j AS person_idx FROM _b)")
    for batch in batches:
        if batch.num_rows == 0:
            continue
        with _registered(con, batch, w):
            con.execute("CREATE OR REPLACE TEMP VIEW reg AS SELECT * EXCLUDE (person_idx, pair_idx, w_idx), "
                        "_j AS person_idx FROM _b")
            got = con.sql(sql).to_arrow_table().combine_chunks()
        if got.num_rows == 0:
            continue
        rb = got.to_batches()[0] if got.num_rows else None
        levels = np.column_stack([rb.column(f"g{i}").to_numpy(zero_copy_only=False) for i in range(len(compiled))])
        levels = levels.astype(np.int8)
        _apply_fuzzy(rb, levels, compiled, fcols)
        cols = {"pair_idx": rb.column("pair_idx")}
        for i in range(len(compiled)):
            cols[f"g{i}"] = pa.array(levels[:, i], type=pa.int8())
        yield from _out(pa.table(cols), schema)
