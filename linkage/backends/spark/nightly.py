"""The nightly job's heavy work on Spark (`linkage nightly --engine spark`): the night's new and
changed register records normalised in the executors (the first night: the whole register), the
register side of blocking (the night's register records against the whole wanted list; every
record against every wanted record on a first night or a rebuild) and the comparisons, through
the same functions the Spark `run` uses (normalise_register, block_on_spark, compare_on_spark).

The workspace stays the DuckDB file on the driver: what Spark computes is read back into the same
temp tables the DuckDB engine fills (`prep_reg`, the pairs table, the levels), so every stored
table, the model and the outputs are the DuckDB engine's. Data moves through Parquet in a work
folder inside the workspace (on a cluster: a file system every node mounts at the same path).
What stays on the driver: the wanted list's normalisation (small), the stored blocking keys and
term-frequency counts, a night's few new wanted records against the stored register keys (a
lookup), scoring and writing (docs/spark.md)."""

from __future__ import annotations

import math
import shutil
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from linkage.backends.spark import compare_on_spark, executor
from linkage.backends.spark.blocking import _r_columns, block_on_spark, finish_counts
from linkage.backends.spark.normalise import normalise_register
from linkage.backends.spark.session import get_session, spark_settings
from linkage.block import RuleCount, block
from linkage.compare import Gammas
from linkage.ingest.contract import COLUMNS, KEY
from linkage.settings import Settings

