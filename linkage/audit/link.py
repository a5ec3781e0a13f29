"""Wanted persons who link to a deceased resident: a light exact-key check, not the matcher.

A wanted record links to a resident recorded as deceased when
  - its id number is the resident's person_id, or
  - the ASCII fold of the full names is equal, the birth years are equal, and month, day and
    gender agree wherever both sides know them.
Only deceased residents are normalised, so the cost follows the number of deceased rows. The
result is a review candidate (the case may be closable), never an identification; the full
matcher (`linkage run`) finds changed names and years that this check cannot.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.context import AuditContext
from linkage.audit.found import obj
from linkage.audit.values import distinct
from linkage.ingest import read_source
from linkage.normalize.dates import parse_birth_dates
from linkage.normalize.fields import fold_text, normalize_gender
from linkage.normalize.names import normalize_names


def deceased_residents(path: Path, ctx: AuditContext) -> pd.DataFrame:
    """person_id, name_key, year, month, day, gender of the residents recorded as deceased."""
    accepted, _q, _report = read_source(path, "residents", ctx.rules)
    words = set(ctx.qrules.vocabularies["status"].get("deceased", ()))
    d = distinct(accepted.column("status"))
    is_dead = fold_text(pd.Series(d.values, dtype=object)).isin(words).to_numpy()
    rows = d.rows(is_dead)
    dead = accepted.take(pa.array(rows, pa.int64()))
    names = normalize_names(pd.Series(dead.column("full_name").to_pylist(), dtype=object), rules=ctx.rules)
    births = parse_birth_dates(pd.Series(dead.column("birth_date").to_pylist(), dtype=object), ctx.rules,
                               today=ctx.today)
    gender = normalize_gender(pd.Series(dead.column("gender").to_pylist(), dtype=object), ctx.rules)
    return pd.DataFrame({
        "person_id": pc.cast(dead.column("person_id"), pa.string()).to_pylist(),
        "name_key": obj(names["ascii"]),
        "year": births["birth_year"].astype("Int64"),
        "month": births["birth_month"].astype("Int64"),
        "day": births["birth_day"].astype("Int64"),
        "gender": obj(gender),
    })


_SQL = """
with links as (
    select w.pos, r.person_id, 'id number' as how
    from w join r on w.id_clean = r.person_id
    union all
    select w.pos, r.person_id, 'name and birth date' as how
    from w join r on w.name_key = r.name_key and w.year = r.year
    where (w.month is null or r.month is null or w.month = r.month)
      and (w.day is null or r.day is null or w.day = r.day)
      and (w.gender is null or r.gender is null or w.gender = r.gender)
)
select pos, person_id, min(how) as how  -- 'id number' first
from links group by pos, person_id order by pos, person_id
"""


def matched_deceased(ctx: AuditContext) -> pd.DataFrame:
    """pos, person_id, how ('best candidate p=0.993') from the matches' deceased best candidates."""
    from linkage.audit.cases import find_cases, over_age
    from linkage.settings import load_settings

    found = find_cases(ctx.matches, load_settings(ctx.rules).threshold, over_age(ctx.rules))
    dead = found[found["reason"].str.split("|").map(lambda r: "deceased" in r)] if len(found) else found
    ids = pd.Series(np.arange(ctx.n, dtype=np.int64), index=ctx.series(ctx.key).astype(str).to_numpy())
    ids = ids[~ids.index.duplicated()]
    dead = dead[dead["wanted_id"].isin(ids.index)]
    return pd.DataFrame({
        "pos": ids.loc[dead["wanted_id"]].to_numpy(dtype=np.int64),
        "person_id": dead["person_id"].to_numpy(dtype=object),
        "how": ("best candidate p=" + dead["match_probability"].map(lambda p: f"{p:.3f}")).to_numpy(dtype=object),
    })


def deceased_links(ctx: AuditContext) -> pd.DataFrame:
    """pos (wanted row), person_id, how: one row per (wanted record, deceased resident) link: the
    matches' deceased best candidates when the audit has a matches file, else the exact keys."""
    if ctx.matches is not None:
        return ctx._cached(("deceased_links", "matches"), lambda: matched_deceased(ctx))

    def make() -> pd.DataFrame:
        r = deceased_residents(ctx.residents, ctx)
        d = ctx.dates("birth_date")
        ids = ctx.ids("id_number")
        w = pd.DataFrame({
            "pos": np.arange(ctx.n, dtype=np.int64),
            "id_clean": obj(ids["id_clean"].where(ids["id_kind"] == "personal_id")),
            "name_key": ctx.name_key("full_name").to_numpy(dtype=object),
            "year": d["year"].astype("Int64"),
            "month": d["month"].astype("Int64"),
            "day": d["day"].astype("Int64"),
            "gender": obj(ctx.gender()),
        })
        con = duckdb.connect()
        try:
            con.register("w", w)
            con.register("r", r)
            return con.execute(_SQL).df()
        finally:
            con.close()
    return ctx._cached(("deceased_links",), make)
