"""Wanted records and register persons as compact frames of the keys the relation models read.

Both sides go through the engine's `normalize_table` (names, parents' names, dates, places), so a
name compared here is the name the identity linkage compares. A register person is a residents
record, plus ID-card holders without one (they can be parents: name, gender, birth year and
hometown are on the card). The current address is the most recent record's: the residents row
(`updated_at`, its current address, else its permanent one) or a later card (`issue_date`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import InputError
from linkage.ingest.pipeline import read_source_checked
from linkage.normalize.names import normalize_names
from linkage.normalize.table import normalize_table


# The permanent address printed on a register person's ID card (ward, province, household key).
CARD_COLUMNS = ("card_ward", "card_prov", "card_house")


def _read(path: Path, source: str, rules: Path | None) -> tuple[pd.DataFrame, dict[str, int]]:
    got = read_source_checked(path, source, rules)
    if got.accepted.num_rows == 0 and source != "id_cards":
        raise InputError(f"{path}: no usable {source} row ({got.report.rows_read:,} read, all quarantined)")
    counts = {"rows_read": got.report.rows_read, "rows_accepted": got.accepted.num_rows,
              "rows_quarantined": got.report.rows_quarantined}
    frame = got.accepted.to_pandas().drop(columns=["_row"], errors="ignore")
    return normalize_table(frame, source, rules=rules), counts


def _s(df: pd.DataFrame, col: str) -> pd.Series:
    """A text column with empty strings as missing (absent columns are all missing)."""
    if col not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="string")
    s = df[col].astype("string")
    return s.where(s.str.len() > 0)


def _key(df: pd.DataFrame, col: str) -> pd.Series:
    return _s(df, col).str.lower()


def _fold(s: pd.Series) -> pd.Series:
    """Without diacritics (đ -> d): a family name typed without marks is still the same one."""
    out = s.str.normalize("NFD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    return out.str.replace("đ", "d", regex=False)


def _status(raw: pd.Series, rules: Path | None) -> pd.Series:
    """alive / deceased from the register's text ("Đã chết", "qua đời", ...), with the vocabulary the
    matches use (rules/matching.yaml explanation.current_state.deceased_values); other text: alive."""
    from linkage.settings import load_settings

    values = (load_settings(rules).explanation.get("current_state") or {}).get("deceased_values") or []
    dead = set(_fold(pd.Series(values, dtype="string").str.strip().str.lower()))
    folded = _fold(raw.astype("string").fillna("").str.strip().str.lower())
    return pd.Series(np.where(folded.isin(dead), "deceased", "alive"), index=raw.index, dtype=object)


def _house_words(rules: Path | None) -> list[str]:
    """Words that start a house, street or hamlet part (rules/places/places.yaml noise_prefixes)."""
    from linkage.rules import load_yaml

    words = load_yaml("places/places.yaml", rules).get("noise_prefixes") or []
    return sorted({str(x).strip().lower() for x in words if str(x).strip()}, key=len, reverse=True)


def _house(df: pd.DataFrame, col: str, ward: pd.Series, words: list[str]) -> pd.Series:
    """The household key of an address: its 2025 commune and its first part when that part is a
    house, street or hamlet ("Thôn 3", "Số 12 đường Lê Lợi"), folded. A household (hộ) is one
    address: a parent and a grown child at one such address are one family far more surely than
    two people in one commune, and a house holds as many people in a 100M register as in a small
    one, unlike a commune. Missing when the address names no such part."""
    head = _fold(_s(df, col).str.split(",", n=1).str[0].str.strip().str.lower())
    head = head.str.replace(r"\s+", " ", regex=True)
    pat = r"^(?:\d|(?:" + "|".join(w.replace(" ", r"\s") for w in words) + r")\b)"
    ok = head.str.contains(pat, regex=True, na=False) & ward.notna()
    key = ward.astype(object).where(ok, "") + "#" + head.astype(object).where(ok, "")
    return key.where(ok).astype("string")


def _common(df: pd.DataFrame, words: list[str] | None = None) -> pd.DataFrame:
    """The keys both sides share."""
    year = pd.to_numeric(df["birth_year"], errors="coerce").astype("float64")
    perm_ward = _s(df, "permanent_address_ward_code_2025")
    cur_ward = _s(df, "current_address_ward_code_2025")
    return pd.DataFrame({
        "full_name": _s(df, "full_name"),
        "norm": _key(df, "full_name_norm"),
        "phon": _key(df, "name_phonetic"),
        "family": _fold(_key(df, "family_name")),
        "gender": _s(df, "gender_norm"),
        "byear": year,
        "father_norm": _key(df, "father_norm"),
        "father_phon": _key(df, "father_phonetic"),
        "mother_norm": _key(df, "mother_norm"),
        "mother_phon": _key(df, "mother_phonetic"),
        "home_ward": _s(df, "hometown_ward_code_2025"),
        "birth_ward": _s(df, "birth_place_ward_code_2025"),
        "home_prov": _s(df, "hometown_province_code_2025"),
        "perm_ward": _s(df, "permanent_address_ward_code_2025"),
        "perm_prov": _s(df, "permanent_address_province_code_2025"),
        "cur_ward": _s(df, "current_address_ward_code_2025"),
        "cur_prov": _s(df, "current_address_province_code_2025"),
        "perm_house": _house(df, "permanent_address", perm_ward, words or []),
        "cur_house": _house(df, "current_address", cur_ward, words or []),
    }, index=df.index)


def wanted_frame(path: Path, rules: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """(wanted keys, alias keys (w_idx, norm, phon), counts)."""
    norm, counts = _read(path, "wanted", rules)
    w, al = wanted_keys(norm, rules)
    return w, al, counts


def wanted_keys(norm: pd.DataFrame, rules: Path | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wanted keys and alias keys from normalised wanted records (normalize_table's columns)."""
    w = _common(norm, _house_words(rules))
    w.insert(0, "wanted_id", norm["wanted_id"].astype(str).to_numpy())
    w["id_clean"] = _s(norm, "id_clean")
    w = w.reset_index(drop=True)
    aliases = norm["aliases"].reset_index(drop=True).explode().dropna()
    aliases = aliases[aliases.astype(str).str.len() > 0]
    if len(aliases):
        names = normalize_names(aliases.astype(str).reset_index(drop=True), rules=rules)
        al = pd.DataFrame({"w_idx": aliases.index.to_numpy(), "norm": names["norm"].str.lower().to_numpy(),
                           "phon": names["phonetic"].str.lower().to_numpy()}).dropna()
    else:
        al = pd.DataFrame({"w_idx": np.zeros(0, np.int64), "norm": [], "phon": []})
    return w, al


