"""Read birth dates (and other dates) written in the many ways Vietnamese records write them.

Each DISTINCT value is read once: the text is folded (NFC, lower case, no diacritics), filler
words and times are removed, separators become "/", then a short list of anchored patterns is
tried in order. Checks (bounds, impossible day/month, future, placeholders, 1 January, swap
candidate) run as numpy operations over the distinct values, and the results are mapped back
to the column by the factorize codes. The decisions (what an impossible date keeps, what a
placeholder keeps, the two-digit-year pivot) are documented in rules/dates.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import RulesError
from linkage.normalize.fields import factorize_values, fold_text, take_bool, take_int32, take_str
from linkage.rules import load_yaml, rules_dir

RULES_FILE = "dates.yaml"

# Anchored patterns over the separator-normalised text ("/" between numbers), tried in order.
# A value is read by the first pattern that matches it.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("dmy", r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"),
    ("ymd", r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})"),
    ("dmy2", r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{2})"),
    ("my", r"(?P<m>\d{1,2})/(?P<y>\d{4})"),
    ("ym", r"(?P<y>\d{4})/(?P<m>\d{1,2})"),
    ("y", r"(?P<y>\d{4})"),
    # Compact 8 digits: yyyymmdd first, then ddmmyyyy. Both cannot match one value (the month
    # of a yyyymmdd reading would be 18..20).
    ("ymd8", r"(?P<y>(?:18|19|20)\d\d)(?P<m>0\d|1[0-2])(?P<d>[0-2]\d|3[01])"),
    ("dmy8", r"(?P<d>[0-2]\d|3[01])(?P<m>0\d|1[0-2])(?P<y>(?:18|19|20)\d\d)"),
    ("serial", r"(?P<s>\d{5})"),
)
_NO_YEAR = re.compile(r"^\d{1,2}/\d{1,2}$|^\d{2}$")
_TIME = r"(?:[t/ ]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:z|[+-]\d{2}:?\d{2}|am|pm|sa|ch)?)\s*$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_PRECISIONS = np.array(["day", "month", "year"], dtype=object)


@dataclass(frozen=True)
class DateRules:
    """The validated content of rules/dates.yaml for one kind of date."""

    today: date
    pivot: int
    excel_serials: bool
    min_year: int
    allow_future: bool
    placeholder_dates: frozenset[str]
    placeholder_texts: frozenset[str]
    null_texts: frozenset[str]
    filler_words: tuple[str, ...]


def load_date_rules(rules: str | Path | None = None, kind: str = "birth", today: date | None = None) -> DateRules:
    """Read and check rules/dates.yaml; every error names the file and the key.

    Cached on the file's path and modification time, so an edited file is read again.
    """
    path = rules_dir(rules) / RULES_FILE
    mtime = path.stat().st_mtime_ns if path.is_file() else 0
    return _load_date_rules(str(path.parent), mtime, kind, today)


@lru_cache(maxsize=32)
def _load_date_rules(rules: str, _mtime: int, kind: str, today: date | None) -> DateRules:
    cfg = load_yaml(RULES_FILE, rules)
    where = f"rules/{RULES_FILE}"

    def need(key: str, typ: type | tuple[type, ...]):
        if key not in cfg:
            raise RulesError(f"{where}: missing key '{key}'")
        if not isinstance(cfg[key], typ):
            raise RulesError(f"{where}: '{key}' has the wrong type ({type(cfg[key]).__name__})")
        return cfg[key]

    if today is None:
        ref = cfg.get("reference_date")
        if ref is None:
            today = date.today()
        elif isinstance(ref, date):
            today = ref
        else:
            try:
                today = date.fromisoformat(str(ref))
            except ValueError:
                raise RulesError(f"{where}: 'reference_date' must be YYYY-MM-DD or null, got {ref!r}") from None
    pivot_cfg = cfg.get("two_digit_year_pivot", "auto")
    if pivot_cfg == "auto":
        pivot = today.year % 100
    elif isinstance(pivot_cfg, int) and 0 <= pivot_cfg <= 99:
        pivot = pivot_cfg
    else:
        raise RulesError(f"{where}: 'two_digit_year_pivot' must be 'auto' or 0..99, got {pivot_cfg!r}")
    bounds = need("bounds", dict)
    if kind not in bounds or not isinstance(bounds[kind], dict):
        raise RulesError(f"{where}: 'bounds' has no entry for kind '{kind}' (have: {', '.join(bounds)})")
    b = bounds[kind]
    if not isinstance(b.get("min_year"), int):
        raise RulesError(f"{where}: 'bounds.{kind}.min_year' must be an integer")
    for key in ("placeholder_dates", "placeholder_texts", "null_texts", "filler_words"):
        need(key, list)
    for p in cfg["placeholder_dates"]:
        if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", str(p)):
            raise RulesError(f"{where}: 'placeholder_dates' entry {p!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    for w in cfg["filler_words"]:
        if not re.fullmatch(r"[a-z]+", str(w)):
            raise RulesError(f"{where}: 'filler_words' entry {w!r} must be lower-case ASCII letters")
    return DateRules(
        today=today,
        pivot=pivot,
        excel_serials=bool(cfg.get("excel_serials", False)),
        min_year=b["min_year"],
        allow_future=bool(b.get("allow_future", False)),
        placeholder_dates=frozenset(str(p) for p in cfg["placeholder_dates"]),
        placeholder_texts=_fold_set(cfg["placeholder_texts"]),
        null_texts=_fold_set(cfg["null_texts"]),
        filler_words=tuple(str(w) for w in cfg["filler_words"]),
    )


def _fold_set(words: list) -> frozenset[str]:
    return frozenset(fold_text(pd.Series([str(w) for w in words], dtype=object)).tolist())


def _as_text(values: pd.Series) -> pd.Series:
    """Any input column as text; real datetimes become ISO strings so they read as day dates."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.strftime("%Y-%m-%d").astype(object)
    return values.astype(object)


