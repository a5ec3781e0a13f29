"""đúng / sạch checks on id numbers: format, the 12-digit id's structure and its agreement with the
record, the CMND prefix against the address history, separators, duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, at, bool_array, found, obj, txt
from linkage.audit.rules import Rule
from linkage.audit.values import regex_flags
from linkage.normalize.ids import load_id_rules
from linkage.rules import read_ref_csv

# Which kinds of number each id column may hold.
EXPECTED_KIND = {
    "person_id": ("personal_id",),
    "card_number": ("personal_id",),
    "old_id_number": ("cmnd",),
    "id_number": ("personal_id", "cmnd"),
}
_KIND_NAME = {"personal_id": "a 12-digit personal id", "cmnd": "a 9-digit CMND"}
_SEPARATED_DIGITS = "^[0-9][0-9 .\\-\\x{A0}]*[0-9]$"


def id_format(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    ids = ctx.ids(field)
    kind = obj(ids["id_kind"])
    expected = EXPECTED_KIND[field]
    wrong = (kind != None) & ~np.isin(kind, expected) & ~ctx.placeholder(field)  # noqa: E711
    restored = bool_array(ids["id_leading_zero_restored"])
    want = " or ".join(_KIND_NAME[k] for k in expected)

    def suggest(pos: np.ndarray) -> np.ndarray:
        clean = pd.Series(obj(ids["id_clean"])[pos], dtype=object)
        digits = txt(clean.str.count("[0-9]").astype("Int64"))
        hint = np.where(kind[pos] == "invalid", "expected " + want + ", found " + digits + " digits",
                        "expected " + want)
        return np.where(restored[pos], "leading zero lost: " + txt(clean), hint)

    return found(field, wrong | restored, suggest)


def _personal(ctx: AuditContext, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(row positions holding a 12-digit id, their digits as an (n, 12) int array)."""
    def make():
        ids = ctx.ids(field)
        pos = np.flatnonzero(obj(ids["id_kind"]) == "personal_id")
        clean = obj(ids["id_clean"])[pos]
        if len(pos) == 0:
            return pos, np.zeros((0, 12), dtype=np.int64)
        dg = (np.asarray(clean, dtype="S12").view(np.uint8).reshape(-1, 12) - 48).astype(np.int64)
        return pos, dg
    return ctx._cached(("personal", field), make)


