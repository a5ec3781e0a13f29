"""Checks on whole records: probable duplicate persons, deceased residents, wanted persons who
link to a deceased resident or carry no id, and the rows ingestion rejected."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext
from linkage.audit.found import Found, found, obj, txt
from linkage.audit.rules import Rule
from linkage.errors import RulesError

_VALID_KINDS = ("personal_id", "cmnd")


def key_part(ctx: AuditContext, name: str) -> pd.Series:
    """One part of a duplicate key, per row (None = unknown, never matches)."""
    if name == "name_key":
        return ctx.name_key("full_name")
    if name == "name_norm":
        return ctx.name_key("full_name", "norm")
    if name == "hometown_province":
        return pd.Series(ctx.place_rows("hometown", "province_code_2025") if ctx.has("hometown")
                         else [None] * ctx.n, dtype=object)
    if name in ("father_key", "mother_key"):
        col = name.replace("_key", "_name")
        return ctx.name_key(col) if ctx.has(col) else pd.Series([None] * ctx.n, dtype=object)
    if name == "birth_day":
        d = ctx.dates("birth_date")
        day = d["precision"].eq("day").fillna(False).to_numpy(dtype=bool)
        lo, _ = ctx.date_bounds("birth_date")
        text = np.datetime_as_string(np.where(day, lo, np.datetime64("NaT")), unit="D")
        return pd.Series(np.where(day, text, None), dtype=object)
    if name == "birth_year":
        return pd.Series(obj(ctx.dates("birth_date")["year"].astype("string")), dtype=object)
    if name == "gender_norm":
        return pd.Series(obj(ctx.gender()), dtype=object)
    if name == "id_clean":
        from linkage.normalize.table import ID_COLUMN
        ids = ctx.ids(ID_COLUMN[ctx.source])
        return pd.Series(obj(ids["id_clean"].where(ids["id_kind"].isin(_VALID_KINDS))), dtype=object)
    raise RulesError(f"{ctx.qrules.path}: duplicate_person key part {name!r} unknown (known: name_key, name_norm, "
                     f"birth_day, birth_year, gender_norm, father_key, mother_key, hometown_province, id_clean)")


def dedupe_groups(ctx: AuditContext) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, -1 if none; how it was grouped) from `linkage dedupe`'s clusters: the
    matcher's links (names, dates, places, ids, marks as evidence), clustered so that one weak link
    does not chain strangers; each row says its cluster's weakest link."""
    cl = ctx.dedupe_clusters
    ids = ctx.series(ctx.key).astype(str).to_numpy(dtype=object)
    cluster_of = dict(zip(cl["wanted_id"].astype(str), cl["cluster_id"].astype(str)))
    weakest = dict(zip(cl["cluster_id"].astype(str), cl["weakest_link_probability"].astype(float)))
    cid = pd.Series([cluster_of.get(i) for i in ids], dtype=object)
    codes, uniques = pd.factorize(cid, use_na_sentinel=True)
    which = np.array([None if c is None else f"dedupe cluster {c} (weakest link p={weakest[c]:.3f})" for c in cid],
                     dtype=object)
    group = codes.astype(np.int64)
    size = np.bincount(group[group >= 0], minlength=len(uniques))
    group[(group >= 0) & (size[np.maximum(group, 0)] < 2)] = -1  # a cluster of one is no duplicate
    which[group < 0] = None
    return group, which