def _prepare(folded: pd.Series, filler_words: tuple[str, ...]) -> pd.Series:
    """Folded text -> digits joined by '/', with times, filler words and '.0' removed."""
    s = folded.str.replace(_TIME, "", regex=True)
    if filler_words:
        s = s.str.replace(r"\b(?:" + "|".join(filler_words) + r")(?![a-z])", " ", regex=True)
    s = s.str.replace(r"(?<![a-z0-9])(?:\?+|x{1,4})(?![a-z0-9])", "00", regex=True)  # ??/xx unknown parts
    s = s.str.strip(" :,;").str.replace(r"^(\d+)\.0+$", r"\1", regex=True)  # 1990.0 from a float column
    s = s.str.replace(r"[\s./\-,:_\\]+", "/", regex=True)
    return s.str.strip("/")


def _extract(prepared: pd.Series) -> tuple[np.ndarray, ...]:
    """Run the patterns; return y, m, d (-1 = absent), serial, two-digit flag, matched flag."""
    n = len(prepared)
    y = np.full(n, -1, dtype=np.int64)
    m = np.full(n, -1, dtype=np.int64)
    d = np.full(n, -1, dtype=np.int64)
    serial = np.full(n, -1, dtype=np.int64)
    two_digit = np.zeros(n, dtype=bool)
    matched = np.zeros(n, dtype=bool)
    for name, pattern in _PATTERNS:
        todo = np.flatnonzero(~matched)
        if len(todo) == 0:
            break
        got = prepared.iloc[todo].str.extract("^" + pattern + "$")
        hit = got.iloc[:, 0].notna().to_numpy()
        if not hit.any():
            continue
        idx = todo[hit]
        got = got[hit]
        for col, arr in (("y", y), ("m", m), ("d", d), ("s", serial)):
            if col in got.columns:
                arr[idx] = got[col].astype(np.int64).to_numpy()
        two_digit[idx] = name == "dmy2"
        matched[idx] = True
    return y, m, d, serial, two_digit, matched


def _days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[np.clip(m, 0, 12)]
    return np.where((m == 2) & leap, 29, dim)


