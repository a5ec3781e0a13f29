"""The Arrow evaluator of the rules' SQL (linkage/backends/arrow_sql.py) against DuckDB itself: every
expression the default rules give the desk (derived columns, blocking keys and filters, comparison
levels, output rows) compiles, and gives DuckDB's values on the committed sample's records and on
crafted edge cases."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from linkage.backends.arrow_sql import Unsupported, compile_expr, compile_select, evaluate, expression
from linkage.block import year_suffix_sql
from linkage.comparisons import compile_comparison
from linkage.normalize.table import normalize_table
from linkage.outputs import current_items_sql, final_items_sql, row_items_sql, status_tests_sql
from linkage.prepare import derived_sql, prepared_arrow
from linkage.settings import load_settings

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "sample"
SETTINGS = load_settings()


def _read(name: str, rows: int) -> pd.DataFrame:
    frame = pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False).head(rows)
    return frame.replace("", None).astype(object)


@pytest.fixture(scope="module")
def prepared() -> dict[str, pa.Table]:
    """The sample's records normalised and prepared, before the derived SQL (its input)."""
    return {
        "wanted": prepared_arrow(normalize_table(_read("wanted", 500), "wanted"), "wanted_id", "wanted"),
        "residents": prepared_arrow(normalize_table(_read("residents", 1500), "residents"), "person_id", "residents"),
        "id_cards": prepared_arrow(normalize_table(_read("id_cards", 1000), "id_cards"), "card_number", "id_cards"),
    }


def _duckdb(sql: str, table: pa.Table) -> pa.Table:
    con = duckdb.connect()
    con.register("src", table)
    return con.sql(sql.replace("{source}", "src")).to_arrow_table()


def _same(got: list, want: list) -> list[int]:
    """Rows whose values differ (floats within 1e-12)."""
    return [i for i, (g, w) in enumerate(zip(got, want))
            if g != w and not (isinstance(g, float) and isinstance(w, float) and abs(g - w) < 1e-12)]


@pytest.mark.parametrize("place_text", [False, True])
def test_derived_columns_are_duckdbs(prepared, place_text):
    sql = derived_sql(place_text)
    select = compile_select(sql.replace("{source}", "_source"))
    for source, table in prepared.items():
        want = _duckdb(sql, table)
        got = select(table)
        assert got.column_names == want.column_names
        for name in want.column_names:
            assert not _same(got.column(name).to_pylist(), want.column(name).to_pylist()), (source, name)


@pytest.fixture(scope="module")
def pairs(prepared) -> tuple[pa.Table, pa.Table, duckdb.DuckDBPyConnection]:
    """(wanted, register record) pairs that share a family name, a father or a birth year, and some
    random ones, as `l` and `r` rows; and a DuckDB connection holding both sides."""
    con = duckdb.connect()
    sql = derived_sql(False)
    con.register("_w", _duckdb(sql, prepared["wanted"]))
    con.register("_r", pa.concat_tables([_duckdb(sql, prepared[s]) for s in ("residents", "id_cards")],
                                        promote_options="permissive"))
    con.execute("CREATE TABLE w AS SELECT row_number() OVER () AS w_i, * FROM _w")
    con.execute("CREATE TABLE r AS SELECT row_number() OVER () AS r_i, * FROM _r")
    con.execute("""CREATE TABLE p AS SELECT row_number() OVER (ORDER BY w_i, r_i) AS i, * FROM (
        SELECT l.w_i, r.r_i FROM w l JOIN r ON l.family_ascii = r.family_ascii AND abs(l.birth_year - r.birth_year) <= 3
        UNION SELECT l.w_i, r.r_i FROM w l JOIN r ON l.father_ascii = r.father_ascii
        UNION SELECT l.w_i, r.r_i FROM w l JOIN r ON l.full_name_ascii = r.full_name_ascii
        UNION SELECT w_i, r_i FROM (SELECT w_i, r_i FROM w, r WHERE (w_i * 7919 + r_i * 104729) % 997 = 0))""")
    left = con.sql("SELECT l.* FROM p JOIN w l USING (w_i) ORDER BY p.i").to_arrow_table()
    right = con.sql("SELECT r.* FROM p JOIN r USING (r_i) ORDER BY p.i").to_arrow_table()
    return left, right, con


def _pair_columns(left: pa.Table, right: pa.Table) -> dict[str, pa.Array]:
    return ({f"l.{c}": left.column(c).combine_chunks() for c in left.column_names}
            | {f"r.{c}": right.column(c).combine_chunks() for c in right.column_names})