def duplicate_groups(ctx: AuditContext, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, -1 if none; the key that grouped it). Groups of all keys are merged
    only per key: a row gets the first key that puts it with another record. With dedupe's
    clusters (audit --dedupe) the groups are those clusters instead of the exact keys."""
    if ctx.dedupe_clusters is not None and ctx.source == "wanted":
        return ctx._cached(("dupgroups", rule.id, "dedupe"), lambda: dedupe_groups(ctx))

    def make():
        keys = rule.params.get("keys", {}).get(ctx.source, [])
        group = np.full(ctx.n, -1, dtype=np.int64)
        which = np.full(ctx.n, None, dtype=object)
        next_id = 0
        for parts in keys:
            df = pd.DataFrame({p: key_part(ctx, p).to_numpy(dtype=object) for p in parts})
            ok = df.notna().all(axis=1).to_numpy()
            if not ok.any():
                continue
            sub = df[ok]
            gid = sub.groupby(list(parts), sort=False, dropna=True).ngroup().to_numpy()
            size = np.bincount(gid)[gid]
            rows = np.flatnonzero(ok)[size > 1]
            new = (group[rows] < 0)
            group[rows[new]] = gid[size > 1][new] + next_id
            which[rows[new]] = " + ".join(parts)
            next_id += int(gid.max()) + 1 if len(gid) else 0
        return group, which
    return ctx._cached(("dupgroups", rule.id), make)


def duplicate_person(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    group, which = duplicate_groups(ctx, rule)
    dup = group >= 0
    if not dup.any():
        return None
    pos = np.flatnonzero(dup)
    rid = ctx.values_at(ctx.key, pos)
    df = pd.DataFrame({"g": group[pos], "rid": rid})
    members = df["g"].map(df.groupby("g")["rid"].agg(list))
    others = [", ".join([str(x) for x in m if x != me][:3]) for m, me in zip(members, rid)]
    sugg = np.array([f"{w} with {o}" if w.startswith("dedupe") else f"same {w} as {o}"
                     for w, o in zip(which[pos], others)], dtype=object)
    return Found(field, pos, sugg)


def deceased(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    return found(field, ctx.vocabulary("status", field).eq("deceased").to_numpy(dtype=bool))


def no_id(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    return found(field, ctx.ids(field)["id_clean"].isna().to_numpy() & ~ctx.emptied(field))


def deceased_link(ctx: AuditContext, rule: Rule, field: str) -> Found | None:
    """Wanted records linked to a deceased resident: by the run's candidates when the audit has a
    matches file, by exact keys in the residents file otherwise."""
    if ctx.residents is None and ctx.matches is None:
        return None
    from linkage.audit.link import deceased_links

    links = deceased_links(ctx)
    if links.empty:
        return None
    first = links.groupby("pos", sort=True)["person_id"].agg(lambda s: ", ".join(sorted(s)[:3]))
    how = links.groupby("pos", sort=True)["how"].first()
    pos = first.index.to_numpy(dtype=np.int64)
    how_text = txt(how)
    same = np.char.startswith(how_text, "best candidate")
    sugg = "deceased resident " + txt(first) + np.where(same, " (", " (same ") + how_text + ")"
    return Found(field, pos, sugg)


def quarantine(ctx: AuditContext, rule: Rule, field: str | None) -> Found | None:
    """Rows rejected at ingestion, under the rule that claims their reason code ("*" = any code
    no other quarantine rule claims). Their record id is read back from the raw row."""
    q = ctx.quarantine
    if q.num_rows == 0:
        return None
    codes = np.asarray(pc.replace_substring_regex(q.column("reason"), ":.*$", "").to_numpy(zero_copy_only=False),
                       dtype=object)  # the reason code (quarantine.reason_code), for every row at once
    wanted = set(rule.params.get("reasons", []))
    if "*" in wanted:
        claimed = {c for r in ctx.qrules.for_source(ctx.source) if r.check == "quarantine"
                   for c in r.params.get("reasons", []) if c != "*"}
        mine = ~np.isin(codes, list(claimed))
    else:
        mine = np.isin(codes, list(wanted))
    if not mine.any():
        return None
    sub = q.filter(pa.array(mine))
    columns = np.array([c if c else "(whole row)" for c in sub.column("column").to_pylist()], dtype=object)
    return Found(
        field="",
        positions=np.array([], dtype=np.int64),
        suggestion=np.array(sub.column("reason").to_pylist(), dtype=object),
        value=np.array(sub.column("value").to_pylist(), dtype=object),
        record_id=_quarantined_ids(ctx, sub),
        row=np.asarray(sub.column("row_number").to_numpy(), dtype=np.int64),
        fields=columns,
    )


def _quarantined_ids(ctx: AuditContext, q: pa.Table) -> np.ndarray:
    """The record id of each quarantined row, from its raw JSON (None when the row never parsed)."""
    header = ctx.key_header
    if header is None:
        return np.full(q.num_rows, None, dtype=object)
    con = duckdb.connect()
    try:
        con.register("q", q.select(["record"]))
        path = '$."' + header.replace('"', '\\"') + '"'
        out = con.execute("select trim(json_extract_string(record, ?)) as id from q", [path]).df()
    finally:
        con.close()
    col = out["id"].astype(object).where(out["id"].notna(), None)
    return col.to_numpy(dtype=object)
