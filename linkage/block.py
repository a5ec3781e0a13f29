"""Blocking: candidate (wanted, person) pairs from the union of the rules' equi-joins in DuckDB.

Each rule names a key expression per side (a value or a list of values) and an optional filter.
Pairs are counted from key frequencies before any join, so an oversized rule is caught (with its
hottest key named) before it costs anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import duckdb

from linkage.errors import BudgetError, RulesError
from linkage.settings import BlockingRule, Settings


@dataclass
class RuleCount:
    rule: str
    description: str
    candidate_pairs: int  # pairs the key join produces before the filter
    hot_keys: list[tuple[str, int]] = field(default_factory=list)
    pairs: int | None = None  # (wanted, person) pairs after the filter
    new_pairs: int | None = None  # pairs no earlier rule found
    cumulative: int | None = None


def _is_list(con: duckdb.DuckDBPyConnection, expr: str, alias: str, table: str) -> bool:
    col_type = con.execute(f"DESCRIBE SELECT {expr} AS k FROM {table} {alias}").fetchall()[0][1]
    return str(col_type).endswith("[]")


# Birth-year window inside the key, so a window costs no pairs outside it. The wanted side carries
# one key per year in the window; a missing year on either side matches every year of the other
# ('*' and '?' keys), as a comparison with a missing side counts for nothing.
_YEAR_SUFFIX = {
    "l": "CASE WHEN y IS NULL THEN ['|*'] ELSE list_append(list_transform(range(-{w}, {w} + 1), "
    "lambda d: '|' || (y + d)::VARCHAR), '|?') END",
    "r": "CASE WHEN y IS NULL THEN ['|*', '|?'] ELSE ['|' || y::VARCHAR, '|*'] END",
}


def year_suffix_sql(side: str, year_window: int) -> str:
    """A record's key suffixes for a birth-year window, from its birth year `y` (a list)."""
    return _YEAR_SUFFIX[side].format(w=int(year_window))


def _keys_sql(
    con: duckdb.DuckDBPyConnection, expr: str, alias: str, table: str, id_col: str, year_window: int | None = None
) -> str:
    """One row per (record, key): list-valued expressions are unnested; empty keys dropped."""
    value = f"unnest({expr})" if _is_list(con, expr, alias, table) else expr
    keys = f"""
        SELECT {id_col}, k, y FROM (SELECT {alias}.{id_col}, {value} AS k, {alias}.birth_year AS y FROM {table} {alias})
        WHERE k IS NOT NULL AND CAST(k AS VARCHAR) <> ''
    """
    if year_window is None:
        return f"SELECT {id_col}, k FROM ({keys})"
    suffix = year_suffix_sql(alias, year_window)
    return f"SELECT {id_col}, CAST(k AS VARCHAR) || unnest({suffix}) AS k FROM ({keys})"


def rule_keys_sql(con: duckdb.DuckDBPyConnection, rule: BlockingRule, side: str, table: str) -> str:
    """SELECT (id, k): the rule's keys of one side's records (`side` 'l': wanted records of `table`,
    keyed by w_idx; 'r': register records, keyed by r_idx). A workspace stores these tables and
    keeps them up to date with its changed records."""
    if side == "l":
        return _keys_sql(con, rule.left, "l", table, "w_idx", rule.year_window)
    return _keys_sql(con, rule.right, "r", table, "r_idx", rule.year_window)


def _key_tables(con: duckdb.DuckDBPyConnection, rule: BlockingRule, left: str = "w", right: str = "reg",
                left_keys: str | None = None, right_keys: str | None = None) -> tuple[str, str]:
    """Key tables of both sides; `left`/`right` name the records to key (a table or a
    parenthesised subquery of `w`/`reg`), so a night can key only its new and changed records.
    A side given as stored keys (`left_keys`/`right_keys`, a table of rule_keys_sql's rows) is
    read from there instead of being keyed again. Returns the names of the two key tables."""
    kl, kr = left_keys or "kl", right_keys or "kr"
    try:
        if left_keys is None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE kl AS {rule_keys_sql(con, rule, 'l', left)}")
        if right_keys is None:
            # Only the register keys some wanted record shares: the others join nothing, and keeping
            # every record's key (1.75M rows and more per rule at 1M) cost most of this stage.
            shared = f" WHERE k IN (SELECT k FROM {kl})"
            con.execute(f"CREATE OR REPLACE TEMP TABLE kr AS SELECT * FROM ({rule_keys_sql(con, rule, 'r', right)}){shared}")
    except duckdb.Error as exc:
        raise RulesError(f"blocking rule '{rule.name}': invalid key expression: {exc}") from None
    return kl, kr