def _fmt(parts: list[np.ndarray], widths: list[int]) -> np.ndarray:
    """Zero-padded 'dd/mm/yyyy'-style strings for error messages (only on the rows in error)."""
    cols = [pd.Series(p).astype(str).str.zfill(w) for p, w in zip(parts, widths)]
    out = cols[0]
    for c in cols[1:]:
        out = out + "/" + c
    return out.to_numpy(dtype=object)


def _is_placeholder_date(y, m, d, has_m, has_d, placeholders: frozenset[str]) -> np.ndarray:
    """Whether (y[, m[, d]]) at the given precision is one of the rules' placeholder dates."""
    # numpy's string functions: pandas' fixed cost per call was most of a one-date parse (the
    # parts are only read where has_m / has_d, where they are not negative)
    if len(y) == 0:
        return np.zeros(0, dtype=bool)
    key = np.char.zfill(y.astype(str), 4)
    key = np.where(has_m, np.char.add(np.char.add(key, "-"), np.char.zfill(m.astype(str), 2)), key)
    key = np.where(has_d, np.char.add(np.char.add(key, "-"), np.char.zfill(d.astype(str), 2)), key)
    return np.isin(key, list(placeholders))


def _parse_unique(texts: pd.Series, r: DateRules) -> dict[str, np.ndarray]:
    """The parse of each distinct text (object Series, no NaN), as numpy arrays (-1 = NULL)."""
    n = len(texts)
    original = texts.astype(str).str.normalize("NFC").str.strip()
    folded = fold_text(texts)
    is_null = folded.isin(r.null_texts).to_numpy()
    is_ph_text = folded.isin(r.placeholder_texts).to_numpy() & ~is_null
    prepared = _prepare(folded, r.filler_words)
    y, m, d, serial, two_digit, matched = _extract(prepared)
    matched &= ~is_null & ~is_ph_text

    # Two-digit years with the pivot.
    y = np.where(two_digit, np.where(y <= r.pivot, 2000 + y, 1900 + y), y)

    # Excel serials (5-digit integers).
    is_serial = matched & (serial >= 0)
    if r.excel_serials and is_serial.any():
        days = (_EXCEL_EPOCH + serial[is_serial].astype("timedelta64[D]")).astype("datetime64[D]")
        ymd = pd.DatetimeIndex(days)
        y[is_serial], m[is_serial], d[is_serial] = ymd.year, ymd.month, ymd.day
    elif is_serial.any():
        matched &= ~is_serial

    error = np.full(n, None, dtype=object)
    placeholder = is_ph_text.copy()
    has_m = matched & (m >= 0)
    has_d = matched & (d >= 0)
    written_d = has_d.copy()  # as written, for messages ("impossible date 00/13/1990")

    # Zero parts are fillers for "unknown": keep what is real, flag the placeholder.
    zero_part = (has_m & (m == 0)) | (has_d & (d == 0))
    placeholder |= zero_part
    has_d &= ~(has_m & (m == 0)) & ~(d == 0)
    has_m &= m != 0
    year_zero = matched & (y == 0)
    placeholder |= year_zero

    # Whole-date placeholders from the rules (01/01/1900 ...), whatever the bounds: nothing kept.
    ph_date = matched & ~year_zero & _is_placeholder_date(y, m, d, has_m, has_d, r.placeholder_dates)
    placeholder |= ph_date
    keep_y = matched & ~year_zero & ~ph_date
    # Year bounds: nothing kept.
    too_old = keep_y & (y < r.min_year)
    too_new = keep_y & (y > r.today.year) & (not r.allow_future)
    if too_old.any():
        error[too_old] = ("year " + pd.Series(y[too_old]).astype(str) + f" before {r.min_year}").to_numpy()
    if too_new.any():
        error[too_new] = ("year " + pd.Series(y[too_new]).astype(str) + " in the future").to_numpy()
    keep_y &= ~too_old & ~too_new

    # Impossible month/day: keep the year only.
    bad_m = keep_y & has_m & (m > 12)
    bad_d = keep_y & has_d & ~bad_m & ((d < 1) | (d > _days_in_month(y, m)))
    impossible = bad_m | bad_d
    if impossible.any():
        with_day = impossible & written_d
        month_only = impossible & ~written_d
        if with_day.any():
            error[with_day] = "impossible date " + _fmt([d[with_day], m[with_day], y[with_day]], [2, 2, 4])
        if month_only.any():
            error[month_only] = "impossible date " + _fmt([m[month_only], y[month_only]], [2, 4])
        # An impossible day on a real month ("31/04/2000") or a bad month: either part could be
        # the typo, so neither is kept.
    keep_m = keep_y & has_m & ~impossible
    keep_d = keep_m & has_d

    # A date after the reference date (the year itself already passed the bounds).
    if not r.allow_future:
        t = r.today
        fut_m = keep_m & ~keep_d & (y * 100 + m > t.year * 100 + t.month)
        fut_d = keep_d & (y * 10000 + m * 100 + d > t.year * 10000 + t.month * 100 + t.day)
        if fut_d.any():
            error[fut_d] = "date " + _fmt([d[fut_d], m[fut_d], y[fut_d]], [2, 2, 4]) + " in the future"
        if fut_m.any():
            error[fut_m] = "date " + _fmt([m[fut_m], y[fut_m]], [2, 4]) + " in the future"
        fut = fut_m | fut_d
        keep_y &= ~fut
        keep_m &= ~fut
        keep_d &= ~fut

    # What is left after dropping an impossible day/month may itself be a placeholder ("1900").
    ph_date = keep_y & _is_placeholder_date(y, m, d, keep_m, keep_d, r.placeholder_dates)
    placeholder |= ph_date
    keep_y &= ~ph_date
    keep_m &= ~ph_date
    keep_d &= ~ph_date

    unparseable = ~matched & ~is_null & ~is_ph_text
    if unparseable.any():
        prep_u = prepared[unparseable]
        shown = original[unparseable].str.slice(0, 40)
        no_year = prep_u.str.match(_NO_YEAR.pattern).to_numpy()
        msg = np.where(no_year, "no year in '" + shown + "'", "unparseable '" + shown + "'")
        error[unparseable] = msg

    jan1 = keep_d & (d == 1) & (m == 1)
    swap = keep_d & (d != m) & (d <= 12) & (m <= 12)
    if not r.allow_future:
        t = r.today
        swap &= y * 10000 + d * 100 + m <= t.year * 10000 + t.month * 100 + t.day

    precision = np.full(n, None, dtype=object)
    precision[keep_y] = _PRECISIONS[2]
    precision[keep_m] = _PRECISIONS[1]
    precision[keep_d] = _PRECISIONS[0]

    return {
        "year": np.where(keep_y, y, -1),
        "month": np.where(keep_m, m, -1),
        "day": np.where(keep_d, d, -1),
        "precision": precision,
        "placeholder": placeholder,
        "jan1": jan1,
        "swap_month": np.where(swap, d, -1),
        "swap_day": np.where(swap, m, -1),
        "date_error": error,
    }


