"""The rules' SQL over a few rows, in Python, row by row: a desk call's keys, pairs, derived columns
and output rows are one to a few rows, and over so few each Arrow kernel's fixed cost (a few
microseconds, some thousand kernels for a lead's explanation) is all of the work. The same
expression tree as linkage/backends/arrow_sql.py, compiled a second time into closures over
(value, Arrow type) pairs for the nodes whose semantics are plain in Python (column look-ups,
constants, AND / OR / NOT, comparisons, IS NULL, COALESCE, IN, CASE, `||`, `&`, `>>`, nullif, casts
to text and to DATE, struct_pack, list_value, list_filter / list_transform, slices) and the
functions in `_PLAIN` (text, list, date and number functions the rules call), each for the types
the rules give it; any other function, or one given other types, runs its Arrow kernel on one-row
arrays of its arguments' values. Types follow arrow_sql's rules (a CASE takes its taken branch's
type, its constant branches' common type), so a row evaluated here equals the Arrow path's row
(tests/test_arrow_row.py compares them on every expression of the default rules and edge cases)."""

from __future__ import annotations

import calendar
import functools
import json
import operator
import re
from datetime import date, datetime
from typing import Any, Callable, Mapping

import pyarrow as pa
from rapidfuzz.distance import DamerauLevenshtein, Hamming, JaroWinkler

from linkage.backends import arrow_sql as A

Row = tuple[Any, Any]  # a value (Python) and its Arrow type (None: an object only Arrow kernels use)


class RowEnv:
    """Row `row` of columns (Arrow arrays of the call's rows, read as Python lists once per call and
    shared by its rows' envs in `lists`), the values evaluated so far, the lambda parameters bound,
    and an Arrow Env of the row for what runs as Arrow."""

    __slots__ = ("columns", "cache", "bound", "row", "lists", "_arrow")

    def __init__(self, columns: Mapping[str, pa.Array], bound: dict[str, Row] | None = None, row: int = 0,
                 lists: dict[str, tuple[list[Any], pa.DataType]] | None = None) -> None:
        self.columns, self.cache, self.bound, self._arrow = columns, {}, bound or {}, None
        self.row, self.lists = row, {} if lists is None else lists

    def value(self, name: str) -> Row:
        """A column's value in this row, and its type."""
        got = self.lists.get(name)
        if got is None:
            col = self.columns[name]
            got = self.lists[name] = (col.to_pylist(), col.type)
        return got[0][self.row], got[1]

    def arrow(self) -> A.Env:
        """The row as the Arrow path sees it (a lambda's parameters as one-row columns)."""
        if self._arrow is None:
            outer, row = self.columns, self.row
            bound = {k: pa.array([v], t) for k, (v, t) in self.bound.items() if t is not None}
            self._arrow = A.Env(A.Columns(lambda name: outer[name].slice(row, 1), bound), 1, {})
        return self._arrow


RowFn = Callable[[RowEnv], Row]


def _of(value: Any) -> Row:
    """An Arrow result (array of one row, scalar, or an interval object) as a Row."""
    if isinstance(value, pa.Array):
        return value[0].as_py(), value.type
    if isinstance(value, pa.ChunkedArray):
        return _of(value.combine_chunks())
    if isinstance(value, pa.Scalar):
        return value.as_py(), value.type
    return value, None


def _to_arrow(row: Row) -> Any:
    value, typ = row
    if typ is None:
        return value
    return pa.array([value], typ)


def _as(row: Row, target: pa.DataType) -> Any:
    """The value as the target type gives it (arrow_sql._common's casts)."""
    value, typ = row
    if typ == target or value is None:
        return value
    if pa.types.is_integer(typ) and pa.types.is_floating(target):
        return float(value)
    return pa.scalar(value, typ).cast(target).as_py()


_KINDS = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_boolean, pa.types.is_date)


@functools.lru_cache(maxsize=4096)
def _unify(types: tuple[pa.DataType, ...]) -> pa.DataType:
    """arrow_sql._unify, once per combination of types (a row's nodes ask it again and again)."""
    return A._unify(list(types))


@functools.lru_cache(maxsize=4096)
def _comparable(a: pa.DataType, b: pa.DataType) -> bool:
    """Both sides of a kind Python compares as Arrow does (numbers, texts, booleans, dates)."""
    numeric = (pa.types.is_integer(a) or pa.types.is_floating(a)) and (pa.types.is_integer(b) or pa.types.is_floating(b))
    return numeric or any(k(a) and k(b) for k in _KINDS[2:])