WORK = ".spark"  # the night's work folder inside the workspace, removed when the night ends


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class SparkNight:
    """The Spark side of one night; `linkage.workspace.nightly` calls normalise, block and
    compare where the DuckDB engine calls prepare_chunk, block.block and compare.compare."""

    def __init__(self, settings: Settings, rules: Path | None, master: str | None, workspace: Path) -> None:
        self.settings, self.rules = settings, rules
        self.conf = spark_settings(settings)
        self.spark = get_session(settings, master)
        self.work = Path(workspace) / WORK
        shutil.rmtree(self.work, ignore_errors=True)  # a killed night's leftovers
        self.work.mkdir(parents=True)
        self.batch_rows = int(self.conf["batch_rows"])
        self._w: tuple[str, Any] | None = None
        self._keys_done = False

    def describe(self) -> dict[str, Any]:
        sc = self.spark.sparkContext
        return {"name": "spark", "master": sc.master, "default_parallelism": sc.defaultParallelism}

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # -- normalisation ---------------------------------------------------------------------------

    def normalise(self, con: duckdb.DuckDBPyConnection, todo: dict[str, str], place_text: bool, bar) -> dict[str, int]:
        """Temp table `prep_reg` from each register's rows to prepare tonight (`todo`: source ->
        SQL of its contract rows): normalised in the executors by normalise_register, the Spark
        run's function (records numbered here in the DuckDB engine's order, read back in it)."""
        raw: dict[str, Path] = {}
        done: dict[str, int] = {}
        batch = max(1, min(int(self.settings.engine.get("normalise_chunk_rows", 200_000)), self.batch_rows))
        offset = 0
        for source, sql in todo.items():
            rows = con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
            if not rows:
                continue
            path = self.work / f"raw_{source}.parquet"
            cols = ", ".join(COLUMNS[source])
            # _r_idx: the row's place in tonight's order (the order the DuckDB engine appends in);
            # no person numbers yet (the workspace gives them when the records are stored).
            con.execute(f"""COPY (SELECT {cols}, row_number() OVER (ORDER BY {KEY[source]}) - 1 + {offset} AS _r_idx, 0::BIGINT AS _person_idx
                                  FROM ({sql})) TO {_q(path)} (FORMAT parquet, ROW_GROUP_SIZE {batch})""")
            raw[source], done[source] = path, int(rows)
            offset += rows
        if not raw:
            return done
        self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch))
        parts = max(self.spark.sparkContext.defaultParallelism, math.ceil(offset / batch))
        out = self.work / "prep_reg"
        normalise_register(self.spark, raw, self.rules, place_text, parts).write.mode("overwrite").parquet(str(out))
        con.execute("DROP TABLE IF EXISTS prep_reg")
        con.execute(f"""CREATE TEMP TABLE prep_reg AS SELECT * EXCLUDE (r_idx, person_idx)
                        FROM read_parquet({_q(out / '*.parquet')}) ORDER BY r_idx""")
        bar.advance(offset)
        return done

    # -- blocking and comparison -----------------------------------------------------------------

    def _wanted(self, con: duckdb.DuckDBPyConnection) -> tuple[str, Any]:
        """The workspace's prepared wanted records, shipped once per night to the executors."""
        if self._w is None:
            token = uuid.uuid4().hex
            self._w = token, self.spark.sparkContext.broadcast(executor.table_to_ipc(con.sql("SELECT * FROM w").to_arrow_table()))
        return self._w

    def _export(self, con: duckdb.DuckDBPyConnection, sql: str, name: str):
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        con.execute(f"COPY ({sql}) TO {_q(path / 'part-0.parquet')} (FORMAT parquet, ROW_GROUP_SIZE {self.batch_rows})")
        return self.spark.read.parquet(str(path))

    def register_keys(self, con: duckdb.DuckDBPyConnection, rules: list, bit: int, table: str) -> None:
        """Stored table `table`: rule `bit`'s keys of every register record (block.rule_keys_sql's
        rows and types), computed in the executors by key_batches for all rules at the first call
        (a first night or a rules rebuild)."""
        from linkage.block import rule_keys_sql

        out = self.work / "reg_keys"
        # each rule's key columns and types as DuckDB gives them (an invalid key expression fails
        # here, in DuckDB, named by the caller, not in an executor)
        types = [{c: t for c, t, *_ in con.execute(
            f"DESCRIBE SELECT * FROM ({rule_keys_sql(con, r, 'r', '(SELECT * FROM reg LIMIT 0)')})").fetchall()}
            for r in rules]
        if not self._keys_done:
            text = " ".join(r.right for r in rules)
            names = {c for c, *_ in con.execute("DESCRIBE reg").fetchall()}
            cols = list(dict.fromkeys(["r_idx", "birth_year", *[c for c in _r_columns(text, sorted(names))]]))
            reg = self._export(con, f"SELECT {', '.join(cols)} FROM reg", "keys_reg_in")
            fn = partial(executor.key_batches, rules=list(enumerate(rules)), token=uuid.uuid4().hex, broadcast=None)
            self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(self.batch_rows))
            reg.mapInArrow(fn, "bit INT, r_idx LONG, k STRING").write.mode("overwrite").parquet(str(out))
            self._keys_done = True
        t = types[bit]
        con.execute(f"""CREATE TABLE {table} AS SELECT CAST(r_idx AS {t['r_idx']}) AS r_idx, CAST(k AS {t['k']}) AS k
                        FROM read_parquet({_q(out / '*.parquet')}) WHERE bit = {int(bit)}""")

    def block(self, con: duckdb.DuckDBPyConnection, settings: Settings, left: str = "w", right: str = "reg",
              into: str = "pairs", left_keys: str | None = None, right_keys: str | None = None) -> list[RuleCount]:
        """block.block's result (table `into`, the counts per rule) with the register side keyed,
        counted, joined and filtered on Spark: the whole wanted list against `right`'s records
        (all of `reg`, or a night's changed persons). A night's few changed wanted records
        against the stored register keys (`left` other than `w`) stay a DuckDB lookup."""
        if left != "w":
            return block(con, settings, left=left, right=right, into=into, left_keys=left_keys, right_keys=right_keys)
        where = "" if right == "reg" else f" WHERE r_idx IN (SELECT r_idx FROM {right})"
        reg = self._export(con, f"SELECT * FROM reg{where}", "block_reg")
        token, w_broadcast = self._wanted(con)
        pairs, counts, per_rule, cached = block_on_spark(self.spark, con, reg, settings, None, token, w_broadcast)
        out = self.work / "pairs"
        pairs.write.mode("overwrite").parquet(str(out))
        for df in cached:
            df.unpersist()
        con.execute(f"DROP TABLE IF EXISTS {into}")
        con.execute(f"CREATE TEMP TABLE {into} AS SELECT * FROM read_parquet({_q(out / '*.parquet')}) ORDER BY pair_idx")
        new = dict(con.execute(f"SELECT first_rule, count(*) FROM {into} GROUP BY first_rule").fetchall())
        finish_counts(counts, [r.name for r in settings.blocking], per_rule, new)
        return counts

    def compare(self, con: duckdb.DuckDBPyConnection, settings: Settings, source: str = "pairs") -> Gammas:
        """compare.compare's levels for the pairs of `source`, computed in the executors from the
        register records of the persons those pairs name (exported from the workspace)."""
        n_pairs = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
        self._export(con, f"SELECT pair_idx, w_idx, person_idx FROM {source}", "cmp_pairs")
        self._export(con, f"SELECT * FROM reg WHERE person_idx IN (SELECT person_idx FROM {source})", "cmp_reg")
        token, w_broadcast = self._wanted(con)
        gammas, _ = compare_on_spark(self.spark, self.work / "cmp_reg", self.work / "cmp_pairs", settings, token,
                                     w_broadcast, self.batch_rows, int(self.conf["broadcast_pairs"]), int(n_pairs))
        return gammas
