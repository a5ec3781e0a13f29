"""The rules' SQL expressions evaluated over small Arrow tables, without DuckDB.

The desk screens one record at a time, and DuckDB binds and optimises every statement on every
call, whatever its rows (5-10 ms for the comparisons' CASE expressions, docs/benchmarks.md). The
expressions stay the single source of truth: DuckDB's own parser reads them once
(`json_serialize_sql`) and each node becomes a closure over Arrow arrays with DuckDB's semantics
(three-valued logic; NULL in, NULL out; 1-based substr; regexp_replace's first match). Something
not implemented here raises `Unsupported` when compiled, so a caller can keep DuckDB for it.
tests/test_arrow_sql.py checks every expression of the rules against DuckDB on the sample data.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Collection, Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, Hamming, JaroWinkler

Value = pa.Array | pa.Scalar


class Unsupported(ValueError):
    """An expression uses SQL this evaluator does not implement."""


class Columns(dict):
    """Columns taken on first use: `load(name)` gives a column the mapping does not hold yet (the
    rows of a wanted record and of a register record, out of some seventy columns each)."""

    def __init__(self, load: Callable[[str], pa.Array], given: dict[str, pa.Array] | None = None):
        super().__init__(given or {})
        self._load = load

    def __missing__(self, name: str) -> pa.Array:
        got = self[name] = self._load(name)
        return got


def sides(read: Mapping[str, Collection[str]] | None = None, **tables: tuple[pa.Table, pa.Array]) -> Columns:
    """Columns `<side>.<column>` of each side's table at its rows (`l=(w, rows), r=(reg, rows)`),
    taken on first use; the columns `read` names per side (those the expressions read) are taken
    at once, one take per side (a take per column costs its call: five times as much for forty)."""
    def rows_of(table: pa.Table, rows: pa.Array) -> pa.Table:
        if len(rows) == 1 and rows.null_count == 0:  # one row: a slice, not a take over the column
            return table.slice(rows[0].as_py(), 1)
        return table.take(rows)

    def load(name: str) -> pa.Array:
        side, _, col = name.partition(".")
        table, rows = tables[side]
        return rows_of(table.select([col]), rows).column(0).combine_chunks()

    given: dict[str, pa.Array] = {}
    for side, names in (read or {}).items():
        table, rows = tables[side]
        present = set(table.schema.names)
        names = [c for c in names if c in present]
        if names:
            got = rows_of(table.select(names), rows)
            given.update({f"{side}.{c}": got.column(c).combine_chunks() for c in names})
    return Columns(load, given)


@dataclass
class Env:
    """The columns an expression reads (`l.col`, `r.col` or a bare `col`), all of length n, and a
    cache of the subexpressions evaluated (the levels repeat `l.x = r.x` and string splits)."""

    columns: dict[str, pa.Array]
    n: int
    cache: dict[str, Value]


Fn = Callable[[Env], Value]


def parse_select(sql: str) -> list[dict[str, Any]]:
    """The select list of `SELECT ...` as DuckDB's parser gives it (JSON nodes)."""
    con = duckdb.connect(":memory:")
    try:
        got = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        con.close()
    if got.get("error"):
        raise Unsupported(f"DuckDB cannot parse: {got.get('error_message')}")
    return got["statements"][0]["node"]["select_list"]


def columns_read(sql: str, side: str) -> set[str]:
    """The columns of `side` (`r` for `r.x`) an expression reads, found in its parse tree."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names = node.get("column_names") if node.get("class") == "COLUMN_REF" else None
            if names and len(names) == 2 and names[0] == side:
                found.add(names[1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(parse_select(f"SELECT {sql}"))
    return found


def compile_expr(sql: str) -> Fn:
    """One SQL expression compiled."""
    return compile_node(parse_select(f"SELECT {sql}")[0])


# -- values ------------------------------------------------------------------------------------


def _array(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.Scalar):
        return pa.array([v.as_py()] * n, type=v.type if v.type != pa.null() else None)
    return v


def _bools(v: Value, n: int) -> np.ndarray:
    """True where the condition holds (NULL does not)."""
    if isinstance(v, pa.Scalar):
        return np.full(n, bool(v.is_valid and v.as_py()))
    if v.null_count:
        v = pc.fill_null(v, False)
    return np.asarray(v.to_numpy(zero_copy_only=False), dtype=bool)


def _unify(types: list[pa.DataType]) -> pa.DataType:
    """The type values of these types take together (DuckDB's implicit casts, for what the rules
    write): integers widen to BIGINT, with a float to DOUBLE; NULL takes the others' type; lists
    and structs unify element- and field-wise."""
    types = [t for t in types if t != pa.null()]
    if not types:
        return pa.null()
    if all(pa.types.is_integer(t) for t in types):
        return pa.int64()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) for t in types):
        return pa.float64()
    if all(pa.types.is_list(t) for t in types):
        return pa.list_(_unify([t.value_type for t in types]))
    if all(pa.types.is_struct(t) for t in types):
        names = [f.name for f in types[0]]
        if any([f.name for f in t] != names for t in types):
            raise Unsupported("structs with different fields")
        return pa.struct([(nm, _unify([t.field(nm).type for t in types])) for nm in names])
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in types):
        return pa.string()
    if all(t == types[0] for t in types):
        return types[0]
    raise Unsupported(f"values of types {sorted(set(map(str, types)))} together")


def _common(values: list[Value], n: int) -> list[pa.Array]:
    """Arrays of one type (CASE branches, coalesce, least, list elements)."""
    target = _unify([v.type for v in values])
    out = []
    for v in values:
        a = _array(v, n)
        if a.type == target:
            out.append(a)
        elif a.type == pa.null() or target == pa.null():
            out.append(pa.nulls(len(a), target))
        else:
            out.append(a.cast(target))
    return out


def _strings(v: Value) -> Value:
    return v if pa.types.is_string(v.type) else v.cast(pa.string())


# -- lists -------------------------------------------------------------------------------------


def _flat(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A list column's elements and the row each belongs to (NULL lists have none)."""
    return pc.list_flatten(lists), np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), np.int64)