_OPS = {"COMPARE_EQUAL": operator.eq, "COMPARE_NOTEQUAL": operator.ne, "COMPARE_LESSTHAN": operator.lt,
        "COMPARE_LESSTHANOREQUALTO": operator.le, "COMPARE_GREATERTHAN": operator.gt,
        "COMPARE_GREATERTHANOREQUALTO": operator.ge}


def _compare(op: str, a: Row, b: Row) -> Row:
    if a[0] is None or b[0] is None:
        return None, pa.bool_()
    if a[1] is not None and b[1] is not None and _comparable(a[1], b[1]):
        return _OPS[op](a[0], b[0]), pa.bool_()
    return _of(A._COMPARE[op](_to_arrow(a), _to_arrow(b)))


# -- compiling ---------------------------------------------------------------------------------------


def compile_row(node: dict[str, Any]) -> RowFn:
    """A node's one-row closure; constant subexpressions folded, equal ones evaluated once."""
    if node["class"] not in ("CONSTANT", "LAMBDA", "COLUMN_REF"):
        value = A._constant_of(node)
        if value is not None:
            got = (value.as_py(), value.type)
            return lambda env: got
    fn = _compile(node)
    if node["class"] in ("COLUMN_REF", "CONSTANT"):
        return fn
    key = json.dumps(A._shape(node), sort_keys=True)

    def cached(env: RowEnv) -> Row:  # a lambda's element has an env (and cache) of its own
        got = env.cache.get(key)
        if got is None:
            got = env.cache[key] = fn(env)
        return got
    return cached


def _literal(node: dict[str, Any]) -> bool:
    """Whether the Arrow path gives this argument as a scalar (a literal, or folded to one)."""
    return node["class"] == "CONSTANT" or (node["class"] != "LAMBDA" and A._constant_of(node) is not None)


def _compile(node: dict[str, Any]) -> RowFn:
    cls, typ = node["class"], node["type"]
    if cls == "COLUMN_REF":
        names = node["column_names"]
        name = ".".join(names)

        def column(env: RowEnv) -> Row:
            if names[0] in env.bound:  # a lambda's parameter, or a field of it
                value, t = env.bound[names[0]]
                for field in names[1:]:
                    value, t = (None if value is None else value[field]), t.field(field).type
                return value, t
            try:
                return env.value(name)
            except KeyError:
                if len(names) != 2:
                    raise
                return _of(A.compile_node(node)(env.arrow()))
        return column
    if cls == "CONSTANT":
        value = A._constant(node["literal"]) if "literal" in node else pa.scalar(node.get("value"))
        got = (value.as_py(), value.type)
        return lambda env: got
    if cls == "CONJUNCTION":
        kids = [compile_row(c) for c in node["children"]]
        settled = typ != "CONJUNCTION_AND"  # AND stops at a FALSE, OR at a TRUE

        def conj(env: RowEnv) -> Row:
            unknown = False
            for k in kids:
                v = k(env)[0]
                if v is None:
                    unknown = True
                elif bool(v) is settled:
                    return settled, pa.bool_()
            return (None if unknown else not settled), pa.bool_()
        return conj
    if cls == "COMPARISON":
        if typ not in _OPS:
            raise A.Unsupported(typ)
        left, right = compile_row(node["left"]), compile_row(node["right"])
        return lambda env: _compare(typ, left(env), right(env))
    if cls == "OPERATOR":
        return _operator(node)
    if cls == "CASE":
        return _case(node)
    if cls == "CAST":
        return _cast(node)
    if cls == "FUNCTION":
        return _function(node)
    raise A.Unsupported(f"{cls} {typ}")


