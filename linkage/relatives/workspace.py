"""`linkage relatives --workspace WS`: the wanted list and the register as a nightly workspace keeps
them, normalised (its `w` and `reg` tables, the raw tables for the address text and dates), and the
identity candidates from its scored table, instead of reading and normalising the files again.

Opened read-only, as the desk's screening opens it, and refused while a night holds the lock (its
tables are changing). Parents' phonetic keys are not stored in the workspace: they are derived from
the stored normalised parents' names, each distinct name once."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from linkage.errors import UsageError
from linkage.normalize.names import normalize_names
from linkage.relatives.frame import register_keys, wanted_keys
from linkage.workspace import store

NAMES = """x.full_name_norm, x.name_phonetic, x.family_name, x.gender AS gender_norm, x.birth_year,
    x.father_norm, x.mother_norm, x.hometown_ward_code_2025, x.hometown_province_code_2025, x.birth_place_ward_code_2025,
    x.permanent_address_ward_code_2025, x.permanent_address_province_code_2025,
    x.current_address_ward_code_2025, x.current_address_province_code_2025"""


def _phonetic(df: pd.DataFrame, rules: Path | None) -> pd.DataFrame:
    """father_phonetic / mother_phonetic from the stored normalised names (distinct names once)."""
    for par in ("father", "mother"):
        names = df[f"{par}_norm"].astype("string")
        distinct = names.dropna().unique()
        if len(distinct):
            keys = normalize_names(pd.Series(distinct, dtype=str), rules=rules)["phonetic"].to_numpy()
            df[f"{par}_phonetic"] = names.map(dict(zip(distinct, keys)))
        else:
            df[f"{par}_phonetic"] = pd.Series(pd.NA, index=df.index, dtype="string")
    return df


def open_read_only(workspace: Path) -> duckdb.DuckDBPyConnection:
    """The workspace database, read-only; a usage error when it is missing or a night is running."""
    workspace = Path(workspace)
    if not store.is_workspace(workspace):
        raise UsageError(f"--workspace {workspace}: no workspace there ({store.DB} missing); build one with "
                         "`linkage nightly`")
    if (workspace / store.LOCK).exists():
        raise UsageError(f"--workspace {workspace}: a night is running ({store.LOCK}); try again when it ends")
    return duckdb.connect(str(workspace / store.DB), read_only=True)


def workspace_frames(workspace: Path, rules: Path | None, identity_threshold: float
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """(wanted keys, alias keys, register persons, identity matches (wanted_id, person_id,
    match_probability), counts) from a nightly workspace."""
    con = open_read_only(workspace)
    try:
        for t in ("w", "reg", "raw_wanted", "raw_residents", "scored", "wanted_ids", "persons"):
            if not store.has_table(con, t):
                raise UsageError(f"--workspace {workspace}: table {t} missing; run a night first")
        wanted = con.execute(f"""SELECT x.uid AS wanted_id, r.full_name, {NAMES}, coalesce(x.id12, x.cmnd) AS id_clean,
                                        x.aliases_norm AS aliases, r.permanent_address, r.current_address
                                 FROM w x JOIN raw_wanted r ON r.wanted_id = x.uid ORDER BY x.w_idx""").df()
        res = con.execute(f"""SELECT x.uid AS person_id, r.full_name, {NAMES}, r.status, r.updated_at,
                                     r.permanent_address, r.current_address
                              FROM reg x JOIN raw_residents r ON r.person_id = x.uid
                              WHERE x.src = 'residents' ORDER BY x.r_idx""").df()
        cards = None
        if store.has_table(con, "raw_id_cards"):
            cards = con.execute(f"""SELECT x.uid AS card_number, r.full_name, {NAMES}, r.permanent_address,
                                           r.issue_date
                                    FROM reg x JOIN raw_id_cards r ON r.card_number = x.uid
                                    WHERE x.src = 'id_cards' ORDER BY x.r_idx""").df()
        ident = con.execute(f"""SELECT wi.uid AS wanted_id, p.uid AS person_id, s.match_probability
                                FROM scored s JOIN wanted_ids wi ON wi.w_idx = s.w_idx
                                JOIN persons p ON p.person_idx = s.person_idx
                                WHERE s.match_probability >= {float(identity_threshold)}""").df()
        night = con.execute("SELECT value FROM meta WHERE key = 'last_night'").fetchone()
    finally:
        con.close()
    for df in (wanted, res) + ((cards,) if cards is not None else ()):
        _phonetic(df, rules)
    wanted["aliases"] = wanted["aliases"].map(lambda v: list(v) if v is not None else [])
    w, al = wanted_keys(wanted, rules)
    r = register_keys(res, cards, rules)
    counts = {"wanted": {"rows_accepted": int(len(wanted))}, "register": {"residents": int(len(res)),
              "id_cards": int(len(cards)) if cards is not None else 0}, "last_night": night[0] if night else None}
    return w, al, r, ident, counts