def _rebuild(values: pa.Array, parents: np.ndarray, n: int, null: np.ndarray) -> pa.Array:
    """Lists from elements in row order and their rows."""
    counts = np.bincount(parents, minlength=n) if len(parents) else np.zeros(n, np.int64)
    offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array(null))


def _is_null(v: pa.Array) -> np.ndarray:
    return np.asarray(v.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def shared_codes(*arrays: pa.Array) -> list[np.ndarray]:
    """Integer codes of the arrays' values as text, one code per distinct value across all of
    them (-1: NULL)."""
    joined = pa.chunked_array([_strings(a) for a in arrays], pa.string()).combine_chunks()
    codes = np.asarray(pc.fill_null(pc.dictionary_encode(joined).indices, -1).to_numpy(zero_copy_only=False), np.int64)
    bounds = np.cumsum([0] + [len(a) for a in arrays])
    return [codes[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _found(a: pa.Array, b: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row, how many distinct non-null elements of `b` are in `a`, how many distinct non-null
    elements `b` has, and whether either list is NULL."""
    fa, pa_ = _flat(a)
    fb, pb = _flat(b)
    ca, cb = shared_codes(fa, fb)
    width = int(max(ca.max(initial=0), cb.max(initial=0))) + 1
    ka = np.unique((pa_ * width + ca)[ca >= 0])
    kb = np.unique((pb * width + cb)[cb >= 0])
    hit = np.isin(kb, ka)
    rows_b = kb // width
    return (np.bincount(rows_b[hit], minlength=n), np.bincount(rows_b, minlength=n),
            _is_null(a), _is_null(b))


def _list_has_any(a: pa.Array, b: pa.Array, n: int) -> pa.Array:
    hits, _, na, nb = _found(a, b, n)
    return pa.array(hits > 0, mask=na | nb)


def _list_has_all(a: pa.Array, b: pa.Array, n: int) -> pa.Array:
    hits, total, na, nb = _found(a, b, n)
    return pa.array(hits == total, mask=na | nb)


def _list_contains(lists: pa.Array, x: pa.Array, n: int) -> pa.Array:
    one = _rebuild(_strings(x), np.arange(n), n, np.zeros(n, bool))
    hits, _, na, nx = _found(lists, one, n)
    return pa.array(hits > 0, mask=na | _is_null(x))


def _list_value(args: list[Value], n: int) -> pa.Array:
    if not args:
        return pa.array([[]] * n, pa.list_(pa.null()))
    cols = _common(args, n)
    values = pa.concat_arrays(cols).take(pa.array((np.arange(len(cols))[None, :] * n + np.arange(n)[:, None]).ravel()))
    return _rebuild(values, np.repeat(np.arange(n), len(cols)), n, np.zeros(n, bool))


def _lambda(node: dict[str, Any]) -> tuple[str, Fn]:
    params = node["lhs"]
    names = params["column_names"] if params["class"] == "COLUMN_REF" else None
    if not names or len(names) != 1:
        raise Unsupported("lambda with more than one parameter")
    return names[0], compile_node(node["expr"])


def _in_lambda(env: Env, lists: pa.Array, param: str, body: Fn) -> tuple[pa.Array, Value, np.ndarray]:
    """The lambda's body over a list column's elements; the outer columns repeated per element."""
    flat, parents = _flat(lists)
    take = pa.array(parents)
    inner = Env(Columns(lambda name: env.columns[name].take(take), {param: flat}), len(flat), {})
    return flat, body(inner), parents


# -- functions -----------------------------------------------------------------------------------


def _distance(scorer, a: Value, b: Value, n: int, dtype=np.int64) -> pa.Array:
    """rapidfuzz's scorer per row, as DuckDB's namesake: NULL in, NULL out. Where DuckDB refuses
    (hamming on strings of unequal or no length) the row is NULL: a rule that ran in the batch never
    reached such a row there. DuckDB's Jaro-Winkler of two empty strings is 0."""
    a, b = _array(a, n), _array(b, n)
    null = _is_null(a) | _is_null(b)
    left = np.asarray(pc.fill_null(a, "").to_numpy(zero_copy_only=False), dtype=object)
    right = np.asarray(pc.fill_null(b, "").to_numpy(zero_copy_only=False), dtype=object)
    if scorer is Hamming.distance:
        la = np.asarray(pc.fill_null(pc.utf8_length(a), 0).to_numpy(zero_copy_only=False))
        lb = np.asarray(pc.fill_null(pc.utf8_length(b), 0).to_numpy(zero_copy_only=False))
        null |= (la != lb) | (la == 0)
        right = np.where(null, left, right)
    out = np.asarray(process.cpdist(left, right, scorer=scorer, dtype=dtype, workers=1), dtype=dtype) if n \
        else np.zeros(0, dtype)
    if scorer is JaroWinkler.normalized_similarity:
        out[(left == "") & (right == "")] = 0.0
    return pa.array(out, mask=null)


def _substr(s: Value, start: Value, length: Value | None = None) -> Value:
    begin = int(start.as_py())
    if begin < 1:
        raise Unsupported("substr with a start below 1")
    stop = None if length is None else begin - 1 + int(length.as_py())
    return pc.utf8_slice_codeunits(s, begin - 1, stop) if stop is not None else pc.utf8_slice_codeunits(s, begin - 1)


def _lpad(s: Value, width: Value, fill: Value) -> Value:
    w = int(width.as_py())
    return pc.utf8_slice_codeunits(pc.utf8_lpad(_strings(s), width=w, padding=fill.as_py()), 0, w)


def _concat(args: list[Value], n: int) -> Value:
    if any(pa.types.is_list(a.type) for a in args):
        raise Unsupported("|| on lists")
    return pc.binary_join_element_wise(*[_strings(a) for a in args], "", null_handling="emit_null")


def _sort_keys(values: pa.Array, descending: bool) -> list[np.ndarray]:
    """Sort keys of list elements, most significant first, as DuckDB orders them: a struct by its
    fields in order, a NULL field above every value (whatever the direction)."""
    if pa.types.is_struct(values.type):
        keys = []
        for i in range(values.type.num_fields):
            keys += _sort_keys(pc.struct_field(values, [i]), descending)
        return keys
    null = _is_null(values)
    raw = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    rank = np.zeros(len(raw), np.int64)
    if (~null).any():
        present = raw[~null]
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            present = present.astype(str)
        else:
            present = present.astype(np.float64) if not pa.types.is_boolean(values.type) else present.astype(np.int64)
        rank[~null] = np.unique(present, return_inverse=True)[1].ravel()
    rank[null] = rank.max(initial=0) + 1
    return [-rank if descending else rank]


def _sorted_lists(lists: pa.Array, n: int, direction: str = "ASC") -> pa.Array:
    """list_sort: each row's elements in order, NULL elements last (DuckDB's default)."""
    flat, parents = _flat(lists)
    descending = direction.upper() == "DESC"
    keys = _sort_keys(flat, descending)
    order = np.lexsort(tuple(reversed([parents, _is_null(flat).astype(np.int64), *keys])))
    return _rebuild(flat.take(pa.array(order)), parents[order], n, _is_null(lists))


def _list_concat(a: pa.Array, b: pa.Array, n: int) -> pa.Array:
    """list_concat: a NULL list counts as empty."""
    fa, pa_ = _flat(a)
    fb, pb = _flat(b)
    ea, eb = _common([fa, fb], n)
    rows = np.r_[pa_, pb]
    side = np.r_[np.zeros(len(pa_)), np.ones(len(pb))]
    order = np.lexsort((np.arange(len(rows)), side, rows))
    return _rebuild(pa.concat_arrays([ea, eb]).take(pa.array(order)), rows[order], n, np.zeros(n, bool))


def _slice_lists(lists: pa.Array, begin: Value, end: Value, n: int) -> pa.Array:
    """list[begin:end], 1-based and inclusive."""
    lo, hi = int(begin.as_py()), int(end.as_py())
    if lo < 1 or hi < 0:
        raise Unsupported("a list slice from the end")
    flat, parents = _flat(lists)
    counts = np.bincount(parents, minlength=n) if len(parents) else np.zeros(n, np.int64)
    position = np.arange(len(parents)) - np.r_[0, np.cumsum(counts)][parents] + 1
    keep = (position >= lo) & (position <= hi)
    return _rebuild(flat.filter(pa.array(keep)), parents[keep], n, _is_null(lists))


def _array_to_string(lists: pa.Array, sep: str, n: int) -> pa.Array:
    """array_to_string as DuckDB's: NULL elements skipped, NULL when every element is NULL (Arrow's
    binary_join gives NULL for any NULL element)."""
    flat, parents = _flat(lists)
    keep = ~_is_null(flat)
    if keep.all():
        return pc.binary_join(lists, sep)
    only_null = (np.bincount(parents, minlength=n) > 0) & (np.bincount(parents[keep], minlength=n) == 0)
    kept = _rebuild(flat.filter(pa.array(keep)), parents[keep], n, _is_null(lists) | only_null)
    return pc.binary_join(kept, sep)


def _concat_ws(sep: str, args: list[pa.Array], n: int) -> pa.Array:
    """concat_ws: NULLs skipped; '' where every argument is NULL (Arrow's skip drops such a row)."""
    none = np.ones(n, bool)
    for a in args:
        none &= _is_null(a)
    if none.any():
        args = [pc.if_else(pa.array(none), pa.scalar("", pa.string()), args[0]), *args[1:]]
    return pc.binary_join_element_wise(*args, sep, null_handling="skip")


def _struct(names: list[str], values: list[Value], n: int) -> pa.Array:
    return pa.StructArray.from_arrays([_array(v, n) for v in values], names)


def _in(value: Value, options: list[Value], n: int) -> pa.Array:
    """x IN (a, b, ...): NULL when x is NULL, or when nothing equals it and an option is NULL."""
    hit, unknown = np.zeros(n, bool), np.zeros(n, bool)
    for o in options:
        eq = _array(pc.equal(value, o), n)
        hit |= _bools(eq, n)
        unknown |= _is_null(eq)
    return pa.array(hit, mask=~hit & unknown)


def _strpos(s: Value, sub: Value, n: int) -> pa.Array:
    """strpos: the 1-based character position of the first occurrence, 0 if none."""
    a, b = _array(s, n), _array(sub, n)
    null = _is_null(a) | _is_null(b)
    left = np.asarray(pc.fill_null(a, "").to_numpy(zero_copy_only=False), dtype=object).astype(str)
    right = np.asarray(pc.fill_null(b, "").to_numpy(zero_copy_only=False), dtype=object).astype(str)
    found = np.char.find(left, right) + 1 if n else np.zeros(0, np.int64)
    return pa.array(np.asarray(found, np.int64), mask=null)


def _make_date(y: Value, m: Value, d: Value, n: int) -> pa.Array:
    y, m, d = (_array(v, n).cast(pa.int64()) for v in (y, m, d))
    null = _is_null(y) | _is_null(m) | _is_null(d)
    days, _ = _valid_dates(*(np.asarray(pc.fill_null(v, 1).to_numpy(zero_copy_only=False), np.int64) for v in (y, m, d)))
    return pa.array(days.astype(np.int32), pa.date32(), mask=null)


@dataclass(frozen=True)
class _Years:
    """INTERVAL (n) YEAR: only ever added to a date."""

    n: Value


def _plus(a: Value, b: Value, n: int) -> Value:
    if isinstance(b, _Years) or isinstance(a, _Years):
        dates, years = (a, b.n) if isinstance(b, _Years) else (b, a.n)
        return _add_years(_array(dates, n), _array(years, n), n)
    return pc.add(a, b)


def _add_years(dates: pa.Array, years: pa.Array, n: int) -> pa.Array:
    """date + INTERVAL n YEAR: the same day and month n years on (29 February to the 28th)."""
    null = _is_null(dates) | _is_null(years)
    d = np.asarray(pc.fill_null(dates.cast(pa.date32()), 0).to_numpy(zero_copy_only=False)).astype("datetime64[D]")
    k = np.asarray(pc.fill_null(years.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + 12 * k
    out = target.astype("datetime64[D]") + np.minimum(day, _month_length(target) - 1)
    return pa.array(out, pa.date32(), mask=null) if n else pa.array([], pa.date32())


def _date_diff(part: Value, a: Value, b: Value, n: int) -> pa.Array:
    if str(part.as_py()).lower() not in ("year", "years", "y", "yr", "yrs", "yyyy"):
        raise Unsupported(f"date_diff by {part.as_py()}")
    a, b = (_array(v, n).cast(pa.date32()) for v in (a, b))
    ya = pc.year(a)
    yb = pc.year(b)
    return pc.subtract(yb, ya)


def _add_to_list(lists: pa.Array, x: pa.Array, n: int, first: bool) -> pa.Array:
    """list_prepend / list_append: the element before or after each row's list."""
    flat, parents = _flat(lists)
    elements, xs = _common([flat, x], n)
    rows = np.r_[parents, np.arange(n)]
    side = np.r_[np.ones(len(parents)), np.zeros(n)] if first else np.r_[np.zeros(len(parents)), np.ones(n)]
    order = np.lexsort((np.arange(len(rows)), side, rows))
    return _rebuild(pa.concat_arrays([elements, xs]).take(pa.array(order)), rows[order], n, np.zeros(n, bool))


def _month_length(month: np.ndarray) -> np.ndarray:
    """Days in each month (datetime64[M])."""
    return ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64)


def _valid_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970 of (year, month, day) and whether such a day exists."""
    ok = (m >= 1) & (m <= 12) & (d >= 1)
    month = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + np.where(ok, m - 1, 0)
    ok &= d <= _month_length(month)
    return (month.astype("datetime64[D]") + np.where(ok, d - 1, 0)).astype(np.int64), ok


def _dates(s: pa.Array, pattern: str, known_null: str, duckdb_sql: str) -> pa.Array:
    """Text to DATE as DuckDB's `duckdb_sql` (over `x`) reads it: values matching `pattern` (groups
    y, m, d) parsed and checked here, values matching `known_null` (or empty) NULL, and any other
    value (a time after the date, another separator: rare) read by DuckDB itself."""
    n = len(s)
    parts = pc.extract_regex(s, pattern)
    matched = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), bool)
    if "a" in [f.name for f in parts.type]:  # the two separators must be the same
        same = pc.equal(pc.struct_field(parts, "a"), pc.struct_field(parts, "b"))
        matched &= _bools(same, n)
    ymd = [np.asarray(pc.fill_null(pc.struct_field(parts, k), "1").cast(pa.int64()).to_numpy(zero_copy_only=False))
           for k in ("y", "m", "d")]
    days, ok = _valid_dates(*ymd)
    out = np.where(matched & ok, days, 0)
    null = ~(matched & ok)
    rest = ~matched & ~_is_null(s) & ~_bools(pc.match_substring_regex(s, known_null), n) & _bools(pc.not_equal(s, ""), n)
    result = pa.array(out.astype(np.int32), pa.date32(), mask=null)
    if not rest.any():
        return result
    rows = np.flatnonzero(rest)
    got = _duckdb_values(duckdb_sql, s.take(pa.array(rows))).cast(pa.date32())
    at = np.arange(n)
    at[rows] = n + np.arange(len(rows))
    return pa.concat_arrays([result, got]).take(pa.array(at))


_ISO_DATE = r"^(?P<y>\d{4})(?P<a>[-/ \\])(?P<m>\d{1,2})(?P<b>[-/ \\])(?P<d>\d{1,2})$"
_DMY_DATE = r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$"
_ISO_NULL = r"^\d{1,2}/\d{1,2}/\d{4}$"
_DMY_NULL = r"^\d{4}[-/ ]\d{1,2}[-/ ]\d{1,2}$"
_ONE_DATE = {pattern: (re.compile(pattern.replace("\\d", "[0-9]")), re.compile(known_null.replace("\\d", "[0-9]")))
             for pattern, known_null in ((_ISO_DATE, _ISO_NULL), (_DMY_DATE, _DMY_NULL))}


def one_date(text: str | None, pattern: str) -> date | None:
    """_dates over one value in Python (RE2's \\d is [0-9]; `$` is the end, as fullmatch): the
    date, or None for NULL; raises Unsupported for a value only DuckDB reads (or year 0)."""
    if text is None or text == "":
        return None
    read, known_null = _ONE_DATE[pattern]
    got = read.fullmatch(text)
    if got is None:
        if known_null.fullmatch(text):
            return None
        raise Unsupported("a date only DuckDB reads")
    parts = got.groupdict()
    if "a" in parts and parts["a"] != parts["b"]:
        raise Unsupported("a date only DuckDB reads")  # as _dates: not matched, so DuckDB's
    y, m, d = int(parts["y"]), int(parts["m"]), int(parts["d"])
    if y == 0:
        raise Unsupported("year 0")
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _try_date(s: Value) -> Value:
    """TRY_CAST(text AS DATE)."""
    return _dates(s, _ISO_DATE, _ISO_NULL, "TRY_CAST(x AS DATE)")


def _try_strptime(s: Value, fmt: Value) -> Value:
    """try_strptime(text, '%d/%m/%Y') (a timestamp in DuckDB; its date is what the rules read)."""
    if fmt.as_py() != "%d/%m/%Y":
        raise Unsupported(f"try_strptime format {fmt.as_py()!r}")
    return _dates(s, _DMY_DATE, _DMY_NULL, "try_strptime(x, '%d/%m/%Y')").cast(
        pa.timestamp("us"))


def strip_accents(text: str) -> str:
    """strip_accents as DuckDB's (utf8proc: decomposed, marks dropped, composed), for one value."""
    return unicodedata.normalize("NFC", "".join(ch for ch in unicodedata.normalize("NFD", text)
                                                if unicodedata.category(ch) != "Mn"))


def _strip_accents(s: Value) -> Value:
    """strip_accents on distinct values."""
    encoded = pc.dictionary_encode(s)
    folded = [None if v is None else strip_accents(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(folded, pa.string()).take(encoded.indices)


def _regexp_replace(s: Value, pattern: Value, replacement: Value, options: Value | None = None) -> Value:
    """The first match replaced; with option 'g', every match."""
    opts = "" if options is None else str(options.as_py())
    if opts not in ("", "g"):
        raise Unsupported(f"regexp_replace options {opts!r}")
    return pc.replace_substring_regex(s, pattern=pattern.as_py(), replacement=replacement.as_py(),
                                      max_replacements=None if opts == "g" else 1)


def _split_part(s: Value, sep: Value, index: Value) -> Value:
    """split_part(s, sep, i): the i-th part (1-based), '' past the last."""
    i = int(index.as_py())
    if i < 1:
        raise Unsupported("split_part from the end")
    parts = pc.split_pattern(s, pattern=sep.as_py())
    longer = pc.greater_equal(pc.list_value_length(parts), i)
    safe = pc.if_else(longer, parts, pa.scalar([""] * i, parts.type))
    return pc.list_element(safe, i - 1)


def _strftime(v: Value, fmt: Value) -> Value:
    if pa.types.is_date(v.type):
        v = v.cast(pa.timestamp("s"))
    return pc.strftime(v, format=fmt.as_py())


def _nullif(a: Value, b: Value, n: int) -> Value:
    same = _bools(pc.equal(a, b), n)
    a = _array(a, n)
    return pc.if_else(pa.array(same), pa.scalar(None, a.type), a)


def _range(a: Value, b: Value, n: int) -> pa.Array:
    lo, hi = int(a.as_py()), int(b.as_py())
    return pa.array([list(range(lo, hi))] * n, pa.list_(pa.int64()))


def _cast(v: Value, type_name: str, n: int, try_cast: bool) -> Value:
    t = type_name.upper()
    if t == "DATE":
        if pa.types.is_string(v.type) and try_cast:
            return _try_date(_array(v, n))
        if isinstance(v, pa.Scalar) and pa.types.is_string(v.type):  # DATE '2026-01-01'
            return pa.scalar(date.fromisoformat(v.as_py()), pa.date32())
        if pa.types.is_timestamp(v.type):
            return v.cast(pa.date32())
        if pa.types.is_date(v.type):
            return v
        raise Unsupported(f"CAST to DATE from {v.type}")
    target = {"VARCHAR": pa.string(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INTEGER": pa.int32(),
              "INT": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}.get(t)
    if target is None or (try_cast and target != pa.string()):
        raise Unsupported(f"CAST to {type_name}")
    if pa.types.is_list(v.type):
        raise Unsupported("CAST of a list")
    if v.type == pa.null():
        return pa.scalar(None, target)
    return v.cast(target)


_COMPARE = {"COMPARE_EQUAL": pc.equal, "COMPARE_NOTEQUAL": pc.not_equal, "COMPARE_LESSTHAN": pc.less,
            "COMPARE_LESSTHANOREQUALTO": pc.less_equal, "COMPARE_GREATERTHAN": pc.greater,
            "COMPARE_GREATERTHANOREQUALTO": pc.greater_equal}

# function name -> its evaluation from the arguments' values and the row count
_FUNCTIONS: dict[str, Callable[[list[Value], int], Value]] = {
    "string_split": lambda a, n: pc.split_pattern(a[0], pattern=a[1].as_py()),
    "list_has_any": lambda a, n: _list_has_any(_array(a[0], n), _array(a[1], n), n),
    "list_has_all": lambda a, n: _list_has_all(_array(a[0], n), _array(a[1], n), n),
    "list_contains": lambda a, n: _list_contains(_array(a[0], n), _array(a[1], n), n),
    "list_value": lambda a, n: _list_value(a, n),
    "len": lambda a, n: pc.list_value_length(a[0]),
    "length": lambda a, n: pc.utf8_length(a[0]),
    "regexp_replace": lambda a, n: _regexp_replace(*a),
    "split_part": lambda a, n: _split_part(a[0], a[1], a[2]),
    "strftime": lambda a, n: _strftime(a[0], a[1]),
    "suffix": lambda a, n: pc.ends_with(a[0], pattern=a[1].as_py()),
    "abs": lambda a, n: pc.abs(a[0]),
    "-": lambda a, n: pc.negate(a[0]) if len(a) == 1 else pc.subtract(a[0], a[1]),
    "+": lambda a, n: _plus(a[0], a[1], n),
    "*": lambda a, n: pc.multiply(a[0], a[1]),
    "least": lambda a, n: pc.min_element_wise(*_common(a, n), skip_nulls=True),
    "greatest": lambda a, n: pc.max_element_wise(*_common(a, n), skip_nulls=True),
    "hamming": lambda a, n: _distance(Hamming.distance, a[0], a[1], n),
    "damerau_levenshtein": lambda a, n: _distance(DamerauLevenshtein.distance, a[0], a[1], n),
    "jaro_winkler_similarity": lambda a, n: _distance(JaroWinkler.normalized_similarity, a[0], a[1], n, np.float64),
    "trim": lambda a, n: pc.utf8_trim(a[0], characters=" "),
    "lower": lambda a, n: pc.utf8_lower(a[0]),
    "strip_accents": lambda a, n: _strip_accents(_array(a[0], n)),
    "replace": lambda a, n: pc.replace_substring(a[0], pattern=a[1].as_py(), replacement=a[2].as_py()),
    "nullif": lambda a, n: _nullif(a[0], a[1], n),
    "lpad": lambda a, n: _lpad(a[0], a[1], a[2]),
    "substr": lambda a, n: _substr(*a),
    "substring": lambda a, n: _substr(*a),
    "||": lambda a, n: _concat(a, n),
    "concat_ws": lambda a, n: _concat_ws(a[0].as_py(), [_array(_strings(x), n) for x in a[1:]], n),
    "array_to_string": lambda a, n: _array_to_string(_array(a[0], n), a[1].as_py(), n),
    "list_sort": lambda a, n: _sorted_lists(_array(a[0], n), n, a[1].as_py() if len(a) > 1 else "ASC"),
    "list_prepend": lambda a, n: _add_to_list(_array(a[1], n), _array(a[0], n), n, first=True),
    "list_append": lambda a, n: _add_to_list(_array(a[0], n), _array(a[1], n), n, first=False),
    "range": lambda a, n: _range(a[0], a[1], n),
    "list_concat": lambda a, n: _list_concat(_array(a[0], n), _array(a[1], n), n),
    "strpos": lambda a, n: _strpos(a[0], a[1], n),
    "regexp_matches": lambda a, n: pc.match_substring_regex(a[0], pattern=a[1].as_py()),
    "&": lambda a, n: pc.bit_wise_and(a[0], a[1]),
    ">>": lambda a, n: pc.shift_right(a[0], a[1]),
    "<<": lambda a, n: pc.shift_left(a[0], a[1]),
    "date_diff": lambda a, n: _date_diff(a[0], a[1], a[2], n),
    "make_date": lambda a, n: _make_date(a[0], a[1], a[2], n),
    "to_years": lambda a, n: _Years(a[0]),
    "trunc": lambda a, n: pc.trunc(a[0]),
    "try_strptime": lambda a, n: _try_strptime(_array(a[0], n), a[1]),
}
# the arguments (by position) that must be literals: their values choose the kernel's options
_CONSTANT_ARGS = {"string_split": (1,), "regexp_replace": (1, 2, 3), "suffix": (1,), "replace": (1, 2),
                  "lpad": (1, 2), "substr": (1, 2), "substring": (1, 2), "concat_ws": (0,), "array_to_string": (1,),
                  "range": (0, 1), "regexp_matches": (1,), "split_part": (1, 2), "strftime": (1,), "date_diff": (0,),
                  "list_sort": (1,), "try_strptime": (1,)}


def _constant(lit: dict[str, Any]) -> pa.Scalar:
    kind, text = lit["kind"], lit.get("text", "")
    if kind == "NULL_LITERAL":
        return pa.scalar(None)
    if kind == "STRING":
        return pa.scalar(text, pa.string())
    if kind in ("INTEGER", "BIGINT", "HUGEINT", "TINYINT", "SMALLINT"):
        return pa.scalar(int(text), pa.int64())
    if kind == "BOOLEAN":
        return pa.scalar(text.lower() == "true" if text else bool(lit.get("value")), pa.bool_())
    if kind in ("DECIMAL", "DOUBLE", "FLOAT", "NUMERIC"):
        return pa.scalar(float(text), pa.float64())
    raise Unsupported(f"constant of kind {kind}")


def _field_index(struct: pa.Array, field: str) -> int:
    if not pa.types.is_struct(struct.type):
        raise KeyError(field)
    return struct.type.get_field_index(field)


def _all_are(v: Value, value: bool, n: int) -> bool:
    """Whether every row of a condition is `value` (no NULL)."""
    if isinstance(v, pa.Scalar):
        return v.is_valid and v.as_py() is value
    return v.null_count == 0 and (v.true_count if value else v.false_count) == n


def _cached(node: dict[str, Any], fn: Fn) -> Fn:
    key = json.dumps(_shape(node), sort_keys=True)

    def run(env: Env) -> Value:
        got = env.cache.get(key)
        if got is None:
            got = env.cache[key] = fn(env)
        return got

    return run


def _shape(node: Any) -> Any:
    """A node without its place in the text (two equal subexpressions compare equal)."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items() if k not in ("query_location", "query_location_length", "alias")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def compile_node(node: dict[str, Any]) -> Fn:
    """A node's closure; a subexpression that reads no column is evaluated once, here."""
    fn = _compile(node)
    if node["class"] == "COLUMN_REF":  # a look-up: nothing to keep
        return fn
    if node["class"] not in ("CONSTANT", "LAMBDA"):
        value = _constant_of(node, fn)
        if value is not None:
            return lambda env: value
    return _cached(node, fn)


def _compile(node: dict[str, Any]) -> Fn:
    cls, typ = node["class"], node["type"]
    if cls == "COLUMN_REF":
        name = ".".join(node["column_names"])

        if len(node["column_names"]) == 2:  # a column of a side, or a field of a struct (x.t in a lambda)
            base, field = node["column_names"]

            def column_or_field(env: Env) -> Value:
                try:
                    return env.columns[name]
                except KeyError:
                    return pc.struct_field(env.columns[base], [_field_index(env.columns[base], field)])
            return column_or_field
        return lambda env: env.columns[name]
    if cls == "CONSTANT":
        value = _constant(node["literal"]) if "literal" in node else pa.scalar(node.get("value"))
        return lambda env: value
    if cls == "CONJUNCTION":
        kids = [compile_node(c) for c in node["children"]]
        op = pc.and_kleene if typ == "CONJUNCTION_AND" else pc.or_kleene

        settled = False if typ == "CONJUNCTION_AND" else True

        def conj(env: Env) -> Value:
            out = kids[0](env)
            for k in kids[1:]:
                if _all_are(out, settled, env.n):  # DuckDB's AND / OR stop there too
                    break
                out = op(out, k(env))
            return out
        return conj
    if cls == "COMPARISON":
        left, right = compile_node(node["left"]), compile_node(node["right"])
        op = _COMPARE.get(typ)
        if op is None:
            raise Unsupported(typ)
        return lambda env: op(left(env), right(env))
    if cls == "OPERATOR":
        kids = [compile_node(c) for c in node["children"]]
        if typ == "OPERATOR_NOT":
            return lambda env: pc.invert(kids[0](env))
        if typ == "OPERATOR_IS_NULL":
            return lambda env: pc.is_null(kids[0](env))
        if typ == "OPERATOR_IS_NOT_NULL":
            return lambda env: pc.is_valid(kids[0](env))
        if typ == "OPERATOR_COALESCE":
            return lambda env: pc.coalesce(*_common([k(env) for k in kids], env.n))
        if typ in ("COMPARE_IN", "COMPARE_NOT_IN"):
            negate = typ == "COMPARE_NOT_IN"

            def member(env: Env) -> Value:
                got = _in(kids[0](env), [k(env) for k in kids[1:]], env.n)
                return pc.invert(got) if negate else got
            return member
        if typ == "ARRAY_SLICE" and len(kids) == 3 and all(c["class"] == "CONSTANT" for c in node["children"][1:]):
            return lambda env: _slice_lists(_array(kids[0](env), env.n), kids[1](env), kids[2](env), env.n)
        raise Unsupported(typ)
    if cls == "CASE":
        checks = [(compile_node(c["when_expr"]), compile_node(c["then_expr"])) for c in node["case_checks"]]
        other = compile_node(node["else_expr"])
        subject = _simple_subject(node)
        fixed = _constant_branches([c["then_expr"] for c in node["case_checks"]] + [node["else_expr"]])
        return lambda env: _case(env, checks, other, fixed, subject)
    if cls == "CAST":
        child = compile_node(node["child"])
        t = node["type_expr"] if "type_expr" in node else node.get("cast_type", {})
        type_name = t.get("type_name") or t.get("id", "")
        if t.get("children"):
            raise Unsupported(f"CAST to {type_name}(...)")
        try_cast = bool(node.get("try_cast"))
        return lambda env: _cast(child(env), type_name, env.n, try_cast)
    if cls == "FUNCTION":
        return _function(node)
    raise Unsupported(f"{cls} {typ}")


def _simple_subject(node: dict[str, Any]) -> tuple[Fn, list[Any]] | None:
    """`CASE x WHEN 0 THEN ... WHEN 1 THEN ...` (every condition `x = constant` on the same x,
    the constants all integers or all texts): x's closure and the constants, so the branch is
    found by one pass over x's values instead of a comparison kernel per branch."""
    whens = [c["when_expr"] for c in node["case_checks"]]
    if not whens or any(w["class"] != "COMPARISON" or w["type"] != "COMPARE_EQUAL" or w["right"]["class"] != "CONSTANT"
                        for w in whens):
        return None
    if len({json.dumps(_shape(w["left"]), sort_keys=True) for w in whens}) != 1:
        return None
    options = [_constant(w["right"]["literal"]).as_py() for w in whens]
    if not (all(type(o) is int for o in options) or all(type(o) is str for o in options)):
        return None
    return compile_node(whens[0]["left"]), options


def _chosen_by_subject(env: Env, subject: tuple[Fn, list[Any]], chosen: np.ndarray) -> bool:
    """The simple CASE's branch of each row (unchanged where none holds); False when x's type
    does not fit the constants (the conditions are then evaluated one by one)."""
    fn, options = subject
    x = _array(fn(env), env.n)
    numeric = type(options[0]) is int
    if not (pa.types.is_integer(x.type) if numeric else pa.types.is_string(x.type) or pa.types.is_large_string(x.type)):
        return False
    values = np.asarray(x.to_numpy(zero_copy_only=False), dtype=object)
    open_ = ~_is_null(x)
    for i, option in enumerate(options):
        hold = open_ & (values == option)
        chosen[hold] = i
        open_ &= ~hold
    return True


def _constant_branches(branches: list[dict[str, Any]]) -> tuple[pa.DataType | None, np.ndarray] | None:
    """When every branch of a CASE is a constant: their common type and their values, found once."""
    constants = [_constant_of(b) for b in branches]
    if any(c is None for c in constants):
        return None
    target = _unify([c.type for c in constants])
    values = np.empty(len(constants), dtype=object)  # element by element: a list constant stays a list
    values[:] = [c.as_py() for c in constants]
    return (target if target != pa.null() else None), values


def _case(env: Env, checks: list[tuple[Fn, Fn]], other: Fn,
          constants: tuple[pa.DataType | None, np.ndarray] | None,
          subject: tuple[Fn, list[Any]] | None = None) -> Value:
    """CASE: each row takes the first branch whose condition holds (conditions are not evaluated
    once every row has its branch); constant branches are picked from an array of their values."""
    n = env.n
    chosen = np.full(n, len(checks), np.int64)
    open_ = np.ones(n, bool)
    if subject is not None and _chosen_by_subject(env, subject, chosen):
        open_[:] = False
    for i, (when, _) in enumerate(checks):
        if not open_.any():
            break
        hold = _bools(when(env), n) & open_
        chosen[hold] = i
        open_ &= ~hold
    if constants is not None:
        target, values = constants
        return pa.array(values[chosen].tolist(), type=target)
    branches = [then for _, then in checks] + [other]
    used = np.unique(chosen)  # a branch no row takes is not evaluated (unless it alone gives a type)
    values = [branches[i](env) for i in used]
    if _unify([v.type for v in values]) == pa.null() and len(used) < len(branches):
        used = np.arange(len(branches))
        values = [b(env) for b in branches]
    if len(used) == 1:
        return _array(values[0], n)
    arrays = _common(values, n)
    slot = np.searchsorted(used, chosen)
    return pa.concat_arrays(arrays).take(pa.array(slot * n + np.arange(n)))


def _constant_of(node: dict[str, Any], fn: Fn | None = None) -> pa.Scalar | None:
    """The value of a subexpression that reads no column (a literal, -1, a cast of one)."""
    text = json.dumps(node)
    if "COLUMN_REF" in text or "LAMBDA" in text:
        return None
    try:
        got = (fn or _compile(node))(Env({}, 1, {}))
    except (Unsupported, KeyError, pa.ArrowException):
        return None
    return got if isinstance(got, pa.Scalar) else None


def _function(node: dict[str, Any]) -> Fn:
    name = node["function_name"].lower()
    if node.get("distinct") or node.get("filter") or node.get("order_bys", {}).get("orders"):
        raise Unsupported(f"{name} with DISTINCT, FILTER or ORDER BY")
    args = [a["expression"] for a in node["arguments"]]
    if name in ("list_transform", "list_filter", "list_apply", "array_transform", "array_filter"):
        lists = compile_node(args[0])
        param, body = _lambda(args[1])
        keep = "filter" in name

        def with_lambda(env: Env) -> Value:
            col = _array(lists(env), env.n)
            flat, got, parents = _in_lambda(env, col, param, body)
            if keep:
                mask = _bools(got, len(flat))
                return _rebuild(flat.filter(pa.array(mask)), parents[mask], env.n, _is_null(col))
            return _rebuild(_array(got, len(flat)), parents, env.n, _is_null(col))
        return with_lambda
    if name == "struct_pack":
        names = [a["name"] for a in node["arguments"]]
        if not all(names):
            raise Unsupported("struct_pack without field names")
        fields = [compile_node(a) for a in args]
        return lambda env: _struct(names, [f(env) for f in fields], env.n)
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise Unsupported(f"function {name}")
    kids = [compile_node(a) for a in args]
    for i in _CONSTANT_ARGS.get(name, ()):
        if i < len(args) and args[i]["class"] != "CONSTANT":
            raise Unsupported(f"{name} with a non-constant argument {i + 1}")
    return lambda env: fn([k(env) for k in kids], env.n)


# -- selects ---------------------------------------------------------------------------------------


# Up to this many rows an expression runs in Python row by row (linkage/backends/arrow_row.py): each
# Arrow kernel's fixed cost is then most of the work (docs/benchmarks.md, "Screening at the desk").
FEW_ROWS = 16


@dataclass
class Select:
    """A compiled select list: named expressions, and a star (with its exclusions) first."""

    star: tuple[str, ...] | None
    items: list[tuple[str, Fn]]
    row: list[tuple[str, Any]] | None = None  # the items over one row (linkage/backends/arrow_row.py)

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.over(Columns(lambda name: table.column(name).combine_chunks()), table.num_rows,
                         table.column_names)

    def over(self, columns: dict[str, pa.Array], n: int, star: list[str] | None = None) -> pa.Table:
        """The select list over `columns` (a star selects `star`, the input table's columns)."""
        cols: dict[str, pa.Array] = {}
        if self.star is not None:
            cols.update({c: columns[c] for c in star or [] if c not in self.star})
        if n <= FEW_ROWS and self.row is not None:
            from linkage.backends.arrow_row import few_rows

            got = few_rows([fn for _, fn in self.row], columns, n)
            if got is not None:
                cols.update(zip((name for name, _ in self.row), got))
                return pa.table(cols)
        env = Env(columns, n, {})
        for name, fn in self.items:
            cols[name] = _array(fn(env), n)
        return pa.table(cols)


def compile_select(sql: str) -> Select:
    """`SELECT [* EXCLUDE (...),] expr AS name, ... FROM ...` (the FROM is the caller's)."""
    from linkage.backends.arrow_row import row_items

    star = None
    items = []
    nodes = []
    for node in parse_select(sql):
        if node["class"] == "STAR":
            if node.get("replace_list") or node.get("columns") or node.get("rename_list"):
                raise Unsupported("STAR with REPLACE, COLUMNS or RENAME")
            star = tuple(node.get("exclude_list") or ()) + tuple(
                q["column_names"][-1] for q in node.get("qualified_exclude_list") or [])
            continue
        name = node.get("alias") or (node["column_names"][-1] if node["class"] == "COLUMN_REF" else None)
        if not name:
            raise Unsupported("a select item without a name")
        items.append((name, compile_node(node)))
        nodes.append((name, node))
    return Select(star, items, row_items(nodes))


def table_query(sql: str) -> Callable[[pa.Table], pa.Table]:
    """`SELECT ... FROM {source}` over one Arrow table: compiled here when it can be, else run by
    DuckDB with the table as `{source}`."""
    try:
        return compile_select(sql.replace("{source}", "_source"))
    except Unsupported:
        return lambda table: duckdb_query(sql.replace("{source}", "_source"), {"_source": table})


def evaluate(fn: Fn, columns: dict[str, pa.Array], n: int) -> pa.Array:
    """One compiled expression over columns of length n."""
    return _array(fn(Env(columns, n, {})), n)


@dataclass
class Expression:
    """A rules' expression over `l.` / `r.` columns: evaluated here when it compiles, else by
    DuckDB (one small statement, the columns passed as structs `l` and `r`)."""

    sql: str
    fn: Fn | None
    row: Any = None  # its one-row closure (linkage/backends/arrow_row.py), when it has one

    def __call__(self, columns: dict[str, pa.Array], n: int) -> pa.Array:
        if self.fn is not None:
            return evaluate_many([self], columns, n)[0]
        return _by_duckdb(self.sql, columns, n)


def evaluate_many(exprs: list[Expression], columns: dict[str, pa.Array], n: int) -> list[pa.Array]:
    """Several expressions over the same columns, their common subexpressions evaluated once (up
    to FEW_ROWS rows in Python row by row, linkage/backends/arrow_row.py, when every expression has
    a one-row form)."""
    if n <= FEW_ROWS and all(e.row is not None for e in exprs):
        from linkage.backends.arrow_row import few_rows

        got = few_rows([e.row for e in exprs], columns, n)
        if got is not None:
            return got
    env = Env(columns, n, {})
    return [_array(e.fn(env), n) if e.fn is not None else e(columns, n) for e in exprs]


def expression(sql: str) -> Expression:
    from linkage.backends.arrow_row import row_items

    try:
        node = parse_select(f"SELECT {sql}")[0]
        fn = compile_node(node)
    except Unsupported:
        return Expression(sql, None)
    row = row_items([("v", node)])
    return Expression(sql, fn, row[0][1] if row else None)


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """The thread's DuckDB connection for what is not evaluated here."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(":memory:")
        con.execute("SET threads = 1")
    return con


def duckdb_query(sql: str, tables: dict[str, pa.Table], con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """`sql` run by DuckDB over Arrow tables registered under their names (what the evaluator
    leaves to it, on the thread's connection; or on `con`), unregistered afterwards."""
    con = con or _connection()
    for name, table in tables.items():
        con.register(name, table)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        for name in tables:
            con.unregister(name)


def _duckdb_values(sql: str, values: pa.Array) -> pa.Array:
    """`sql` over a column `x` of `values`, by DuckDB."""
    table = pa.table({"x": values, "_row": pa.array(np.arange(len(values)))})
    return duckdb_query(f"SELECT {sql} AS v FROM _values ORDER BY _row", {"_values": table}).column(0).combine_chunks()


def _by_duckdb(sql: str, columns: dict[str, pa.Array], n: int) -> pa.Array:
    """An expression over `l.` / `r.` columns, by DuckDB: the sides passed as struct columns."""
    sides_: dict[str, dict[str, pa.Array]] = {}
    for side, col in sorted(set(re.findall(r"\b([lr])\.([A-Za-z_][A-Za-z0-9_]*)", sql))):
        sides_.setdefault(side, {})[col] = columns[f"{side}.{col}"]
    table = pa.table({side: pa.StructArray.from_arrays(list(cols.values()), list(cols.keys()))
                      for side, cols in sides_.items()} | {"_row": pa.array(np.arange(n))})
    return duckdb_query(f"SELECT {sql} AS v FROM _cols ORDER BY _row", {"_cols": table}).column(0).combine_chunks()