def _operator(node: dict[str, Any]) -> RowFn:
    typ = node["type"]
    kids = [compile_row(c) for c in node["children"]]
    if typ == "OPERATOR_NOT":
        def negate(env: RowEnv) -> Row:
            v = kids[0](env)[0]
            return (None if v is None else not v), pa.bool_()
        return negate
    if typ in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL"):
        want = typ == "OPERATOR_IS_NULL"
        return lambda env: ((kids[0](env)[0] is None) is want, pa.bool_())
    if typ == "OPERATOR_COALESCE":
        def coalesce(env: RowEnv) -> Row:
            rows = [k(env) for k in kids]  # all evaluated, as the Arrow path does (their common type)
            target = _unify(tuple(t for _, t in rows))
            for r in rows:
                if r[0] is not None:
                    return _as(r, target), target
            return None, target
        return coalesce
    if typ in ("COMPARE_IN", "COMPARE_NOT_IN"):
        negate = typ == "COMPARE_NOT_IN"

        def member(env: RowEnv) -> Row:
            x = kids[0](env)
            hit = unknown = False
            for k in kids[1:]:
                eq = _compare("COMPARE_EQUAL", x, k(env))[0]
                hit, unknown = hit or eq is True, unknown or eq is None
            got = True if hit else (None if unknown else False)
            return (got if got is None or not negate else not got), pa.bool_()
        return member
    if typ == "ARRAY_SLICE" and len(kids) == 3 and all(c["class"] == "CONSTANT" for c in node["children"][1:]):
        lo, hi = (int(A._constant(c["literal"]).as_py()) for c in node["children"][1:])
        if lo < 1 or hi < 0:
            raise A.Unsupported("a list slice from the end")

        def sliced(env: RowEnv) -> Row:
            values, t = kids[0](env)
            return (None if values is None else values[lo - 1:hi]), t
        return sliced
    arrow = A.compile_node(node)
    return lambda env: _of(arrow(env.arrow()))  # what else arrow_sql evaluates: Arrow's own


def _case(node: dict[str, Any]) -> RowFn:
    checks = [(compile_row(c["when_expr"]), compile_row(c["then_expr"])) for c in node["case_checks"]]
    branches = [then for _, then in checks] + [compile_row(node["else_expr"])]
    fixed = A._constant_branches([c["then_expr"] for c in node["case_checks"]] + [node["else_expr"]])
    constant = None
    if fixed is not None:
        target, values = fixed
        constant = [(pa.array([v], target)[0].as_py(), target or pa.null()) for v in values.tolist()]

    def case(env: RowEnv) -> Row:
        chosen = len(checks)
        for i, (when, _) in enumerate(checks):
            if when(env)[0] is True:
                chosen = i
                break
        if constant is not None:
            return constant[chosen]
        got = branches[chosen](env)
        if got[1] == pa.null() and len(branches) > 1:  # the others give the type (arrow_sql._case)
            target = _unify(tuple(b(env)[1] for b in branches))
            return _as(got, target), target
        return got
    return case


def _cast(node: dict[str, Any]) -> RowFn:
    child = compile_row(node["child"])
    t = node["type_expr"] if "type_expr" in node else node.get("cast_type", {})
    type_name = t.get("type_name") or t.get("id", "")
    if t.get("children"):
        raise A.Unsupported(f"CAST to {type_name}(...)")
    try_cast = bool(node.get("try_cast"))
    literal = _literal(node["child"])  # the Arrow path gives _cast a literal as a scalar

    def cast(env: RowEnv) -> Row:
        value, typ = child(env)
        if type_name.upper() == "VARCHAR" and typ is not None and pa.types.is_string(typ):
            return value, typ
        if type_name.upper() == "DATE" and typ is not None and not literal:
            if try_cast and pa.types.is_string(typ):
                try:
                    return A.one_date(value, A._ISO_DATE), pa.date32()
                except A.Unsupported:  # a value only DuckDB reads: the Arrow path asks it
                    pass
            elif pa.types.is_timestamp(typ) and typ.tz is None:
                return (None if value is None else value.date()), pa.date32()
        arg = pa.scalar(value, typ) if literal and typ is not None else _to_arrow((value, typ))
        return _of(A._cast(arg, type_name, 1, try_cast))
    return cast


