"""Blocking on Spark: the rules of rules/matching.yaml, compiled from the same rule objects.

Keys come from block.rule_keys_sql (the wanted side in the driver's DuckDB, the register side in
the executors over Arrow batches, executor.key_batches), so a key expression is written once, in
the rules. The relational work is Spark SQL: key frequencies and the pair budget, hot keys, the
key joins, the union of the rules' pairs with their bitmask, and the pair numbering. A rule's
filter runs through block._rule_pairs_sql in the executors (executor.filter_batches)."""

from __future__ import annotations

import re
from functools import partial

import duckdb
import pyarrow as pa

from linkage.backends.spark import executor
from linkage.block import RuleCount, check_budget, rule_keys_sql
from linkage.errors import RulesError
from linkage.settings import BlockingRule, Settings


def _r_columns(text: str, available: list[str]) -> list[str]:
    """Register columns a rule text names as r.<column>."""
    named = set(re.findall(r"\br\.([A-Za-z_][A-Za-z0-9_]*)", text))
    return [c for c in available if c in named]


def wanted_keys(con: duckdb.DuckDBPyConnection, chosen: list[tuple[int, BlockingRule]]) -> pa.Table:
    """(bit, w_idx, k) of every chosen rule, from the driver's `w`."""
    parts = []
    for bit, rule in chosen:
        try:
            parts.append(con.sql(f"SELECT {bit}::INTEGER AS bit, w_idx, CAST(k AS VARCHAR) AS k "
                                 f"FROM ({rule_keys_sql(con, rule, 'l', 'w')})").to_arrow_table())
        except duckdb.Error as exc:
            raise RulesError(f"blocking rule '{rule.name}': invalid key expression: {exc}") from None
    return pa.concat_tables(parts)


def _check_register_keys(con: duckdb.DuckDBPyConnection, chosen: list[tuple[int, BlockingRule]]) -> None:
    """A register key expression that DuckDB cannot run fails here with the rule named, not in
    an executor's traceback: it is tried on `reg` with no rows."""
    for _, rule in chosen:
        try:
            con.execute(f"SELECT * FROM ({rule_keys_sql(con, rule, 'r', '(SELECT * FROM reg LIMIT 0)')}) LIMIT 0")
        except duckdb.Error as exc:
            raise RulesError(f"blocking rule '{rule.name}': invalid key expression: {exc}") from None


def block_on_spark(spark, con: duckdb.DuckDBPyConnection, reg, settings: Settings, rules: list[str] | None,
                   w_token: str, w_broadcast):
    """Returns (pairs DataFrame: pair_idx, w_idx, person_idx, rules, first_rule; counts per rule),
    as block.block makes table `pairs`; BudgetError before any key join over the budget."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    names = [r.name for r in settings.blocking]
    chosen = [(names.index(r.name), r) for r in settings.blocking if rules is None or r.name in rules]
    _check_register_keys(con, chosen)
    wk = wanted_keys(con, chosen)
    kl = spark.createDataFrame(wk).persist()
    con.register("_wk", wk)
    distinct_keys = con.sql("SELECT DISTINCT bit, k FROM _wk").to_arrow_table()
    con.unregister("_wk")
    keys_broadcast = spark.sparkContext.broadcast(executor.table_to_ipc(distinct_keys))
    text = " ".join(r.right for _, r in chosen)
    key_cols = list(dict.fromkeys(["r_idx", "birth_year", *_r_columns(text, reg.columns)]))
    fn = partial(executor.key_batches, rules=chosen, token=w_token, broadcast=keys_broadcast)
    kr = reg.select(*key_cols).mapInArrow(fn, "bit INT, r_idx LONG, k STRING").persist()

    # Key frequencies: pairs per rule before its filter, and the hottest keys (as block.count_rule).
    cl = kl.groupBy("bit", "k").agg(F.count("*").alias("nl"))
    cr = kr.groupBy("bit", "k").agg(F.count("*").alias("nr"))
    per_key = cl.join(cr, ["bit", "k"]).withColumn("pairs", F.col("nl") * F.col("nr")).persist()
    totals = {r["bit"]: int(r["total"]) for r in per_key.groupBy("bit").agg(F.sum("pairs").alias("total")).collect()}
    ranked = per_key.withColumn("rn", F.row_number().over(
        Window.partitionBy("bit").orderBy(F.col("pairs").desc(), F.col("k"))))
    hot: dict[int, list[tuple[str, int]]] = {}
    for r in ranked.filter(F.col("rn") <= int(settings.hot_keys)).orderBy("bit", "rn").collect():
        hot.setdefault(r["bit"], []).append((r["k"], int(r["pairs"])))
    per_key.unpersist()
    counts = []
    for bit, rule in chosen:
        count = RuleCount(rule.name, rule.description, totals.get(bit, 0), hot.get(bit, []))
        check_budget(count, settings)
        counts.append(count)

    # The key joins, then each rule's filter; one row per (wanted, person, rule).
    joined = kl.join(kr, ["bit", "k"]).select("bit", "w_idx", "r_idx")
    plain = [bit for bit, r in chosen if not r.filter]
    filtered = {bit: r for bit, r in chosen if r.filter}
    found = (joined.filter(F.col("bit").isin(plain)).join(reg.select("r_idx", "person_idx"), "r_idx")
             .select("w_idx", "person_idx", "bit"))
    if filtered:
        fcols = list(dict.fromkeys(["r_idx", "person_idx",
                                    *_r_columns(" ".join(r.filter for r in filtered.values()), reg.columns)]))
        rows = joined.filter(F.col("bit").isin(list(filtered))).join(reg.select(*fcols), "r_idx")
        fn = partial(executor.filter_batches, rules=filtered, token=w_token, broadcast=w_broadcast)
        found = found.unionByName(rows.mapInArrow(fn, "w_idx LONG, person_idx LONG, bit INT"))
    found = found.distinct().persist()
    pairs = (found.groupBy("w_idx", "person_idx")
             .agg(F.expr("bit_or(shiftleft(CAST(1 AS BIGINT), bit))").alias("rules"), F.min("bit").alias("first_rule"))
             .withColumn("pair_idx", (F.row_number().over(Window.orderBy("w_idx", "person_idx")) - 1).cast("long"))
             .select("pair_idx", "w_idx", "person_idx", "rules", "first_rule"))
    per_rule = {r["bit"]: int(r["count"]) for r in found.groupBy("bit").count().collect()}
    return pairs, counts, per_rule, (kl, kr, found)


def finish_counts(counts: list[RuleCount], names: list[str], per_rule: dict[int, int], new: dict[int, int]) -> None:
    """pairs, new and cumulative per rule, in the settings' order (as block.block fills them)."""
    cumulative = 0
    for count in counts:
        bit = names.index(count.rule)
        count.pairs = int(per_rule.get(bit, 0))
        count.new_pairs = int(new.get(bit, 0))
        cumulative += count.new_pairs
        count.cumulative = cumulative
