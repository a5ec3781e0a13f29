"""Fellegi-Sunter weights per relation, probabilities, ranks and the explanation line.

A pair's match weight is the prior log-odds plus log2(m/u) of each comparison's level (name
levels take u from the name's term frequency). The prior is `expected` relatives of this kind
per wanted record over the register persons they are drawn from. A wanted person has one father
and one mother: their candidates compete with "not in the register" (probability = odds /
(1 + sum of the candidates' odds)), so five women with the mother's common name share one
mother's worth of probability. Siblings and children are scored one by one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from linkage.relatives.rules import COMPARISONS, HOME_AGREES, Relation, is_tf, u_column_of
from linkage.relatives.candidates import _take
from linkage.reports.strings import t

SINGLE = ("father", "mother")


def weights(p: pd.DataFrame, rel: Relation) -> pd.DataFrame:
    """mw_prior and one mw_<comparison> column per comparison; match_weight their sum."""
    out = pd.DataFrame(index=p.index)
    pool = max(int(p["pool"].iloc[0]) if len(p) else 1, 1)
    if rel.name in SINGLE and rel.expected < 1.0:
        # one father: in the register with probability e, then any of the pool; else not (1 - e),
        # the "none of them" whose odds the competition counts as 1 (probabilities below)
        out["mw_prior"] = math.log2(rel.expected / ((1.0 - rel.expected) * pool))
    else:
        prior = min(rel.expected / pool, 0.5)
        out["mw_prior"] = math.log2(prior / (1.0 - prior))
    home = p["hometown"].isin(HOME_AGREES).to_numpy() if "hometown" in p.columns else np.zeros(len(p), bool)
    for comp in COMPARISONS[rel.name]:
        lv = p[comp].to_numpy()
        mw = np.zeros(len(p))
        for level, m in rel.m[comp].items():
            sel = lv == level
            if not sel.any():
                continue
            if is_tf(comp, level):
                u = p.loc[sel, u_column_of(comp, level)].to_numpy()
                mw[sel] = np.log2(m / np.clip(u, 1e-9, 1.0))
            else:  # a place level's u given the hometown agrees, where the rules give one
                mw[sel] = np.where(home[sel], rel.weight(comp, level, home=True), rel.weight(comp, level))
        out[f"mw_{comp}"] = mw
    out["match_weight"] = out.sum(axis=1)
    return out


def probabilities(p: pd.DataFrame, relation: str) -> np.ndarray:
    """Per pair: odds/(1+odds), or for father/mother odds/(1 + the wanted record's summed odds)."""
    w = p["match_weight"].to_numpy()
    if relation in SINGLE:
        top = pd.Series(w).groupby(p["w_idx"].to_numpy()).transform("max").to_numpy()
        ref = np.maximum(top, 0.0)  # scale so the largest odds is 2**0 or less: no overflow
        odds = np.exp2(w - ref)
        total = pd.Series(odds).groupby(p["w_idx"].to_numpy()).transform("sum").to_numpy()
        return odds / (np.exp2(-ref) + total)
    return 1.0 / (1.0 + np.exp2(-w))


def _year(v: pd.Series) -> pd.Series:
    return v.astype("Int64").astype("string")


def explain(p: pd.DataFrame, w: pd.DataFrame, r: pd.DataFrame, relation: str, lang: str, rules_dir) -> pd.Series:
    """One line per pair: "mẹ: tên trùng Nguyễn Thị Lan; quê quán cùng xã; có con tên ... sinh 1985"."""
    def s(key: str, **kw) -> str:
        return t(f"relatives.{key}", lang, rules_dir, **kw)

    n = len(p)
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    r_name = pd.Series(r["full_name"].to_numpy(dtype=object, na_value="")[ri], index=p.index).fillna("")
    parts: list[pd.Series] = []

    def add(mask, text) -> None:
        text = text if isinstance(text, pd.Series) else pd.Series(text, index=p.index)
        parts.append(text.where(pd.Series(np.asarray(mask), index=p.index), ""))

    if relation in SINGLE:
        for lv in ("exact", "near"):
            add(p["name"] == lv, r_name.map(lambda x, lv=lv: s(f"name_{lv}", name=x)))
    elif relation == "child":
        w_name = pd.Series(_take(w, "full_name", wi), index=p.index).fillna("")
        wg = _take(w, "gender", wi)
        word = pd.Series(np.where(wg == "F", s("parent_word.mother"), s("parent_word.father")), index=p.index)
        for lv in ("exact", "near"):
            add(p["name"] == lv, pd.Series([s(f"child_parent_{lv}", parent=a, name=b) for a, b in zip(word, w_name)],
                                           index=p.index, dtype=object) if n else pd.Series([], dtype=object))
        add(p["name"] == "alias", w_name.map(lambda x: s("name_alias", name=x)))
    else:
        for par in ("mother", "father"):
            wn = pd.Series(_take(w, f"{par}_norm", wi), index=p.index)
            raw = pd.Series(_take(r, f"{par}_norm", ri), index=p.index).fillna(wn).fillna("").str.title()
            add(p[par] == "exact", raw.map(lambda x, par=par: s(f"same_{par}", name=x)))
            add(p[par] == "near", raw.map(lambda x, par=par: s(f"near_{par}", name=x)))
            add(p[par] == "differ", s(f"differ_{par}"))
    if relation != "child" and "parents_via" in w.columns:  # the parents' names borrowed from a housemate
        via = _take(w, "parents_via", wi).astype("int64")
        at = via >= 0
        line = pd.Series("", index=p.index, dtype=object)
        line[at] = [s("names_from_housemate", name=a, year=b) for a, b in
                    zip(pd.Series(r["full_name"].to_numpy(dtype=object)[via[at]]).fillna(""),
                        _year(pd.Series(r["byear"].to_numpy()[via[at]])).fillna("?"))]
        add(at, line)
    if "family_name" in p.columns:
        add(p["family_name"] == "equal", s("family_name_equal"))
    by_sibling = (p["born_via"] == "sibling") if "born_via" in p.columns else pd.Series(False, index=p.index)
    for comp in ("hometown", "address"):
        for lv in ("same_ward", "same_province_only", "same_province", "differ", "birth_commune"):
            if comp == "hometown" or lv not in ("same_province_only", "birth_commune"):
                at = p[comp] == lv
                if lv == "birth_commune":  # born where a probable sibling was born or comes from
                    add(at & by_sibling, s("hometown_birth_commune_sibling"))
                    at = at & ~by_sibling
                add(at, s(f"{comp}_{lv}"))
    gap = pd.Series(np.abs(_take(r, "byear", ri) - _take(w, "byear", wi)), index=p.index)
    add(gap.notna(), _year(gap).fillna("").map(lambda x: s("age_gap", years=x)))
    if relation in SINGLE:
        other = "mother" if relation == "father" else "father"
        other_name = pd.Series(_take(w, f"{other}_norm", wi), index=p.index).fillna("").str.title()
        kn, ky = p["kin_name"].fillna(""), _year(p["kin_year"]).fillna("?")
        add(p["family"] == "child_like_wanted",
            pd.Series([s("child_like_wanted", name=a, year=b) for a, b in zip(kn, ky)], index=p.index, dtype=object))
        add(p["family"] == "child_with_other_parent",
            pd.Series([s("child_with_other_parent", name=a, year=b, other=f"{s('parent_word.' + other)} {c}")
                       for a, b, c in zip(kn, ky, other_name)], index=p.index, dtype=object))
    if "household" in p.columns:  # the wanted person's household address (house, hamlet) shared
        via = p["house_via"] if "house_via" in p.columns else pd.Series("notice", index=p.index)
        for kind, key in (("notice", "same_house"), ("record", "same_house_record"), ("card", "same_house_card")):
            add((p["household"] == "same_house") & (via == kind), s(key))
    if "spouse" in p.columns:  # the other parent living with the candidate, seen as a person or by a child
        other = "mother" if relation == "father" else "father"
        who = (s("parent_word." + other) + " " + pd.Series(_take(w, f"{other}_norm", wi), index=p.index)
               .fillna("").str.title())
        by_person = p["spouse_via"] == "person"
        for lv in ("same_house", "same_ward"):
            at = (p["spouse"] == lv) | ((p["spouse"] == "in_wanted_commune") & (lv == "same_ward"))
            add(at & by_person, who.map(lambda x, lv=lv: s(f"spouse_{lv}", other=x)))
        add((p["spouse"] == "same_house") & ~by_person, s("child_same_house"))
        at = (p["spouse"] == "sibling_ward").to_numpy()
        line = pd.Series("", index=p.index, dtype=object)
        line[at] = [s("spouse_sibling_ward", name=a, year=b)
                    for a, b in zip(p["sib_name"][at].fillna(""), _year(p["sib_year"][at]).fillna("?"))]
        add(at, line)
    dead = pd.Series(_take(r, "status", ri), index=p.index) == "deceased"  # frame.register_frame's status
    add(dead, s("deceased"))
    head = s(f"relation.{relation}") + ": "
    if not n:
        return pd.Series([], dtype=object)
    body = pd.Series("", index=p.index, dtype=object)
    for part in parts:  # column by column: "; " between the non-empty phrases of each row
        part = part.fillna("").astype(object)
        body = body + np.where((body != "") & (part != ""), "; ", "") + part
    return head + body