def _function(node: dict[str, Any]) -> RowFn:
    name = node["function_name"].lower()
    if node.get("distinct") or node.get("filter") or node.get("order_bys", {}).get("orders"):
        raise A.Unsupported(f"{name} with DISTINCT, FILTER or ORDER BY")
    args = [a["expression"] for a in node["arguments"]]
    if name in ("list_transform", "list_filter", "list_apply", "array_transform", "array_filter"):
        return _with_lambda(node, name, args)
    kids = [compile_row(a) for a in args]
    if name == "||" and len(kids) == 2:
        def concat(env: RowEnv) -> Row:
            a, b = kids[0](env), kids[1](env)
            ta, tb = _as_text(a), _as_text(b)
            if ta is not False and tb is not False:
                return (None if ta is None or tb is None else ta + tb), pa.string()
            return _of(A._FUNCTIONS["||"]([_to_arrow(a), _to_arrow(b)], 1))
        return concat
    if name in ("&", ">>") and len(kids) == 2:
        op = operator.and_ if name == "&" else operator.rshift

        def bits(env: RowEnv) -> Row:
            a, b = kids[0](env), kids[1](env)
            if a[1] == pa.int64() and b[1] == pa.int64() and (name == "&" or 0 <= (b[0] or 0) < 64):
                return (None if a[0] is None or b[0] is None else op(a[0], b[0])), pa.int64()
            return _of(A._FUNCTIONS[name]([_to_arrow(a), _to_arrow(b)], 1))
        return bits
    if name == "nullif":
        def nullif(env: RowEnv) -> Row:
            a, b = kids[0](env), kids[1](env)
            if a[1] is None or b[1] is None or not _comparable(a[1], b[1]):
                return _of(A._FUNCTIONS["nullif"]([_to_arrow(a), _to_arrow(b)], 1))
            return (None if a[0] is not None and a[0] == b[0] else a[0]), a[1]
        return nullif
    if name == "struct_pack":
        names = [a["name"] for a in node["arguments"]]
        if not all(names):
            raise A.Unsupported("struct_pack without field names")

        def struct(env: RowEnv) -> Row:
            rows = [k(env) for k in kids]
            if any(t is None for _, t in rows):
                return _of(A._struct(names, [_to_arrow(r) for r in rows], 1))
            return dict(zip(names, (v for v, _ in rows))), pa.struct(list(zip(names, (t for _, t in rows))))
        return struct
    if name == "list_value" and kids:
        def list_value(env: RowEnv) -> Row:
            rows = [k(env) for k in kids]
            target = _unify(tuple(t for _, t in rows))
            return [_as(r, target) for r in rows], pa.list_(target)
        return list_value
    fn = A._FUNCTIONS.get(name)
    if fn is None:
        raise A.Unsupported(f"function {name}")
    for i in A._CONSTANT_ARGS.get(name, ()):
        if i < len(args) and args[i]["class"] != "CONSTANT":
            raise A.Unsupported(f"{name} with a non-constant argument {i + 1}")
    literal = [_literal(a) for a in args]
    plain = _PLAIN.get(name)

    def via_arrow(env: RowEnv) -> Row:
        rows = [k(env) for k in kids]
        if plain is not None:
            got = plain(rows)
            if got is not None:
                return got
        return _of(fn([pa.scalar(v, t) if lit else _to_arrow((v, t)) for lit, (v, t) in zip(literal, rows)], 1))
    return via_arrow


def _sortable(typ: pa.DataType) -> bool:
    if pa.types.is_struct(typ):
        return all(_sortable(f.type) for f in typ)
    return (typ == pa.null() or pa.types.is_string(typ) or pa.types.is_boolean(typ) or pa.types.is_integer(typ)
            or pa.types.is_floating(typ))


def _sort_key(value: Any, typ: pa.DataType) -> tuple:
    """arrow_sql._sort_keys' order: a struct by its fields in order, a NULL field after every value."""
    if pa.types.is_struct(typ):
        return tuple(_sort_key(None if value is None else value[f.name], f.type) for f in typ)
    if value is None:
        return (1,)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        return (0, float(value))
    return (0, value)


def _list_sort(rows: list[Row]) -> Row | None:
    values, typ = rows[0]
    if typ is None or not pa.types.is_list(typ) or not _sortable(typ.value_type):
        return None
    if values is None:
        return None, typ
    direction = rows[1][0] if len(rows) > 1 else "ASC"
    present = [v for v in values if v is not None]
    present.sort(key=lambda v: _sort_key(v, typ.value_type), reverse=direction.upper() == "DESC")  # stable
    return present + [v for v in values if v is None], typ  # NULL elements last


