"""đúng / đủ checks on single fields: places that do not resolve, values outside their vocabulary
(gender, ethnicity, status, danger level), symbols in names, required fields, placeholders."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from rapidfuzz import process

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, const, found, txt
from linkage.audit.rules import Rule
from linkage.audit.textscan import _cls, _invisible
from linkage.audit.values import regex_flags
from linkage.normalize.fields import fold_text
from linkage.normalize.text import load_rules
from linkage.rules import read_ref_csv

# A unit named with its type, at the start of a comma-separated part (after folding):
# "Xã Tân Phú", "P. 12", "TT Hậu Nghĩa" (ward level); "Huyện Đức Hòa", "Q.1", "TX Thái Hòa" (district).
_WARD_CLAIM = r"(?:^|,)\s*(?:phuong|xa|thi tran|dac khu|p|x|tt)(?:\s|\.)"
_DISTRICT_CLAIM = r"(?:^|,)\s*(?:quan|huyen|thi xa|q|h|tx)(?:\s|\.)"
_LEVEL_RANK = {"province": 1, "district": 2, "ward": 3}


def _real(ctx: AuditContext, field: str) -> np.ndarray:
    return ctx.filled(field)


def place_unknown(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    nothing = _per_row(ctx, field, _union_nothing(ctx))
    return found(field, _real(ctx, field) & nothing, const("no province, district or ward recognised"))


def _per_row(ctx: AuditContext, field: str, per_union: np.ndarray) -> np.ndarray:
    return np.append(np.asarray(per_union, dtype=bool), False)[ctx.place_codes(field)]


def _union_nothing(ctx: AuditContext) -> np.ndarray:
    _, p = ctx.place_table()
    return (p["province_code"].isna() & p["province_code_2025"].isna()).to_numpy(dtype=bool)


def _folded_places(ctx: AuditContext) -> np.ndarray:
    def make() -> np.ndarray:
        union, _ = ctx.place_table()
        return fold_text(pd.Series(union.to_numpy(zero_copy_only=False), dtype=object)).to_numpy(dtype=object)
    return ctx._cached(("folded_places",), make)


def _claimed_level(ctx: AuditContext) -> np.ndarray:
    """Per distinct address: the deepest unit level it names with its type (0 = none)."""
    def make() -> np.ndarray:
        folded = _folded_places(ctx)
        return np.where(regex_flags(folded, _WARD_CLAIM), 3, np.where(regex_flags(folded, _DISTRICT_CLAIM), 2, 0))
    return ctx._cached(("claimed_level",), make)


def _short_names(ctx: AuditContext) -> tuple[dict, dict, dict]:
    """Folded unit names without their type (code -> "tan phu"): pre-2025 wards, 2025 wards, districts."""
    def table(rel: str, code: str, name: str, kind: str) -> dict:
        t = read_ref_csv(rel, ctx.rules, columns=(code, name, kind))
        short = [n[len(k) + 1:] if n.startswith(k + " ") else n for n, k in zip(t[name], t[kind])]
        return dict(zip(t[code], fold_text(pd.Series(short, dtype=object))))
    return ctx._cached(("short_names",), lambda: (
        table("ref/admin/wards_pre2025.csv", "ward_code", "ward_name", "ward_type"),
        table("ref/admin/wards_2025.csv", "ward_code", "ward_name", "ward_type"),
        table("ref/admin/districts_pre2025.csv", "district_code", "district_name", "district_type")))


_NAME_IN_TEXT = """
select (lvl = 'ward' and not (coalesce(contains(t, w), false) or coalesce(contains(t, w25), false)))
    or (lvl = 'district' and not coalesce(contains(t, d), false)) as other
