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
    """Each register's accepted rows to Parquet with `_r_idx` and `_person_idx`: records numbered
    in the DuckDB engine's order (residents first, each source in `_row` order) and persons in
    person_id order (prepare.finish_register's numbering; the id is the register's uid column as
    ingested, which normalisation passes through), so both engines give every record and person
    the same number. Done here because the driver holds the ingested rows already; a sort of the
    distinct ids is cheap in DuckDB (Spark would need a one-partition window for it)."""
    from linkage.prepare import REGISTER_UID

    ids = " UNION ".join(f'SELECT DISTINCT CAST("{REGISTER_UID[s]}" AS VARCHAR) AS uid FROM "{s}"' for s in sources)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _persons AS SELECT uid, row_number() OVER (ORDER BY uid) - 1 AS person_idx "
                f"FROM ({ids})")
    out: dict[str, Path] = {}
    offset = 0
    for source in sources:
        path = work / f"raw_{source}.parquet"
        con.execute(
            f"""COPY (SELECT s.*, row_number() OVER (ORDER BY s._row) - 1 + {offset} AS _r_idx, p.person_idx AS _person_idx
                      FROM "{source}" s JOIN _persons p ON p.uid = CAST(s."{REGISTER_UID[source]}" AS VARCHAR)
                      ORDER BY s._row)
                TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE {int(rows_per_group)})"""
        )
        offset += con.execute(f'SELECT count(*) FROM "{source}"').fetchall()[0][0]
        out[source] = path
    con.execute("DROP TABLE _persons")
    return out


def _output_schema(raw_path: Path, source: str, rules: Path | None, place_text: bool) -> pa.Schema:
    """The prepared table's Arrow schema, from running the same step on a few rows here."""
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(raw_path).iter_batches(batch_size=50))
    return pa.Table.from_batches(list(executor.normalise_batches(iter([batch]), source, str(rules) if rules else None,
                                                                 place_text, None))).schema


def normalise_register(spark, raw: dict[str, Path], rules: Path | None, place_text: bool, partitions: int):
    """The prepared register records of all sources as one DataFrame: `reg` as the DuckDB engine
    builds it (r_idx first, person_idx last)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    frames = []
    schema = None
    for source, path in raw.items():
        schema = schema or _output_schema(path, source, rules, place_text)
        fn = partial(executor.normalise_batches, source=source, rules=str(rules) if rules else None,
                     place_text=place_text, schema=schema)
        df = spark.read.parquet(str(path)).repartition(partitions)
        frames.append(df.mapInArrow(fn, from_arrow_schema(schema)))
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


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