def _list_concat(rows: list[Row]) -> Row | None:
    (a, ta), (b, tb) = rows
    if ta is None or tb is None or not (pa.types.is_list(ta) and pa.types.is_list(tb)):
        return None
    target = _unify((ta.value_type, tb.value_type))
    out = [_as((v, ta.value_type), target) for v in a or []] + [_as((v, tb.value_type), target) for v in b or []]
    return out, pa.list_(target)


def _array_to_string(rows: list[Row]) -> Row | None:
    (values, typ), (sep, _) = rows
    if typ is None or not pa.types.is_list(typ) or not pa.types.is_string(typ.value_type):
        return None
    present = [v for v in values or [] if v is not None]
    if values is None or (values and not present):  # DuckDB's: NULL elements skipped, all NULL gives NULL
        return None, pa.string()
    return sep.join(present), pa.string()


def _as_text(row: Row) -> str | None | bool:
    """A text or an integer as arrow_sql's cast to text writes it (False: another type)."""
    value, t = row
    if t is None or not (_text(t) or pa.types.is_integer(t) or t == pa.null()):
        return False
    return value if value is None or isinstance(value, str) else str(value)


def _concat_ws(rows: list[Row]) -> Row | None:
    texts = [_as_text(r) for r in rows[1:]]
    if any(v is False for v in texts):
        return None
    return rows[0][0].join(v for v in texts if v is not None), pa.string()


def _substr(rows: list[Row]) -> Row | None:
    """substr(s, start[, length]), 1-based, in code points (arrow_sql._substr)."""
    (v, t), (begin, _) = rows[:2]
    length = rows[2][0] if len(rows) > 2 else None
    if not _text(t) or not isinstance(begin, int) or begin < 1 or not (length is None or isinstance(length, int)):
        return None
    if v is None:
        return None, t
    return (v[begin - 1:] if length is None else v[begin - 1:max(begin - 1 + length, 0)]), t


def _try_strptime(rows: list[Row]) -> Row | None:
    (text, typ), (fmt, _) = rows
    if fmt != "%d/%m/%Y" or typ is None or not pa.types.is_string(typ):
        return None
    try:
        got = A.one_date(text, A._DMY_DATE)
    except A.Unsupported:
        return None
    return (None if got is None else datetime(got.year, got.month, got.day)), pa.timestamp("us")


# -- text, lists, dates and numbers as arrow_sql's kernels give them, for the types the rules use;
# a function given other types (or values where Python and Arrow part ways) returns None: Arrow's.


def _text(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t))


def _texts(t: pa.DataType | None) -> bool:
    return t is not None and pa.types.is_list(t) and _text(t.value_type)


def _one_text(fn: Callable[..., Any]) -> Callable[[list[Row]], Row | None]:
    """A text function of literal arguments: NULL in, NULL out, the input's type out."""
    def plain(rows: list[Row]) -> Row | None:
        (v, t), args = rows[0], [a for a, _ in rows[1:]]
        if not _text(t) or any(a is None for a in args):
            return None
        if v is None:
            return None, t
        got = fn(v, *args)
        return None if got is None else (got, t)
    return plain


# Python's lower() maps these otherwise than utf8proc's simple case mapping (İ: two code points;
# Σ: final sigma), and beyond Latin, Greek, Cyrillic and Vietnamese letters the two Unicode
# versions may differ: Arrow's kernel there
_LOWER_AS_ARROW = re.compile("[\u0130\u03a3]|[^\u0000-\u052f\u1e00-\u1eff]")
# RE2 syntax Python's re lacks or reads otherwise (\p classes, \Q..\E, \z, POSIX classes, flags)
_RE2_ONLY = re.compile(r"\\[pPQEzCXKRhHvV0-9]|\(\?|\[\[:")


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    """A rules' RE2 pattern as Python's re (ASCII classes: RE2's \\d, \\w, \\b), or None."""
    if _RE2_ONLY.search(pattern):
        return None
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:
        return None


def _regex_for(text: str, pattern: str) -> re.Pattern[str] | None:
    """The pattern where RE2 and Python agree on this text: no newline (Python's $ also matches
    before a final one), no vertical tab (in Python's \\s, not RE2's), no empty match (where the
    two differ in where the next match may start)."""
    rx = _regex(pattern)
    if rx is None or "\n" in text or "\x0b" in text:
        return None
    if any(m.start() == m.end() for m in rx.finditer(text)):
        return None
    return rx