def count_rule(con: duckdb.DuckDBPyConnection, rule: BlockingRule, hot: int, left: str = "w",
               right: str = "reg", left_keys: str | None = None, right_keys: str | None = None) -> RuleCount:
    """Pairs the rule's key join would produce, and its hottest keys, from key frequencies. When
    one side is stored keys (the whole register, say) and the other a few records' keys, only the
    stored keys the few share are counted (the same counts: other keys join nothing)."""
    kl, kr = _key_tables(con, rule, left, right, left_keys, right_keys)
    only_l = "WHERE k IN (SELECT k FROM cr)" if left_keys and not right_keys else ""
    only_r = "WHERE k IN (SELECT k FROM cl)" if right_keys and not left_keys else ""
    if only_l:
        ctes = f"""cr AS (SELECT k, count(*) AS n FROM {kr} GROUP BY k),
                   cl AS (SELECT k, count(*) AS n FROM {kl} {only_l} GROUP BY k)"""
    else:
        ctes = f"""cl AS (SELECT k, count(*) AS n FROM {kl} GROUP BY k),
                   cr AS (SELECT k, count(*) AS n FROM {kr} {only_r} GROUP BY k)"""
    rows = con.execute(
        f"""
        WITH {ctes}
        SELECT CAST(cl.k AS VARCHAR), cl.n * cr.n AS pairs FROM cl JOIN cr USING (k)
        ORDER BY pairs DESC, 1
        """
    ).fetchall()
    total = sum(r[1] for r in rows)
    return RuleCount(rule.name, rule.description, int(total), [(k, int(n)) for k, n in rows[:hot]])


def _joined_sql(kl: str = "kl", kr: str = "kr") -> str:
    """The key join: (w_idx, r_idx) of every shared key."""
    return f"SELECT kl.w_idx, kr.r_idx FROM {kl} kl JOIN {kr} kr USING (k)"


def _rule_pairs_sql(rule: BlockingRule, joined: str, lt: str = "w", rt: str = "reg") -> str:
    """The rule's (wanted, person) pairs: the key join's records (`lt`, `rt`: tables holding them)
    through the rule's filter."""
    where = f"WHERE {rule.filter}" if rule.filter else ""
    return f"""
        SELECT DISTINCT l.w_idx, r.person_idx
        FROM ({joined}) j
        JOIN {lt} l ON l.w_idx = j.w_idx
        JOIN {rt} r ON r.r_idx = j.r_idx
        {where}
    """


def _filter_columns(rules: list[BlockingRule], alias: str) -> set[str]:
    """Columns the rules' filters name as `<alias>.<column>`."""
    return {c for r in rules for c in re.findall(rf"\b{alias}\.([A-Za-z_][A-Za-z0-9_]*)", r.filter or "")}


def _join_counted(con: duckdb.DuckDBPyConnection, rule: BlockingRule, settings: Settings, bit: int, left: str,
                  right: str, lk: str | None, rk: str | None) -> RuleCount:
    """A night's key join (few records against stored keys) into `hits`, counted as count_rule
    counts (a key's pairs are its rows in the join); stops reading at the budget, and then
    counts from key frequencies for the message."""
    kl, kr = _key_tables(con, rule, left, right, lk, rk)
    con.execute(f"CREATE OR REPLACE TEMP TABLE kj AS SELECT kl.w_idx, kr.r_idx, kl.k FROM {kl} kl JOIN {kr} kr "
                f"USING (k) LIMIT {int(settings.pair_budget) + 1}")
    total = con.execute("SELECT count(*) FROM kj").fetchall()[0][0]
    if total > settings.pair_budget:
        return count_rule(con, rule, settings.hot_keys, left, right, lk, rk)
    rows = con.execute(f"""SELECT CAST(k AS VARCHAR), count(*) AS pairs FROM kj GROUP BY k
                           ORDER BY pairs DESC, 1 LIMIT {int(settings.hot_keys)}""").fetchall()
    con.execute(f"INSERT INTO hits SELECT DISTINCT {bit}, w_idx, r_idx FROM kj")
    con.execute("DROP TABLE kj")
    return RuleCount(rule.name, rule.description, int(total), [(k, int(n)) for k, n in rows])


def _insert_found(con: duckdb.DuckDBPyConnection, rule: BlockingRule, bit: int, joined: str, lt: str = "w",
                  rt: str = "reg") -> None:
    try:
        con.execute(f"INSERT INTO found SELECT w_idx, person_idx, {bit} FROM ({_rule_pairs_sql(rule, joined, lt, rt)})")
    except duckdb.Error as exc:
        raise RulesError(f"blocking rule '{rule.name}': invalid filter: {exc}") from None


def check_budget(count: RuleCount, settings: Settings) -> None:
    """Stop the run (exit 4) when one rule would make more pairs than the budget, naming the rule
    and its hottest key: the same words on every engine."""
    if count.candidate_pairs > settings.pair_budget:
        key, n = count.hot_keys[0] if count.hot_keys else ("?", 0)
        raise BudgetError(
            f"blocking rule '{count.rule}' would produce {count.candidate_pairs:,} candidate pairs, over the "
            f"budget of {settings.pair_budget:,} (rules/matching.yaml blocking.pair_budget); hottest key "
            f"'{key}' alone gives {n:,} pairs. Tighten the rule or raise the budget."
        )


