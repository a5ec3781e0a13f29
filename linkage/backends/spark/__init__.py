"""The Spark engine (`--engine spark`): the same rules, kernels and model as the DuckDB engine,
on Apache Spark (local mode or a cluster). docs/spark.md says what runs where and why.

Split of the work: a Parquet source is validated in the executors (ingest.py; CSV and JSON Lines
on the driver), and the wanted list's normalisation stays on the driver in DuckDB, as in the
DuckDB engine (the wanted list is small). The register's
normalisation, the blocking keys and filters, and the comparisons run in the executors through
mapInArrow, calling the DuckDB engine's own functions on each Arrow batch (executor.py); key
frequencies, the key joins, the pair union and numbering, person numbering and term frequencies
are Spark SQL. The candidate pairs' levels are collected to the driver, where the same numpy
code merges them per person, trains, scores, ranks and writes matches.parquet: one row of
n_comparisons bytes per candidate pair, small next to the register (docs/spark.md, sizing).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from linkage.backends.spark import executor
from linkage.backends.spark.blocking import _r_columns, block_on_spark, finish_counts
from linkage.backends.spark.normalise import export_raw, normalise_register, term_frequencies
from linkage.backends.spark.session import get_session, spark_settings
from linkage.compare import Gammas, _merge_records, pair_query
from linkage.prepare import uses_place_text

ENGINES = ("duckdb", "spark")


@dataclass
class SparkBackend:
    """What the later stages need of the Spark side: the session, its work folder (the
    register and the pairs as Parquet) and the wanted records shipped to the executors."""

    spark: Any
    work: Path
    token: str
    w_broadcast: Any
    batch_rows: int
    broadcast_pairs: int = 2_000_000

    def compare_pairs(self, ctx) -> Gammas:
        """compare.compare on Spark: one row per (pair, register record) into the executors,
        levels back to the driver, merged per person by compare._merge_records."""
        with ctx.stage("compare") as bar:
            gammas, rows = compare_on_spark(self.spark, self.work / "reg", self.work / "pairs", ctx.settings, self.token,
                                            self.w_broadcast, self.batch_rows, self.broadcast_pairs,
                                            int(ctx.counts.get("candidate_pairs", 0)))
            bar.advance(rows)
            ctx.counts["compared_records"] = rows
        return gammas


def compare_on_spark(spark, reg_path: Path, pairs_path: Path, settings, token: str, w_broadcast, batch_rows: int,
                     broadcast_pairs: int, n_pairs: int) -> tuple[Gammas, int]:
    """The levels of the pairs in `pairs_path` (pair_idx, w_idx, person_idx; Parquet) against the
    register records in `reg_path`: one row per (pair, register record) into the executors
    (compare_batches), merged per person on the driver. Returns the levels and the rows compared.
    Used by `run` and by the nightly job."""
    names = tuple(c.name for c in settings.comparisons)
    reg = spark.read.parquet(str(reg_path))
    pairs = spark.read.parquet(str(pairs_path)).select("pair_idx", "w_idx", "person_idx")
    sql, compiled, _ = pair_query(settings, "p")
    rcols = [c for c in _r_columns(sql, reg.columns) if c not in ("person_idx", "r_idx")]
    records = reg.select("person_idx", "r_idx", *rcols)
    # Few pairs (the usual case: top candidates of a wanted list) go to every executor, so the
    # wide register rows are read where they lie instead of being shuffled for the join.
    if n_pairs <= broadcast_pairs:
        from pyspark.sql import functions as F

        rows = records.join(F.broadcast(pairs), "person_idx")
    else:
        rows = pairs.join(records, "person_idx")
    schema = pa.schema([("pair_idx", pa.int64())] + [(f"g{i}", pa.int8()) for i in range(len(compiled))])
    spark_schema = "pair_idx LONG" + "".join(f", g{i} BYTE" for i in range(len(compiled)))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
    fn = partial(executor.compare_batches, settings=settings, token=token, broadcast=w_broadcast, schema=schema)
    got = rows.mapInArrow(fn, spark_schema).toArrow()
    if got.num_rows == 0:
        return Gammas(np.zeros(0, np.int64), np.zeros((0, len(compiled)), np.int8), names), 0
    levels = np.column_stack([got.column(f"g{i}").to_numpy() for i in range(len(compiled))]).astype(np.int8)
    pair_idx, merged = _merge_records(got.column("pair_idx").to_numpy(), levels)
    return Gammas(pair_idx, merged, names), int(got.num_rows)


def _tf_wanted_values(con, settings) -> pa.Table:
    """(col, value) of every term-frequency column the wanted records hold."""
    cols = sorted({col for c in settings.comparisons for col in c.tf.values()})
    if not cols:
        return pa.table({"col": pa.array([], pa.string()), "value": pa.array([], pa.string())})
    sql = " UNION ".join(f"SELECT '{c}' AS col, CAST({c} AS VARCHAR) AS value FROM w WHERE {c} IS NOT NULL" for c in cols)
    return con.sql(sql).to_arrow_table()


def prepare_on_spark(ctx, given: list[str], blocking_rules: list[str] | None, master: str | None) -> None:
    """pipeline.prepare_workspace's normalise, prepare and block stages on Spark. Leaves in the
    driver's DuckDB what the later stages read: `w` (table), `reg` (a view of the register's
    Parquet), `tf` (the wanted values' frequencies) and `pairs` (table), as the DuckDB engine does."""
    from linkage.pipeline import _normalise

    settings = ctx.settings
    conf = spark_settings(settings)
    spark = get_session(settings, master)
    con = ctx.con
    work = ctx.out_dir / "spark"
    work.mkdir(parents=True, exist_ok=True)
    chunk = int(settings.engine.get("normalise_chunk_rows", 200_000))
    batch_rows = int(conf["batch_rows"])
    place_text = uses_place_text(
        [r.left + r.right + (r.filter or "") for r in settings.blocking] + [str(c.params) for c in settings.comparisons]
    )
    registers = [s for s in given if s != "wanted"]
    rows = sum(con.execute(f'SELECT count(*) FROM "{s}"').fetchall()[0][0] for s in registers)
    n_wanted = con.execute('SELECT count(*) FROM "wanted"').fetchall()[0][0]
    with ctx.stage("normalise", total=rows + n_wanted) as bar:
        _normalise(ctx, ["wanted"], bar)  # the wanted list on the driver, as the DuckDB engine does
        batch = max(1, min(chunk, batch_rows))
        parts = max(spark.sparkContext.defaultParallelism, math.ceil(rows / batch))
        raw = export_raw(con, registers, work, batch)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
        normalise_register(spark, raw, ctx.rules, place_text, parts).write.mode("overwrite").parquet(str(work / "reg"))
        bar.advance(rows)
    with ctx.stage("prepare"):
        con.execute(f"CREATE OR REPLACE TEMP VIEW reg AS SELECT * FROM read_parquet('{work / 'reg'}/*.parquet')")
        reg = spark.read.parquet(str(work / "reg"))
        tf = term_frequencies(spark, reg, _tf_wanted_values(con, settings))
        con.register("_tf", tf)
        con.execute("CREATE OR REPLACE TABLE tf AS SELECT col, value, tf FROM _tf")
        con.unregister("_tf")
        n_r, n_p = con.execute("SELECT count(*), count(DISTINCT person_idx) FROM reg").fetchall()[0]
        ctx.counts["tables"] = {"wanted": int(n_wanted), "register_records": int(n_r), "persons": int(n_p)}
    w_table = con.sql("SELECT * FROM w").to_arrow_table()
    token = uuid.uuid4().hex
    w_broadcast = spark.sparkContext.broadcast(executor.table_to_ipc(w_table))
    with ctx.stage("block", total=len(settings.blocking)) as bar:
        pairs, counts, per_rule, cached = block_on_spark(spark, con, reg, settings, blocking_rules, token, w_broadcast)
        pairs.write.mode("overwrite").parquet(str(work / "pairs"))
        for df in cached:
            df.unpersist()
        con.execute(f"CREATE OR REPLACE TEMP TABLE pairs AS SELECT * FROM read_parquet('{work / 'pairs'}/*.parquet') "
                    "ORDER BY pair_idx")
        new = dict(con.execute("SELECT first_rule, count(*) FROM pairs GROUP BY first_rule").fetchall())
        finish_counts(counts, [r.name for r in settings.blocking], per_rule, new)
        bar.advance(len(settings.blocking))
        ctx.rule_counts = counts
        ctx.counts["blocking"] = [rc.__dict__ for rc in counts]
        ctx.counts["candidate_pairs"] = counts[-1].cumulative if counts else 0
    ctx.counts["engine"] = {"name": "spark", "master": spark.sparkContext.master,
                            "default_parallelism": spark.sparkContext.defaultParallelism}
    ctx.backend = SparkBackend(spark, work, token, w_broadcast, batch_rows, int(conf["broadcast_pairs"]))