def _rules_expressions() -> list[tuple[str, str]]:
    out = [(f"level {c.name}", compile_comparison(c).sql_level) for c in SETTINGS.comparisons]
    for rule in SETTINGS.blocking:
        out += [(f"left key {rule.name}", rule.left), (f"right key {rule.name}", rule.right)]
        if rule.filter:
            out.append((f"filter {rule.name}", rule.filter))
    return out


@pytest.mark.parametrize("label,sql", _rules_expressions(), ids=[label for label, _ in _rules_expressions()])
def test_levels_keys_and_filters_are_duckdbs(pairs, label, sql):
    left, right, con = pairs
    want = con.sql(f"SELECT {sql} AS v FROM p JOIN w l USING (w_i) JOIN r USING (r_i) ORDER BY p.i"
                   ).to_arrow_table().column(0).to_pylist()
    got = evaluate(compile_expr(sql), _pair_columns(left, right), left.num_rows).to_pylist()
    assert len(want) > 1000
    assert not _same(got, want), label


def test_the_desks_expressions_all_compile():
    """Nothing of the default rules is left to DuckDB at the desk."""
    for _, sql in _rules_expressions():
        assert expression(sql).fn is not None, sql
    for rule in SETTINGS.blocking:
        if rule.year_window is not None:
            compile_expr(year_suffix_sql("r", rule.year_window))
    for items in (current_items_sql(SETTINGS), row_items_sql(SETTINGS, ""), final_items_sql(SETTINGS)):
        compile_select("SELECT " + ", ".join(items))
    for sql in status_tests_sql(SETTINGS):
        compile_expr(sql)


EDGE = {
    "x": ["2020-01-05", "2020-1-5", "2021-02-29", "2020/01/05", "2020-01-05 10:00:00", "05/01/2020", "5/1/2020",
          "31/02/2020", "abc", "", None, "Nguyễn Văn  A", "a|b|c", "đường 1, phường 2", " x ",
          "İSTANBUL ΣΑΣ", "ĐƯỜNG  Số 5\n", "a\x0bb c|d", "2024-02-29"],
    "y": ["2020", "1-5", None, "20", "10", "01", "1", "02", "b", "", "x", "văn", "b", ",", "x", "Σ", "5", "a", "2023"],
    "a": [["a", "b"], ["b"], None, [], ["c", None], ["x"], ["a"], ["z", "y"], ["b", "a"], ["a"], None, ["văn"],
          ["a|?", "b|left"], [None], ["k"], ["x|?"], None, ["b|l", "a|?"], ["a", "b", "c"]],
    "b": [["b"], ["a", "b"], ["a"], ["a"], [None], None, ["a", "a"], ["y"], ["c"], [], [], ["Văn"], ["a|left"],
          [None], ["k", "k"], ["x|l"], ["a"], None, ["a", "b"]],
}
EDGE_SQL = [
    "list_has_any(a, b)", "list_has_all(a, b)", "list_contains(a, y)", "list_sort(a, 'DESC')", "list_sort(b)",
    "list_concat(a, b)", "list_prepend(y, a)", "list_append(a, y)", "a[1:1]", "len(coalesce(a, []))",
    "strpos(x, y)", "split_part(x, ',', 1)", "split_part(x, '|', 2)", "regexp_replace(x, '[|][^|]*$', '')",
    "regexp_replace(x, '\\s+', ' ', 'g')", "lpad(y, 2, '0')", "substr(x, 2, 3)", "concat_ws('|', x, y)",
    "x || '-' || y", "nullif(trim(x), '')", "lower(x)", "strip_accents(lower(x))", "x IN ('abc', NULL)",
    "y NOT IN ('b', 'x')", "TRY_CAST(trim(x) AS DATE)", "try_strptime(trim(x), '%d/%m/%Y')",
    "list_transform(a, lambda k: regexp_replace(k, '[|][^|]*$', ''))", "list_filter(a, lambda k: suffix(k, '|?'))",
    "array_to_string(list_sort(string_split(x, ' ')), ' ')", "string_split(x, ' ')",
    "CASE WHEN x IS NULL THEN ['|*'] ELSE list_append(list_transform(range(-1, 2), lambda d: '|' || (len(a) + d)::VARCHAR), '|?') END",
    "list_sort([{'w': len(a) * 1.0, 't': y, 'k': 0}, {'w': NULL, 't': x, 'k': 1}, {'w': 1.0, 't': NULL, 'k': 2}], 'DESC')",
    "damerau_levenshtein(x, y)", "jaro_winkler_similarity(x, y)", "coalesce(list_has_any(a, b), FALSE) OR x = y",
    "CASE len(a) WHEN 0 THEN 'none' WHEN 1 THEN 'one: ' || y WHEN 2 THEN x END",
    "CASE y WHEN 'b' THEN 1 WHEN 'x' THEN 2 WHEN '' THEN 3 ELSE len(b) END",
    "CASE y WHEN '1' THEN 'one' WHEN 'b' THEN 'bee' END",
    "concat_ws('; ', nullif(x, x), nullif(y, 'b'))",
    "array_to_string(list_sort(list_concat(a, b), 'DESC'), ',')", "list_sort(list_concat(b, a))[1:2]",  # '' where both are NULL (Arrow's own skip drops the row)
    "trim(x)", "replace(lower(x), 'đ', 'd')", "regexp_matches(lower(x), '^(\\d|abc)')", "suffix(x, 'c')",
    "regexp_replace(lower(x), '\\b(a|x)\\b', 'Y')", "regexp_replace(x, '[0-9]*', '-', 'g')",
    "trim(regexp_replace(strip_accents(lower(trim(split_part(x, ',', 1)))), '\\s+', ' ', 'g'))",
    "list_has_all(b, a)", "list_prepend(x, b)", "list_append(b, y)", "make_date(2000 + len(coalesce(a, [])), 2, 28)",
    "date_diff('year', make_date(2000, 2, 29), TRY_CAST(x AS DATE))", "strftime(TRY_CAST(x AS DATE), '%Y')",
    "least(len(a), len(b), 2)", "greatest(len(a), 1)", "lpad(y, 3, '0')", "len(a) - 1", "len(a) + len(b)",
    "length(x)", "abs(len(a) - 2)", "substr(x, 2)", "substr(x, 3, 0)", "concat_ws('|', x, len(a), y)",
    "x || len(b)",
]