def register_frame(residents: Path, id_cards: Path | None, rules: Path | None
                   ) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Register persons: keys, status and the current address of the most recent record."""
    res, c_res = _read(residents, "residents", rules)
    counts = {"residents": c_res}
    cards = None
    if id_cards is not None:
        cards, counts["id_cards"] = _read(id_cards, "id_cards", rules)
    return register_keys(res, cards, rules), counts


def register_keys(res: pd.DataFrame, cards: pd.DataFrame | None, rules: Path | None) -> pd.DataFrame:
    """Register persons from normalised residents and ID-card records (normalize_table's columns)."""
    words = _house_words(rules)
    r = _common(res, words)
    r.insert(0, "person_id", res["person_id"].astype(str).to_numpy())
    r["status"] = _status(_s(res, "status"), rules)
    cur = _s(res, "current_address").fillna(_s(res, "permanent_address"))
    r["current_address"] = cur
    r["address_date"] = pd.to_datetime(_s(res, "updated_at"), errors="coerce")
    r["source"] = "residents"
    r = r.drop_duplicates("person_id", keep="first").reset_index(drop=True)
    for col in CARD_COLUMNS:  # the address printed on the person's ID card (below)
        r[col] = pd.Series(pd.NA, index=r.index, dtype="string")
    if cards is None or not len(cards):
        return r
    c = _common(cards, words)
    c.insert(0, "person_id", cards["card_number"].astype(str).to_numpy())
    c["current_address"] = _s(cards, "permanent_address")
    c["address_date"] = pd.to_datetime(_s(cards, "issue_date"), errors="coerce")
    c = c.sort_values("address_date", kind="stable").drop_duplicates("person_id", keep="last")
    # a later card's address is the current one of a residents person
    both = r[["person_id", "address_date"]].merge(c[["person_id", "current_address", "address_date", "perm_ward", "perm_prov", "perm_house"]],
                                                  on="person_id", suffixes=("", "_card"))
    later = both[both["address_date_card"] > both["address_date"].fillna(pd.Timestamp.min)]
    pos = pd.Index(r["person_id"]).get_indexer(later["person_id"])
    r.loc[pos, "current_address"] = later["current_address"].to_numpy()
    r.loc[pos, "address_date"] = later["address_date_card"].to_numpy()
    r.loc[pos, "cur_ward"] = later["perm_ward"].to_numpy()
    r.loc[pos, "cur_prov"] = later["perm_prov"].to_numpy()
    r.loc[pos, "cur_house"] = later["perm_house"].to_numpy()
    # the card's own address, earlier or later: a card issued before a move still prints the family
    # home (the old permanent address), where parents often still live; the wanted person's own card
    # (their identity record's) is then one more place the person lived (run.with_identity)
    on = c.set_index("person_id")
    at = pd.Index(on.index).get_indexer(r["person_id"])
    has = at >= 0
    for col, src in zip(CARD_COLUMNS, ("perm_ward", "perm_prov", "perm_house")):
        r.loc[has, col] = on[src].to_numpy()[at[has]]
    only = c[~c["person_id"].isin(r["person_id"])].copy()
    only["status"] = "alive"
    only["source"] = "id_cards"
    for col, src in zip(CARD_COLUMNS, ("perm_ward", "perm_prov", "perm_house")):
        only[col] = only[src]
    return pd.concat([r, only[r.columns]], ignore_index=True)
