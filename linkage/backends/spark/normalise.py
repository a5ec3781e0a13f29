"""The register on Spark: raw rows (ingested and validated on the driver, as the DuckDB engine
does) -> Parquet -> mapInArrow through the same normalisation -> persons numbered in person_id
order -> `reg` as a Parquet dataset; term frequencies as Spark aggregates."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage.backends.spark import executor


def export_raw(con: duckdb.DuckDBPyConnection, sources: list[str], work: Path, rows_per_group: int) -> dict[str, Path]:
    """Each register's accepted rows to Parquet with `_r_idx`: records numbered in the DuckDB
    engine's order (residents first, each source in `_row` order), so the same record gets the
    same number on both engines."""
    out: dict[str, Path] = {}
    offset = 0
    for source in sources:
        path = work / f"raw_{source}.parquet"
        con.execute(
            f"""COPY (SELECT *, row_number() OVER (ORDER BY _row) - 1 + {offset} AS _r_idx FROM "{source}" ORDER BY _row)
                TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE {int(rows_per_group)})"""
        )
        offset += con.execute(f'SELECT count(*) FROM "{source}"').fetchall()[0][0]
        out[source] = path
    return out


def _output_schema(raw_path: Path, source: str, rules: Path | None, place_text: bool) -> pa.Schema:
    """The prepared table's Arrow schema, from running the same step on a few rows here."""
    import pyarrow.parquet as pq

    head = pq.ParquetFile(raw_path).iter_batches(batch_size=50)
    batch = next(head)
    con = executor.connection()
    from linkage.pipeline import prepare_chunk
    from linkage.prepare import derived_sql

    raw = pa.Table.from_batches([batch])
    prepared = prepare_chunk(raw.drop_columns(["_r_idx"]), source, rules).add_column(0, "r_idx", raw.column("_r_idx"))
    con.register("_prepared", prepared)
    try:
        return con.sql(derived_sql(place_text).replace("{source}", "_prepared")).to_arrow_table().schema
    finally:
        con.unregister("_prepared")


def normalise_register(spark, raw: dict[str, Path], rules: Path | None, place_text: bool, partitions: int):
    """The prepared register records of all sources as one DataFrame (r_idx, ..., no person_idx)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    frames = []
    schema = None
    for source, path in raw.items():
        arrow_schema = schema or _output_schema(path, source, rules, place_text)
        schema = arrow_schema
        fn = partial(executor.normalise_batches, source=source, rules=str(rules) if rules else None,
                     place_text=place_text, schema=arrow_schema)
        df = spark.read.parquet(str(path)).repartition(partitions)
        frames.append(df.mapInArrow(fn, from_arrow_schema(arrow_schema)))
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def number_persons(prepared):
    """person_idx in person_id (uid) order, as prepare.finish_register numbers them. A window over
    the distinct ids: one sorted partition of ids (100M ids sort in one task; see docs/spark.md)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    persons = prepared.select("uid").distinct().withColumn(
        "person_idx", (F.row_number().over(Window.orderBy("uid")) - 1).cast("long"))
    return prepared.join(persons, "uid").select(*prepared.columns, "person_idx")


def term_frequencies(spark, reg, w_values: pa.Table) -> pa.Table:
    """prepare.build_tf as Spark aggregates (share of persons holding each value), kept only for
    the values the wanted records hold (all the scorer looks up): (col, value, tf)."""
    from pyspark.sql import functions as F

    cols = sorted(set(w_values.column("col").to_pylist()))
    if not cols:
        return pa.table({"col": pa.array([], pa.string()), "value": pa.array([], pa.string()),
                         "tf": pa.array([], pa.float64())})
    reg.createOrReplaceTempView("_reg_tf")
    selects = [
        f"""SELECT '{col}' AS col, value, count(*) / sum(count(*)) OVER () AS tf
            FROM (SELECT DISTINCT person_idx, CAST({col} AS STRING) AS value FROM _reg_tf WHERE {col} IS NOT NULL)
            GROUP BY value"""
        for col in cols
    ]
    tf = spark.sql(" UNION ALL ".join(selects))
    wanted = spark.createDataFrame(w_values)
    got = tf.join(F.broadcast(wanted), ["col", "value"], "left_semi")
    return got.toArrow()