@pytest.mark.parametrize("sql", EDGE_SQL)
def test_edge_cases_are_duckdbs(sql):
    table = pa.table({"x": pa.array(EDGE["x"], pa.string()), "y": pa.array(EDGE["y"], pa.string()),
                      "a": pa.array(EDGE["a"], pa.list_(pa.string())), "b": pa.array(EDGE["b"], pa.list_(pa.string()))})
    want = _duckdb(f"SELECT {sql} AS v FROM {{source}}", table).column(0).to_pylist()
    got = evaluate(compile_expr(sql), {c: table.column(c).combine_chunks() for c in table.column_names},
                   table.num_rows)
    if pa.types.is_timestamp(got.type):
        got = got.cast(pa.timestamp("us"))
    assert not _same(got.to_pylist(), want), (got.to_pylist(), want)


def test_what_is_not_implemented_is_refused_when_compiled_and_left_to_duckdb():
    with pytest.raises(Unsupported, match="levenshtein"):
        compile_expr("levenshtein(l.a, r.b) <= 1")
    expr = expression("levenshtein(l.a, r.b) <= 1")
    assert expr.fn is None
    got = expr({"l.a": pa.array(["abc", "abc", None]), "r.b": pa.array(["abd", "xyz", "a"])}, 3)
    assert got.to_pylist() == [True, False, None]


def test_equal_subexpressions_are_evaluated_once(monkeypatch):
    from linkage.backends import arrow_sql

    calls = []
    real = arrow_sql._distance
    monkeypatch.setattr(arrow_sql, "_distance", lambda *a, **k: calls.append(1) or real(*a, **k))
    fn = compile_expr("damerau_levenshtein(l.a, r.b) = 0 OR (damerau_levenshtein(l.a, r.b) = 1 AND l.a <> 'x')")
    got = evaluate(fn, {"l.a": pa.array(["ab", "ab", None, "x"]), "r.b": pa.array(["ab", "ba", "y", "y"])}, 4)
    assert got.to_pylist() == [True, True, None, False]
    assert len(calls) == 1


def test_columns_read_finds_one_sides_columns_in_the_parse_tree():
    from linkage.backends.arrow_sql import columns_read

    sql = ("CASE WHEN l.a = r.b THEN 1 WHEN list_has_any(list_transform(r.c, x -> x || r.d), l.e) THEN 2 "
           "ELSE coalesce(r.f, 'r.g') END")
    assert columns_read(sql, "r") == {"b", "c", "d", "f"}  # not a text that looks like one
    assert columns_read(sql, "l") == {"a", "e"}