def _suffix(rows: list[Row]) -> Row | None:
    (v, t), (end, _) = rows
    if not _text(t) or not isinstance(end, str):
        return None
    return (None if v is None else v.endswith(end)), pa.bool_()


def _strip_accents(rows: list[Row]) -> Row | None:
    (v, t), = rows
    return ((None if v is None else A.strip_accents(v)), pa.string()) if _text(t) else None


def _regexp_replace(rows: list[Row]) -> Row | None:
    (v, t), (pattern, _), (repl, _) = rows[:3]
    opts = rows[3][0] if len(rows) > 3 else ""
    if not _text(t) or not isinstance(pattern, str) or not isinstance(repl, str) or "\\" in repl \
            or opts not in ("", "g"):
        return None
    if v is None:
        return None, t
    rx = _regex_for(v, pattern)
    if rx is None:
        return None
    return rx.sub(lambda _: repl, v, count=0 if opts == "g" else 1), t


def _regexp_matches(rows: list[Row]) -> Row | None:
    (v, t), (pattern, _) = rows
    if not _text(t) or not isinstance(pattern, str):
        return None
    if v is None:
        return None, pa.bool_()
    rx = _regex_for(v, pattern)
    return None if rx is None else (rx.search(v) is not None, pa.bool_())


def _split_part(v: str, sep: str, i: int) -> str | None:
    if not sep or i < 1:
        return None
    parts = v.split(sep)
    return parts[i - 1] if len(parts) >= i else ""


def _string_split(rows: list[Row]) -> Row | None:
    (v, t), (sep, _) = rows
    if not _text(t) or not isinstance(sep, str) or not sep:
        return None
    return (None if v is None else v.split(sep)), pa.list_(t)


def _strpos(rows: list[Row]) -> Row | None:
    (a, ta), (b, tb) = rows
    if not (_text(ta) and _text(tb)) or "\x00" in (a or "") + (b or ""):  # numpy's text drops trailing NULs
        return None
    return (None if a is None or b is None else a.find(b) + 1), pa.int64()


def _lpad(rows: list[Row]) -> Row | None:
    (v, t), (width, _), (fill, _) = rows
    if t != pa.string() or not isinstance(width, int) or width < 0 or not isinstance(fill, str) or len(fill) != 1:
        return None
    return (None if v is None else v.rjust(width, fill)[:width]), pa.string()


def _list_has(every: bool) -> Callable[[list[Row]], Row | None]:
    def plain(rows: list[Row]) -> Row | None:
        (a, ta), (b, tb) = rows
        if not (_texts(ta) and _texts(tb)):
            return None
        if a is None or b is None:
            return None, pa.bool_()
        held = set(a)
        wanted = [x for x in b if x is not None]
        return (all if every else any)(x in held for x in wanted), pa.bool_()
    return plain


def _list_contains(rows: list[Row]) -> Row | None:
    (values, t), (x, tx) = rows
    if not (_texts(t) and _text(tx)):
        return None
    return (None if values is None or x is None else x in values), pa.bool_()


def _list_add(first: bool) -> Callable[[list[Row]], Row | None]:
    """list_prepend(x, list) / list_append(list, x): a NULL list counts as empty."""
    def plain(rows: list[Row]) -> Row | None:
        (x, tx), (values, t) = rows if first else rows[::-1]
        if not (_text(tx) and _texts(t)):
            return None
        return ([x] + (values or []) if first else (values or []) + [x]), pa.list_(pa.string())
    return plain


def _distance(scorer: Callable[[str, str], Any], typ: pa.DataType) -> Callable[[list[Row]], Row | None]:
    """arrow_sql._distance over one pair: NULL in, NULL out; Hamming NULL for unequal or no length;
    Jaro-Winkler of two empty strings 0."""
    def plain(rows: list[Row]) -> Row | None:
        (a, ta), (b, tb) = rows
        if not (_text(ta) and _text(tb)):
            return None
        if a is None or b is None:
            return None, typ
        if scorer is Hamming.distance and (len(a) != len(b) or not a):
            return None, typ
        if scorer is JaroWinkler.normalized_similarity and a == "" and b == "":
            return 0.0, typ
        return scorer(a, b), typ
    return plain


