"""The one-row evaluator (linkage/backends/arrow_row.py) against the Arrow evaluator on the same row:
every expression of the default rules (derived columns, comparison levels, blocking keys and
filters, the output rows' columns) and the edge cases give, row by row, the same value and the same
Arrow type (DuckDB's values: tests/test_arrow_sql.py)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from linkage.backends.arrow_row import RowEnv, compile_row, few_rows, row_items
from linkage.backends.arrow_sql import FEW_ROWS, compile_expr, compile_select, evaluate, parse_select
from linkage.outputs import current_items_sql, final_items_sql, row_items_sql
from linkage.prepare import derived_sql
from test_arrow_sql import EDGE, EDGE_SQL, SETTINGS, _pair_columns, _rules_expressions, _same, pairs, prepared  # noqa: F401


def _row(columns: dict[str, pa.Array], i: int) -> dict[str, pa.Array]:
    return {name: col.slice(i, 1) for name, col in columns.items()}


def _check(sql: str, columns: dict[str, pa.Array], rows: range) -> None:
    arrow = compile_expr(sql)
    row = compile_row(parse_select(f"SELECT {sql}")[0])
    for i in rows:
        one = _row(columns, i)
        want = evaluate(arrow, one, 1)
        value, typ = row(RowEnv(one))
        assert typ == want.type, (sql[:80], i, typ, want.type)
        assert not _same([value], want.to_pylist()), (sql[:80], i, value, want.to_pylist())


@pytest.mark.parametrize("place_text", [False, True])
def test_derived_columns_row_by_row(prepared, place_text):  # noqa: F811
    select = compile_select(derived_sql(place_text).replace("{source}", "_source"))
    assert select.row is not None
    for source, table in prepared.items():
        columns = {c: table.column(c).combine_chunks() for c in table.column_names}
        for i in range(0, table.num_rows, 7):
            one = _row(columns, i)
            got = pa.table(dict(zip((name for name, _ in select.row), few_rows([fn for _, fn in select.row], one, 1))))
            want = pa.table({name: evaluate(fn, one, 1) for name, fn in select.items})
            assert got.schema == want.schema, source
            assert not _same(list(got.to_pylist()[0].values()), list(want.to_pylist()[0].values())), (source, i)


@pytest.mark.parametrize("label,sql", _rules_expressions(), ids=[label for label, _ in _rules_expressions()])
def test_levels_keys_and_filters_row_by_row(pairs, label, sql):  # noqa: F811
    left, right, _ = pairs
    _check(sql, _pair_columns(left, right), range(0, left.num_rows, max(1, left.num_rows // 150)))


@pytest.mark.parametrize("label,sql", _rules_expressions(), ids=[label for label, _ in _rules_expressions()])
def test_levels_keys_and_filters_over_a_few_rows(pairs, label, sql):  # noqa: F811
    """A few rows (a desk call's pairs) in Python row by row: the Arrow path's column over them, or
    None where two rows' values differ in type (the caller then takes the Arrow path)."""
    left, right, _ = pairs
    columns = _pair_columns(left, right)
    arrow, row = compile_expr(sql), compile_row(parse_select(f"SELECT {sql}")[0])
    took = 0
    for start in range(0, min(left.num_rows, 600), 5):
        part = {name: col.slice(start, 5) for name, col in columns.items()}
        n = len(next(iter(part.values())))
        got = few_rows([row], part, n)
        if got is None:
            continue
        took += 1
        want = evaluate(arrow, part, n)
        assert got[0].type == want.type, (sql[:80], start)
        assert not _same(got[0].to_pylist(), want.to_pylist()), (sql[:80], start)
    assert took, sql[:80]


def test_a_select_over_a_few_rows_is_the_arrow_paths(prepared):  # noqa: F811
    """Select.over takes the rows in Python up to FEW_ROWS rows, the Arrow kernels above: the same
    table either way."""
    select = compile_select(derived_sql(False).replace("{source}", "_source"))
    for source, table in prepared.items():
        columns = {c: table.column(c).combine_chunks() for c in table.column_names}
        for start, n in ((3, 2), (40, 5), (100, FEW_ROWS), (7, FEW_ROWS + 1)):
            part = {name: col.slice(start, n) for name, col in columns.items()}
            got = select.over(part, n)
            want = pa.table({name: evaluate(fn, part, n) for name, fn in select.items})
            assert got.schema == want.schema, (source, n)
            assert got.to_pylist() == want.to_pylist(), (source, n)


# where DuckDB refuses (hamming on texts of unequal or no length, a day that does not exist) or
# gives a timestamp (a date plus years), the Arrow path's value and type
ARROW_ONLY_SQL = ["hamming(x, y)", "hamming(y, y)", "make_date(2024, len(coalesce(a, [])) - 1, 29 + len(coalesce(b, [])))",
                  "make_date(2023, 2, len(a))", "TRY_CAST(x AS DATE) + INTERVAL (len(coalesce(a, [])) - 1) YEAR"]


@pytest.mark.parametrize("sql", EDGE_SQL + ARROW_ONLY_SQL)
def test_edge_cases_row_by_row(sql):
    table = pa.table({"x": pa.array(EDGE["x"], pa.string()), "y": pa.array(EDGE["y"], pa.string()),
                      "a": pa.array(EDGE["a"], pa.list_(pa.string())), "b": pa.array(EDGE["b"], pa.list_(pa.string()))})
    _check(sql, {c: table.column(c).combine_chunks() for c in table.column_names}, range(table.num_rows))


def test_the_output_rows_compile_for_one_row():
    """The selects a lead's output row goes through have a one-row form (else the desk would fall
    back to Arrow kernels per node for them: correct, but the cost this module removes)."""
    for items in (current_items_sql(SETTINGS), row_items_sql(SETTINGS, ""), final_items_sql(SETTINGS)):
        assert compile_select("SELECT " + ", ".join(items)).row is not None


def test_kleene_logic_case_types_and_nulls_as_arrow():
    columns = {"a": pa.array([None, True, False], pa.bool_()), "b": pa.array([True, None, None], pa.bool_()),
               "i": pa.array([1, None, 3], pa.int64()), "f": pa.array([0.5, 2.0, None], pa.float64())}
    for sql in ["a AND b", "a OR b", "NOT a", "a IS NULL", "coalesce(i, f)", "coalesce(f, i, 0)",
                "CASE WHEN a THEN i ELSE f END", "CASE WHEN b THEN 1 ELSE 2.5 END", "CASE WHEN a THEN NULL ELSE i END",
                "i IN (1, NULL)", "i NOT IN (3, 4)", "nullif(i, 3)", "i = f", "i < 2 AND f > 0.1",
                "CASE WHEN a THEN NULL END", "[i, f]", "{'x': i, 'y': f}"]:
        _check(sql, columns, range(3))
    items = row_items([("v", parse_select("SELECT i + 1")[0])])
    assert items is not None
    assert few_rows([items[0][1]], _row(columns, 0), 1)[0].to_pylist() == [2]


def test_a_value_python_cannot_hold_leaves_the_rows_to_arrow():
    """A date of year 0 (DuckDB reads '0000-01-01'; Python's dates start at year 1): the rows go to
    the Arrow path, which gives the batch's value, instead of failing."""
    from linkage.backends.arrow_sql import evaluate_many, expression

    columns = {"r.d": pa.array([-719528, 0], pa.date32()), "r.x": pa.array(["a", "b"])}
    row = compile_row(parse_select("SELECT r.d")[0])
    assert few_rows([row], columns, 2) is None
    got = evaluate_many([expression("r.d IS NULL"), expression("r.x || '!'")], columns, 2)
    assert [g.to_pylist() for g in got] == [[False, False], ["a!", "b!"]]



def test_dates_as_arrow_reads_them():
    """TRY_CAST(text AS DATE) and try_strptime(text, '%d/%m/%Y') read in Python over one row: the
    Arrow path's values (which asks DuckDB for what its patterns leave), row by row."""
    texts = ["2026-01-05", "2026/1/5", "2026 01 05", "2026-01/05", "2026-02-30", "2026-13-01",
             "05/01/2026", "5/1/2026", "31/02/2026", "1/13/2026", "2026-01-05 10:00:00", "", None, " 2026-01-05",
             "2026-01-05\n", "٢٠٢٦-01-05", "abc", "29/02/2024", "29/02/2023", "2024-2-29"]
    columns = {"x": pa.array(texts, pa.string())}
    for sql in ["TRY_CAST(x AS DATE)", "try_strptime(x, '%d/%m/%Y')", "TRY_CAST(try_strptime(x, '%d/%m/%Y') AS DATE)",
                "coalesce(TRY_CAST(trim(x) AS DATE), TRY_CAST(try_strptime(trim(x), '%d/%m/%Y') AS DATE))"]:
        _check(sql, columns, range(len(texts)))


def test_the_rules_functions_run_in_python_over_ordinary_values(monkeypatch):
    """The functions a lead's output row and a record's derived columns call do not fall back to
    their Arrow kernels for ordinary values (the fallback is correct, but it is the cost this
    module removes): with those kernels made to fail, the rows still evaluate."""
    from linkage.backends import arrow_row, arrow_sql

    def refused(*_):
        raise AssertionError("an Arrow kernel ran")

    monkeypatch.setattr(arrow_sql, "_FUNCTIONS", {**arrow_sql._FUNCTIONS, **{k: refused for k in arrow_row._PLAIN}})
    columns = {"x": pa.array(["Số 12  Đường Lê Lợi, phường 2"]), "y": pa.array(["12"]),
               "d": pa.array([date(1990, 2, 28)], pa.date32()), "i": pa.array([3], pa.int64()),
               "a": pa.array([["a|?", "b"]], pa.list_(pa.string())), "b": pa.array([["b"]], pa.list_(pa.string()))}
    for sql in ["trim(x)", "lower(x)", "replace(x, 'Đ', 'D')", "split_part(x, ',', 2)", "string_split(x, ' ')",
                "strpos(x, ',')", "lpad(y, 3, '0')", "regexp_replace(lower(x), '\\s+', ' ', 'g')",
                "regexp_matches(x, '^(\\d|số)')", "list_has_any(a, b)", "list_has_all(a, b)", "list_contains(a, y)",
                "list_prepend(y, a)", "list_append(a, y)", "damerau_levenshtein(x, y)", "hamming(y, '13')",
                "jaro_winkler_similarity(x, y)", "make_date(1990, i, 1)", "date_diff('year', d, d)",
                "strftime(d, '%Y')", "i + 1", "i - 1", "least(i, 2)", "greatest(i, 2)", "suffix(x, '2')",
                "strip_accents(x)", "list_sort(a)", "array_to_string(a, ' ')", "concat_ws('|', x, y)",
                "len(a)", "length(x)", "abs(i - 5)", "substr(x, 2, 3)", "concat_ws('|', x, i)", "x || i"]:
        value, _ = compile_row(parse_select(f"SELECT {sql}")[0])(RowEnv(columns))
        assert value is not None, sql


def test_a_lambda_over_no_elements_asks_arrow_once_per_list_type(monkeypatch):
    """Over an empty or NULL list the result's type is the Arrow path's: a lambda whose body reads
    only its parameter asks it once per list type, then answers alone, with the same value and
    type; one whose body reads another column asks every time."""
    from linkage.backends import arrow_sql

    items = pa.list_(pa.struct([("k", pa.int64()), ("t", pa.string())]))
    cases = {"own": "list_transform(a, lambda x: x.t)", "filter": "list_filter(a, lambda x: x.k = 1)",
             "outer": "list_transform(a, lambda x: x.t || y)"}
    fns = {label: compile_row(parse_select(f"SELECT {sql}")[0]) for label, sql in cases.items()}
    rows = {"a": pa.array([[], None, [{"k": 1, "t": "u"}]], items), "y": pa.array(["v", "v", "v"])}
    for label, sql in cases.items():
        for i in range(3):
            one = _row(rows, i)
            want = evaluate(compile_expr(sql), one, 1)
            value, typ = fns[label](RowEnv(one))
            assert (value, typ) == (want.to_pylist()[0], want.type), (label, i)
    calls = []
    real = arrow_sql.Env

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(arrow_sql, "Env", counted)
    for label in cases:
        for i in (0, 1):
            fns[label](RowEnv(_row(rows, i)))
        assert bool(calls) is (label == "outer"), label
        calls.clear()