def id_structure(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    pos, dg = _personal(ctx, field)
    if len(pos) == 0:
        return None
    r = load_id_rules(ctx.rules)
    p3 = dg[:, 0] * 100 + dg[:, 1] * 10 + dg[:, 2]
    part = rule.params.get("part", "province")
    if part == "province":
        bad = np.array([r.prov_pre[c] is None for c in range(1000)])[p3]
        code = pd.Series(p3).astype(str).str.zfill(3).to_numpy(dtype=object)
        return at(field, pos[bad], "no province has code " + code[bad])
    year = r.gc_year_from[dg[:, 3]] + dg[:, 4] * 10 + dg[:, 5]
    bad = year > ctx.today.year
    return at(field, pos[bad], "encodes birth year " + year[bad].astype(str))


def id_vs_record(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    ids = ctx.ids(field)
    valid = bool_array(ids["id_valid_structure"]) & (obj(ids["id_kind"]) == "personal_id")
    part = rule.params.get("part", "gender")
    if part == "gender":
        id_g = obj(ids["id_gender"])
        rec = obj(ctx.gender())
        bad = valid & (id_g != None) & (rec != None) & (id_g != rec)  # noqa: E711
        return found(field, bad, lambda pos: "id says " + txt(id_g[pos]) + ", record says "
                     + txt(ctx.values_at("gender", pos)))
    year = ctx.dates("birth_date")["year"].to_numpy(dtype="float64", na_value=np.nan)
    id_year = ids["id_birth_year"].to_numpy(dtype="float64", na_value=np.nan)
    known = valid & ~np.isnan(year) & ~np.isnan(id_year)
    y = np.where(known, year, 0).astype(np.int64)
    iy = np.where(known, id_year, 0).astype(np.int64)
    if part == "century":
        bad = known & (y // 100 != iy // 100)
    else:
        bad = known & (y // 100 == iy // 100) & (y % 100 != iy % 100)
    return found(field, bad, lambda pos: "id says " + iy[pos].astype(str) + ", birth date says " + y[pos].astype(str))


def cmnd_prefix(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    ids = ctx.ids(field)
    bad = (obj(ids["id_kind"]) == "cmnd") & ids["id_cmnd_provinces"].isna().to_numpy()
    return found(field, bad, lambda pos: "no province issued CMND numbers starting "
                 + txt(pd.Series(obj(ids["id_clean"])[pos], dtype=object).str.slice(0, 2)))


def _to_2025(rules) -> dict[str, str]:
    t = read_ref_csv("ref/admin/provinces_pre2025.csv", rules, columns=("province_code", "new_province_code_2025"))
    return dict(zip(t["province_code"], t["new_province_code_2025"]))


def cmnd_places(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """The CMND's prefix provinces and the record's places, both as 2025 provinces (so a merged
    province agrees with its parts), must share one province."""
    ids = ctx.ids(field)
    is_cmnd = (obj(ids["id_kind"]) == "cmnd") & ids["id_cmnd_provinces"].notna().to_numpy()
    pos = np.flatnonzero(is_cmnd)
    places = [c for c in rule.params.get("places", ()) if ctx.has(c)]
    if len(pos) == 0 or not places:
        return None
    to25 = _to_2025(ctx.rules)
    distinct_sets = pd.Series(obj(ids["id_cmnd_provinces"])[pos]).str.split("|")
    cm = pd.DataFrame({"pos": np.repeat(pos, distinct_sets.str.len()), "code": np.concatenate(distinct_sets.to_numpy())})
    cm["code"] = cm["code"].map(to25)
    frames = []
    for c in places:
        p25 = ctx.place_rows(c, "province_code_2025")[pos]
        frames.append(pd.DataFrame({"pos": pos, "code": p25}))
    pl = pd.concat(frames).dropna()
    known = np.isin(pos, pl["pos"].to_numpy())
    agree = np.isin(pos, cm.merge(pl, on=["pos", "code"])["pos"].to_numpy())
    bad = pos[known & ~agree]
    names = read_ref_csv("ref/admin/provinces_pre2025.csv", ctx.rules, columns=("province_code", "short_name"))
    short = dict(zip(names["province_code"], names["short_name"]))
    provs = pd.Series(obj(ids["id_cmnd_provinces"])[bad], dtype=object).str.split("|").map(
        lambda codes: " or ".join(short.get(c, c) for c in codes))
    return at(field, bad, "issued in " + txt(provs) + ", not a province of the record's places")


def id_separators(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    d = ctx.distinct(field)
    sep = regex_flags(d.values, _SEPARATED_DIGITS) & regex_flags(d.values, "[ .\\-\\x{A0}]")
    ids = ctx.ids(field)
    ok = ids["id_kind"].isin(("personal_id", "cmnd")).to_numpy()
    rows = np.zeros(ctx.n, dtype=bool)
    rows[d.rows(sep)] = True
    return found(field, rows & ok, lambda pos: obj(ids["id_clean"])[pos])


def duplicate_id(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """An id number on several records. The record id is unique among the accepted rows: each
    repeat was rejected at ingestion and is reported once, as ingest.duplicate_id (naming the row
    kept), so the kept row is not a second finding of the same defect."""
    if field == ctx.key:
        return None
    ids = ctx.ids(field)
    clean = ids["id_clean"].where(ids["id_kind"].isin(("personal_id", "cmnd")))
    size = clean.groupby(clean, dropna=True).transform("size")
    dup = (size > 1).fillna(False).to_numpy(dtype=bool)
    if not dup.any():
        return None
    return at(field, np.flatnonzero(dup), _others(ctx, clean, dup))


def _others(ctx: AuditContext, key: pd.Series, mask: np.ndarray, limit: int = 3) -> np.ndarray:
    """For each flagged row: 'also on: <other record ids>' (the first few), in row order."""
    pos = np.flatnonzero(mask)
    rid = ctx.values_at(ctx.key, pos)
    df = pd.DataFrame({"k": key.to_numpy(dtype=object)[pos], "rid": rid, "pos": pos})
    lists = df.groupby("k", sort=False)["rid"].agg(list)
    mine = df["k"].map(lists)
    out = [", ".join([str(x) for x in ids if x != me][:limit]) for ids, me in zip(mine, rid)]
    return np.array(["also on " + s for s in out], dtype=object)


def spreadsheet_id(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """Ids a spreadsheet turned into numbers, as ingestion found them (its repairs table): the
    ones it repaired (suggestion: the id loaded) or emptied (suggestion: why). The value shown is
    the one in the file. params.reason: id_repaired | id_emptied."""
    rep = ctx.repairs
    if rep is None or rep.num_rows == 0:
        return None
    df = rep.select(["row_number", "column", "reason", "value"]).to_pandas()
    code = rule.params.get("reason", "id_repaired")
    df = df[(df["column"] == field) & df["reason"].str.startswith(code + ":")]
    if df.empty:
        return None
    rows = ctx.table.column("_row").to_numpy()
    where = pd.Series(np.arange(len(rows)), index=rows)
    df = df[df["row_number"].isin(where.index)]
    detail = df["reason"].str.replace("^[a-z_]+: ", "", regex=True)
    if code == "id_repaired":
        detail = "use " + detail.str.extract(r"-> (\S+)$")[0]
    hit = at(field, where.loc[df["row_number"]].to_numpy(), detail.to_numpy(dtype=object))
    if hit is not None:
        hit.value = df["value"].to_numpy(dtype=object)
    return hit