from u
"""


def _unit_substituted(ctx: AuditContext) -> np.ndarray:
    """Per distinct address: the resolver's deepest unit is not the one the text names (it read a
    similar name, e.g. a ward of that name does not exist in the province)."""
    def make() -> np.ndarray:
        _, p = ctx.place_table()
        if len(p) == 0:
            return np.zeros(0, dtype=bool)
        wards, wards25, dists = _short_names(ctx)
        u = pd.DataFrame({
            "t": _folded_places(ctx),
            "lvl": p["level"].astype(object).where(p["level"].notna(), None),
            "w": p["ward_code"].astype(object).map(wards),
            "w25": p["ward_code_2025"].astype(object).str.split("|").str[0].map(wards25),
            "d": p["district_code"].astype(object).map(dists),
        })
        con = duckdb.connect()
        try:
            con.register("u", u)
            other = con.execute(_NAME_IN_TEXT).df()["other"]
        finally:
            con.close()
        return other.fillna(False).to_numpy(dtype=bool)
    return ctx._cached(("unit_substituted",), make)


def _not_found(ctx: AuditContext) -> np.ndarray:
    _, p = ctx.place_table()
    got = p["level"].map(_LEVEL_RANK).fillna(0).to_numpy(dtype=np.int64)
    return (got > 0) & ((_claimed_level(ctx) > got) | _unit_substituted(ctx))


def place_unit_not_found(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    _, p = ctx.place_table()
    bad = _not_found(ctx)
    conf = p["confidence"].to_numpy(dtype="float64", na_value=np.nan)
    codes = ctx.place_codes(field)
    return found(field, _real(ctx, field) & _per_row(ctx, field, bad),
                 lambda pos: "closest reading: " + _unit_names(ctx, codes[pos]) + " (confidence "
                 + np.round(conf[codes[pos]], 2).astype(str) + ")")


def place_uncertain(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    _, p = ctx.place_table()
    conf = p["confidence"].to_numpy(dtype="float64", na_value=np.nan)
    low = (conf > 0) & (conf < float(rule.params.get("min_confidence", 0.7))) & ~_not_found(ctx)
    codes = ctx.place_codes(field)
    return found(field, _real(ctx, field) & _per_row(ctx, field, low),
                 lambda pos: "read as " + _unit_names(ctx, codes[pos]) + " (confidence "
                 + np.round(conf[codes[pos]], 2).astype(str) + ")")


def _unit_names(ctx: AuditContext, union_idx: np.ndarray) -> np.ndarray:
    """The deepest resolved unit of each address and its province, by name ("Xã Tân Phú, Tỉnh Long An")."""
    _, table = ctx.place_table()
    p = table.iloc[union_idx]
    wards = read_ref_csv("ref/admin/wards_pre2025.csv", ctx.rules, columns=("ward_code", "ward_name", "province_name"))
    wards25 = read_ref_csv("ref/admin/wards_2025.csv", ctx.rules, columns=("ward_code", "ward_name", "province_name"))
    dists = read_ref_csv("ref/admin/districts_pre2025.csv", ctx.rules,
                         columns=("district_code", "district_name", "province_name"))
    provs = read_ref_csv("ref/admin/provinces_pre2025.csv", ctx.rules, columns=("province_code", "province_name"))
    provs25 = read_ref_csv("ref/admin/provinces_2025.csv", ctx.rules, columns=("province_code", "province_name"))
    w = p["ward_code"].map(dict(zip(wards["ward_code"], wards["ward_name"] + ", " + wards["province_name"])))
    w25 = p["ward_code_2025"].map(dict(zip(wards25["ward_code"], wards25["ward_name"] + ", " + wards25["province_name"])))
    dn = p["district_code"].map(dict(zip(dists["district_code"], dists["district_name"] + ", " + dists["province_name"])))
    pn = p["province_code"].map(dict(zip(provs["province_code"], provs["province_name"])))
    pn25 = p["province_code_2025"].map(dict(zip(provs25["province_code"], provs25["province_name"])))
    out = w.astype(object)
    for alt in (w25, dn, pn, pn25):
        out = out.where(out.notna(), alt.astype(object))
    return txt(out.fillna("nothing"))


def gender_value(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    bad = _real(ctx, field) & ctx.gender().isna().to_numpy()
    return found(field, bad, const("Nam or Nữ"))


def ethnicity_value(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    bad = _real(ctx, field) & ctx.ethnicity()["ethnicity_code"].isna().to_numpy()
    if not bad.any():
        return None
    table = read_ref_csv("ref/ethnic/ethnic_groups_54.csv", ctx.rules, columns=("name",))
    names = table["name"].tolist()
    keys = fold_text(table["name"]).tolist()
    d = ctx.distinct(field)
    pos = np.flatnonzero(bad)
    codes = d.codes[pos]
    uniq = np.unique(codes)
    folded = fold_text(pd.Series(d.values[uniq], dtype=object)).tolist()
    best = {}
    for c, f in zip(uniq, folded):
        hit = process.extractOne(f, keys, score_cutoff=70)
        best[c] = f"closest group: {names[hit[2]]}" if hit else "not one of the 54 groups"
    return Found(field, pos, np.array([best[c] for c in codes], dtype=object))


def vocabulary(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    name = rule.params["vocabulary"]
    bad = _real(ctx, field) & ctx.vocabulary(name, field).isna().to_numpy()
    allowed = " / ".join(ctx.qrules.vocabularies[name])
    return found(field, bad, const(allowed))


def name_chars(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """Names hold letters, marks, spaces, apostrophes, hyphens and dots (initials); an alias list
    also its separators. Look-alike and invisible characters are left to sach.confusable."""
    allowed_extra = list(load_rules(ctx.rules).confusables) + _invisible()
    seps = ";,/|" if field == "other_names" else ""
    pattern = r"[^\p{L}\p{M}\p{Z}\s'.\-" + "".join("\\" + c for c in seps) + _cls(allowed_extra)[1:-1] + "]"
    from linkage.audit.checks_text import _scan

    d = ctx.distinct(field)
    scan = _scan(ctx, field)
    # checked after the safe fixes and the keystroke repair: mojibake symbols are
    # sach.legacy_encoding, and the digits of a VNI residue (Nguye64n) sach.keystroke_residue
    text = scan.fixed if scan.keystroke is None else np.where(scan.keystroke, scan.keystroke_fix, scan.fixed)
    flags = regex_flags(text, pattern) & ~scan.legacy
    rows = np.zeros(ctx.n, dtype=bool)
    rows[d.rows(flags)] = True
    return found(field, rows & _real(ctx, field))


def required(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    if field not in ctx.qrules.required.get(ctx.source, ()):
        return None
    if field in ctx.missing_columns:
        return absent_column(ctx, field)
    missing = ~ctx.filled(field) & ~ctx.emptied(field)  # an emptied id is reported as damaged
    ph = ctx.placeholder(field)
    return found(field, missing, lambda pos: np.where(ph[pos], "a placeholder, not a value", "empty"))


def absent_column(ctx: AuditContext, field: str) -> Found | None:
    """A column the file does not have is one defect of the file, not one per record: one finding
    with no record or row (the field's completeness, 0, says how many records it affects)."""
    if ctx.n == 0:
        return None
    none = np.array([None], dtype=object)
    return Found(field, np.array([], dtype=np.int64), suggestion=np.array(
        [f"column absent from the file (all {ctx.n:,} records)"], dtype=object), value=none, record_id=none,
        row=none, fields=np.array([field], dtype=object))


def placeholder(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    return found(field, ctx.placeholder(field), const("leave empty when unknown"))