def parse_dates(
    values: pd.Series,
    rules: str | Path | None = None,
    *,
    kind: str = "event",
    prefix: str = "",
    today: date | None = None,
) -> pd.DataFrame:
    """Read a date column; columns `<prefix>year, month, day, precision, placeholder, jan1,
    swap_month, swap_day, date_error`, index-aligned with `values`.

    `kind` picks the plausibility bounds in rules/dates.yaml ("birth" or "event"); `today`
    overrides the reference date (tests, reruns).
    """
    r = load_date_rules(rules, kind=kind, today=today)
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    codes, uniques = factorize_values(_as_text(values))
    parsed = _parse_unique(uniques, r)
    take = {"placeholder": take_bool, "jan1": take_bool, "precision": take_str, "date_error": take_str}
    out = {prefix + col: take.get(col, take_int32)(arr, codes) for col, arr in parsed.items()}
    return pd.DataFrame(out, index=values.index)


def parse_birth_dates(values: pd.Series, rules: str | Path | None = None, *, today: date | None = None) -> pd.DataFrame:
    """Birth dates: columns birth_year, birth_month, birth_day (Int32), birth_precision,
    birth_placeholder, birth_jan1, birth_swap_month, birth_swap_day, birth_date_error."""
    return parse_dates(values, rules, kind="birth", prefix="birth_", today=today)