def _make_date(rows: list[Row]) -> Row | None:
    """make_date as arrow_sql's: a day past its month's end gives the month's first day, a month
    out of range the year's first day."""
    if not all(t is not None and pa.types.is_integer(t) for _, t in rows):
        return None
    y, m, d = (v for v, _ in rows)
    if y is None or m is None or d is None:
        return None, pa.date32()
    if not 1 <= y <= 9999:
        return None
    if not (1 <= m <= 12 and d >= 1):
        return date(y, 1, 1), pa.date32()
    return date(y, m, d if d <= calendar.monthrange(y, m)[1] else 1), pa.date32()


def _day(value: Any, t: pa.DataType | None) -> date | None | bool:
    """A date or a timestamp without zone as a date (False: another type)."""
    if t is not None and (pa.types.is_date32(t) or (pa.types.is_timestamp(t) and t.tz is None)):
        return value.date() if isinstance(value, datetime) else value
    return False


def _date_diff(rows: list[Row]) -> Row | None:
    (part, _), a, b = rows
    da, db = _day(*a), _day(*b)
    if str(part).lower() not in ("year", "years", "y", "yr", "yrs", "yyyy") or da is False or db is False:
        return None
    return (None if da is None or db is None else db.year - da.year), pa.int64()


def _strftime(rows: list[Row]) -> Row | None:
    (v, t), (fmt, _) = rows
    day = _day(v, t)
    if fmt != "%Y" or day is False or (day is not None and not 1000 <= day.year <= 9999):
        return None
    return (None if day is None else str(day.year)), pa.string()


def _add_years(day: date, years: int) -> date | None:
    """date + INTERVAL n YEAR: the same day and month n years on (29 February to the 28th)."""
    y = day.year + years
    if not 1 <= y <= 9999:
        return None
    return date(y, day.month, min(day.day, calendar.monthrange(y, day.month)[1]))


def _numbers(name: str) -> Callable[[list[Row]], Row | None]:
    """+ and - over BIGINT or DOUBLE pairs (and a date plus years); - of one number."""
    op = operator.add if name == "+" else operator.sub

    def plain(rows: list[Row]) -> Row | None:
        if name == "+" and len(rows) == 2 and any(isinstance(v, A._Years) for v, _ in rows):
            (d, td), (k, _) = rows if isinstance(rows[1][0], A._Years) else rows[::-1]
            years = _of(k.n)
            if td != pa.date32() or years[1] is None or not pa.types.is_integer(years[1]):
                return None
            if d is None or years[0] is None:
                return None, pa.date32()
            got = _add_years(d, years[0])
            return None if got is None else (got, pa.date32())
        types = {t for _, t in rows}
        if len(types) != 1 or types.pop() not in (pa.int64(), pa.float64()):
            return None
        t = rows[0][1]
        if any(v is None for v, _ in rows):
            return None, t
        got = -rows[0][0] if len(rows) == 1 else op(rows[0][0], rows[1][0])
        if t == pa.int64() and not -(1 << 62) < got < (1 << 62):
            return None
        return got, t
    return plain


def _least(pick: Callable[..., Any]) -> Callable[[list[Row]], Row | None]:
    def plain(rows: list[Row]) -> Row | None:
        if not all(t is not None and (pa.types.is_integer(t) or t == pa.null()) for _, t in rows):
            return None
        present = [v for v, _ in rows if v is not None]
        return (pick(present) if present else None), _unify(tuple(t for _, t in rows))
    return plain


def _len(rows: list[Row]) -> Row | None:
    """len of a list (INTEGER; BIGINT for a large list) or length of a text, in code points."""
    (v, t), = rows
    if t is None or not (pa.types.is_list(t) or pa.types.is_large_list(t) or _text(t)):
        return None
    return (None if v is None else len(v)), pa.int64() if pa.types.is_large_list(t) or pa.types.is_large_string(t) \
        else pa.int32()


def _abs(rows: list[Row]) -> Row | None:
    (v, t), = rows
    if t not in (pa.int64(), pa.int32(), pa.float64()):
        return None
    return (None if v is None else abs(v)), t