def block(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    rules: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    left: str = "w",
    right: str = "reg",
    into: str = "pairs",
    left_keys: str | None = None,
    right_keys: str | None = None,
) -> list[RuleCount]:
    """Create table `pairs(w_idx, person_idx, rules)` (rules: bitmask of the rules that found the
    pair, bit i = i-th rule in the settings). Stops with BudgetError before joining a rule whose
    key join exceeds the pair budget.

    `left` and `right` restrict the records keyed on each side (default: all of `w` and `reg`),
    e.g. `(SELECT * FROM w WHERE w_idx IN (...))`: the same rules' SQL screens a night's new and
    changed records only; `into` names the result table. `left_keys`/`right_keys` name a side's
    stored key tables, with `{bit}` for the rule's place in the settings (e.g. 'keys_reg_{bit}',
    rows of rule_keys_sql): that side is read from them instead of being keyed again."""
    chosen = [r for r in settings.blocking if rules is None or r.name in rules]
    names = [r.name for r in settings.blocking]
    con.execute(f"DROP TABLE IF EXISTS {into}")
    con.execute("CREATE OR REPLACE TEMP TABLE found (w_idx BIGINT, person_idx BIGINT, bit INTEGER)")
    counts = []
    # One side stored whole, the other a few records (a night): the key joins first, then the
    # filters on only the records they reached, not on the whole register once per rule.
    split = bool(left_keys) != bool(right_keys)
    if split:
        con.execute("CREATE OR REPLACE TEMP TABLE hits (bit INTEGER, w_idx BIGINT, r_idx BIGINT)")
    for rule in chosen:
        bit = names.index(rule.name)
        lk = left_keys.format(bit=bit) if left_keys else None
        rk = right_keys.format(bit=bit) if right_keys else None
        if split:  # the key join itself (bounded by the budget) gives the counts: one pass over the stored keys
            count = _join_counted(con, rule, settings, bit, left, right, lk, rk)
        else:
            count = count_rule(con, rule, settings.hot_keys, left, right, lk, rk)
        check_budget(count, settings)
        if not split:
            _insert_found(con, rule, bit, _joined_sql(lk or "kl", rk or "kr"))
        counts.append(count)
        if progress:
            progress(1)
    con.execute("DROP TABLE IF EXISTS kl; DROP TABLE IF EXISTS kr")
    if split:
        lcols = ", ".join(["w_idx"] + sorted(_filter_columns(chosen, "l") - {"w_idx"}))
        rcols = ", ".join(["r_idx", "person_idx"] + sorted(_filter_columns(chosen, "r") - {"r_idx", "person_idx"}))
        con.execute(f"CREATE OR REPLACE TEMP TABLE hit_w AS SELECT {lcols} FROM w WHERE w_idx IN (SELECT w_idx FROM hits)")
        con.execute(f"CREATE OR REPLACE TEMP TABLE hit_r AS SELECT {rcols} FROM reg WHERE r_idx IN (SELECT r_idx FROM hits)")
        for rule in chosen:
            bit = names.index(rule.name)
            joined = f"SELECT w_idx, r_idx FROM hits WHERE bit = {bit}"
            try:
                _insert_found(con, rule, bit, joined, "hit_w", "hit_r")
            except RulesError:  # a filter naming columns other than l.<col> / r.<col>: the whole tables
                _insert_found(con, rule, bit, joined)
        con.execute("DROP TABLE hits; DROP TABLE hit_w; DROP TABLE hit_r")
    # One pass over everything found: the union of pairs, each with the bitmask of its rules.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT row_number() OVER (ORDER BY w_idx, person_idx) - 1 AS pair_idx, * FROM (
            SELECT w_idx, person_idx, bit_or(1::BIGINT << bit) AS rules, min(bit) AS first_rule
            FROM found GROUP BY w_idx, person_idx
        )
        """
    )
    per_rule = dict(con.execute("SELECT bit, count(*) FROM found GROUP BY bit").fetchall())
    new = dict(con.execute(f"SELECT first_rule, count(*) FROM {into} GROUP BY first_rule").fetchall())
    con.execute("DROP TABLE found")
    cumulative = 0
    for count in counts:  # rules in the settings' order: "new" = pairs no earlier rule found
        bit = names.index(count.rule)
        count.pairs = int(per_rule.get(bit, 0))
        count.new_pairs = int(new.get(bit, 0))
        cumulative += count.new_pairs
        count.cumulative = cumulative
    return counts


def render_counts(counts: list[RuleCount], n_wanted: int) -> str:
    """The blocking report: pairs per rule, new and cumulative, and the hottest keys."""
    lines = [f"{'rule':<22}{'key-join pairs':>16}{'pairs':>12}{'new':>12}{'cumulative':>12}  hottest keys"]
    for c in counts:
        hot = ", ".join(f"{k[:40]} ({n:,})" for k, n in c.hot_keys[:3])
        lines.append(
            f"{c.rule:<22}{c.candidate_pairs:>16,}{(c.pairs or 0):>12,}{(c.new_pairs or 0):>12,}"
            f"{(c.cumulative or 0):>12,}  {hot}"
        )
    total = counts[-1].cumulative if counts else 0
    per = total / n_wanted if n_wanted else 0.0
    lines.append(f"total candidate pairs: {total:,} ({per:,.1f} per wanted record)")
    return "\n".join(lines)
