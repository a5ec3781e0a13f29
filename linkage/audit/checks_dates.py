"""đúng / sống checks on dates: readable, possible, plausible ages, event order, staleness, and the
wanted-list ages that make a case hard to find or due for review.

Dates come from linkage.normalize.dates (with the audit's reference date). A date known only to
the year or month is a range; a check fires only when EVERY day in the range breaks the rule, so
"1990" is never "under age" just because 31/12/1990 would be."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, at, found, obj, txt
from linkage.audit.rules import Rule

_KINDS = {
    "unreadable": ("unparseable", "no year"),
    "impossible": ("impossible",),
    "future": ("in the future",),
    "too_old": (" before ",),
}


def _error_kinds(ctx: AuditContext, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(row positions with a parse error, the kind of each error). The kinds follow the messages
    of rules/dates.yaml's decisions; an unknown message counts as unreadable so that nothing goes
    unreported."""
    def make():
        errors = obj(ctx.dates(field)["date_error"])
        pos = np.flatnonzero(errors != None)  # noqa: E711
        msgs = pd.Series(errors[pos], dtype=object)
        kind = np.full(len(pos), "unreadable", dtype=object)
        done = np.zeros(len(pos), dtype=bool)
        for name, needles in _KINDS.items():
            hit = ~done & msgs.str.contains("|".join(needles), regex=True).to_numpy(dtype=bool)
            kind[hit] = name
            done |= hit
        return pos, kind
    return ctx._cached(("date_error_kinds", field), make)


def date_error(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    want = rule.params.get("kind", "unreadable")
    if field == "birth_date" and want == "too_old":
        return None  # birth dates: dung.age_over_max
    pos, kind = _error_kinds(ctx, field)
    pos = pos[kind == want]
    return at(field, pos, obj(ctx.dates(field)["date_error"])[pos])


def _ymd(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    safe = np.where(np.isnat(dates), np.datetime64("2000-01-01"), dates)
    y = safe.astype("datetime64[Y]").astype(np.int64) + 1970
    m = safe.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (safe - safe.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, d


def age(born: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years from `born` to `on` (datetime64[D] arrays); -1 where either is unknown."""
    by, bm, bd = _ymd(born)
    oy, om, od = _ymd(on)
    years = oy - by - ((om * 100 + od) < (bm * 100 + bd))
    return np.where(np.isnat(born) | np.isnat(on), -1, years)


def _today(ctx: AuditContext, n: int) -> np.ndarray:
    return np.full(n, np.datetime64(ctx.today, "D"))


def age_limit(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    lo, hi = ctx.date_bounds(field)
    youngest = age(hi, _today(ctx, ctx.n))
    over = youngest > int(rule.params.get("max_age", 120))
    pos, kind = _error_kinds(ctx, field)
    too_old = np.zeros(ctx.n, dtype=bool)
    too_old[pos[kind == "too_old"]] = True
    errors = obj(ctx.dates(field)["date_error"])
    return found(field, over | too_old, lambda p: np.where(over[p], "age " + youngest[p].astype(str), txt(errors[p])))


def age_at_decision(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    other = rule.params.get("decision_field", "decision_date")
    if not ctx.has(other):
        return None
    born_lo, _ = ctx.date_bounds(field)
    _, dec_hi = ctx.date_bounds(other)
    oldest = age(born_lo, dec_hi)
    young = (oldest >= 0) & (oldest < int(rule.params.get("min_age", 14)))
    label = other.replace("_", " ")
    return found(field, young, lambda p: "aged " + oldest[p].astype(str) + " at " + label + " "
                 + txt(ctx.values_at(other, p)))


def event_before_birth(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    born_lo, _ = ctx.date_bounds("birth_date")
    _, ev_hi = ctx.date_bounds(field)
    before = ~np.isnat(born_lo) & ~np.isnat(ev_hi) & (ev_hi < born_lo)
    return found(field, before, lambda p: "born " + txt(ctx.values_at("birth_date", p)))


def stale(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    _, hi = ctx.date_bounds(field)
    elapsed = age(hi, _today(ctx, ctx.n))
    old = elapsed >= int(rule.params.get("years", 5))
    return found(field, old, lambda p: "not updated for " + elapsed[p].astype(str) + " years")


def over_age(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    _, hi = ctx.date_bounds(field)
    youngest = age(hi, _today(ctx, ctx.n))
    over = youngest > int(rule.params.get("age", 80))
    return found(field, over, lambda p: "age " + youngest[p].astype(str))


def partial_birth_date(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    precision = obj(ctx.dates(field)["precision"])
    partial = precision != "day"
    return found(field, partial, lambda p: np.where(precision[p] == None, "no birth date",  # noqa: E711
                                                    "known to the " + txt(precision[p])))


def birth_jan1(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    return found(field, ctx.dates(field)["jan1"].to_numpy(dtype=bool))