# functions evaluated in Python over one row (None from one: its Arrow kernel instead)
_PLAIN: dict[str, Callable[[list[Row]], Row | None]] = {
    "list_sort": _list_sort, "list_concat": _list_concat, "array_to_string": _array_to_string,
    "concat_ws": _concat_ws, "try_strptime": _try_strptime,
    "trim": _one_text(lambda v, *other: None if other else v.strip(" ")),
    "lower": _one_text(lambda v: None if _LOWER_AS_ARROW.search(v) else v.lower()),
    "replace": _one_text(lambda v, old, new: v.replace(old, new) if old and isinstance(new, str) else None),
    "split_part": _one_text(_split_part),
    "suffix": _suffix, "strip_accents": _strip_accents,
    "regexp_replace": _regexp_replace, "regexp_matches": _regexp_matches, "string_split": _string_split,
    "strpos": _strpos, "lpad": _lpad,
    "list_has_any": _list_has(every=False), "list_has_all": _list_has(every=True), "list_contains": _list_contains,
    "list_prepend": _list_add(first=True), "list_append": _list_add(first=False),
    "damerau_levenshtein": _distance(DamerauLevenshtein.distance, pa.int64()),
    "hamming": _distance(Hamming.distance, pa.int64()),
    "jaro_winkler_similarity": _distance(JaroWinkler.normalized_similarity, pa.float64()),
    "make_date": _make_date, "date_diff": _date_diff, "strftime": _strftime,
    "+": _numbers("+"), "-": _numbers("-"), "least": _least(min), "greatest": _least(max),
    "len": _len, "length": _len, "abs": _abs, "substr": _substr, "substring": _substr,
}


def _with_lambda(node: dict[str, Any], name: str, args: list[dict[str, Any]]) -> RowFn:
    lists = compile_row(args[0])
    lam = args[1]
    params = lam["lhs"]
    names = params["column_names"] if params["class"] == "COLUMN_REF" else None
    if not names or len(names) != 1:
        raise A.Unsupported("lambda with more than one parameter")
    param, body = names[0], compile_row(lam["expr"])
    keep = "filter" in name
    arrow = A.compile_node(node)
    # over no elements the result's type is the Arrow path's; a body that reads only its parameter
    # types it from the list's type alone, so it is asked once per list type
    own = _reads_only(lam["expr"], param)
    empty: dict[pa.DataType, pa.DataType] = {}

    def with_lambda(env: RowEnv) -> Row:
        values, typ = lists(env)
        if values is None or not values:
            if own and typ in empty:
                return (None if values is None else []), empty[typ]
            got = _of(arrow(env.arrow()))
            if own and got[0] == (None if values is None else []):
                empty[typ] = got[1]
            return got
        element = typ.value_type
        got = [body(RowEnv(env.columns, {**env.bound, param: (v, element)}, env.row, env.lists)) for v in values]
        if keep:
            return [v for v, (ok, _) in zip(values, got) if ok is True], typ
        target = _unify(tuple(t for _, t in got))
        return [_as(r, target) for r in got], pa.list_(target)
    return with_lambda


def _reads_only(node: Any, param: str) -> bool:
    """Whether every column the expression reads is the lambda parameter `param` (or its fields)."""
    if isinstance(node, dict):
        if node.get("class") == "COLUMN_REF" and node["column_names"][0] != param:
            return False
        return all(_reads_only(v, param) for v in node.values())
    if isinstance(node, list):
        return all(_reads_only(v, param) for v in node)
    return True


def row_items(nodes: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, RowFn]] | None:
    """A select list's one-row closures; None when a node cannot be compiled (the Arrow path then)."""
    try:
        return [(name, compile_row(node)) for name, node in nodes]
    except (A.Unsupported, KeyError):
        return None


def few_rows(fns: list[RowFn], columns: Mapping[str, pa.Array], n: int) -> list[pa.Array] | None:
    """Each closure over each of a few rows, as arrays of n rows; None when two rows' values of one
    closure have different types (the Arrow path, which types a column once, then) or a value has
    no Python form (a date of year 0, which DuckDB reads and Python's dates lack)."""
    lists: dict[str, tuple[list[Any], pa.DataType]] = {}
    values: list[list[Any]] = [[None] * n for _ in fns]
    types: list[Any] = [None] * len(fns)
    try:
        for i in range(n):
            env = RowEnv(columns, None, i, lists)
            for j, fn in enumerate(fns):
                value, typ = fn(env)
                if i and typ != types[j]:
                    return None
                types[j] = typ
                values[j][i] = value
    except OverflowError:
        return None
    return [pa.array(v, t) for v, t in zip(values, types)]

