"""Candidate pairs per relation, by blocking on parents' names, and each pair's comparison levels.

father / mother: the wanted record's father_name / mother_name = a register person's full name
(same phonetic key), gender fitting, born 15-55 years earlier. sibling: same mother's or father's
name, birth years at most `sibling_max` apart. child: the register person's father_name (wanted
man) or mother_name (wanted woman) = the wanted person's name or one of their aliases, born 15-55
years later. Everything is a join or a column operation: no loop per pair.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from linkage.relatives.rules import RelativesRules


def _gap_ok(gap: pd.Series, lo: float, hi: float) -> pd.Series:
    return gap.isna() | gap.between(lo, hi)


def _pairs(w: pd.DataFrame, r: pd.DataFrame, wkey: str, rkey: str, wmask=None, rmask=None,
           rname: str = "") -> pd.DataFrame:
    """(w_idx, r_idx) of records whose keys are equal (missing keys never pair). The register side
    (`rname` names its mask) is grouped by key once and kept: each chunk of wanted records looks
    its keys up in it instead of joining the whole register again."""
    left = w.loc[w[wkey].notna() if wmask is None else (w[wkey].notna() & wmask), [wkey]]

    def grouped() -> tuple[pd.Index, np.ndarray, np.ndarray]:
        right = r.loc[r[rkey].notna() if rmask is None else (r[rkey].notna() & rmask), rkey]
        codes, keys = pd.factorize(right.to_numpy(dtype=object), sort=False)
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(len(keys) + 1))
        return pd.Index(keys), right.index.to_numpy()[order], starts

    keys, rows, starts = _cached(r, f"_pairs_{rkey}_{rname}", grouped)
    k = keys.get_indexer(left[wkey].to_numpy(dtype=object))
    hit = k >= 0
    wi, k = left.index.to_numpy()[hit], k[hit]
    n = starts[k + 1] - starts[k]
    w_idx = np.repeat(wi, n)
    first = np.repeat(starts[k], n)
    offset = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return pd.DataFrame({"w_idx": w_idx, "r_idx": rows[first + offset]})


_ARRAYS: dict[int, dict[str, np.ndarray]] = {}


def _cached(df: pd.DataFrame, key: str, make):
    """A value derived from the whole register, computed once per frame (the wanted records are
    scored in chunks against the same register: term frequencies, shares, children by parents)."""
    cache = _ARRAYS.get(id(df))
    if cache is None:
        cache = _ARRAYS[id(df)] = {}
        weakref.finalize(df, _ARRAYS.pop, id(df), None)
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _take(df: pd.DataFrame, col: str, idx: np.ndarray) -> np.ndarray:
    """Values at idx; missing text as NaN (never equal to anything, unlike pd.NA or None).
    Each frame's column is converted to numpy once (frames are not changed once read)."""
    cache = _ARRAYS.get(id(df))
    if cache is None:
        cache = _ARRAYS[id(df)] = {}
        weakref.finalize(df, _ARRAYS.pop, id(df), None)
    arr = cache.get(col)
    if arr is None:
        s = df[col]
        numeric = pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)
        arr = cache[col] = s.to_numpy() if numeric else s.to_numpy(dtype=object, na_value=np.nan)
    return arr[idx]


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal codes, or a shared code where one side is a split ward ("a|b")."""
    known = pd.notna(a) & pd.notna(b)
    out = known & (a == b)
    rest = np.flatnonzero(known & ~out)
    values = pd.unique(np.concatenate([a[rest], b[rest]]))  # distinct codes: few, unlike pairs
    split = [v for v in values if "|" in v]
    if not split:
        return out
    table = pd.Index(np.array(split, dtype=object))
    multi = rest[(table.get_indexer(a[rest]) >= 0) | (table.get_indexer(b[rest]) >= 0)]
    if len(multi):  # few rows: split wards only
        out[multi] = [bool(set(x.split("|")) & set(y.split("|"))) for x, y in zip(a[multi], b[multi])]
    return out


def _places(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame) -> None:
    """hometown and address levels of pairs p (in place)."""
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    hw, hr = _take(w, "home_ward", wi), _take(r, "home_ward", ri)
    pw, pr = _take(w, "home_prov", wi), _take(r, "home_prov", ri)
    known_p = pd.notna(pw) & pd.notna(pr)
    coarse = pd.isna(hw) | pd.isna(hr)  # one side names only the province
    p["hometown"] = np.where(_same(hw, hr), "same_ward",
                             np.where(known_p & (pw == pr), np.where(coarse, "same_province_only", "same_province"),
                                      np.where(known_p, "differ", "unknown")))
    same_w = np.zeros(len(p), bool)
    same_p = np.zeros(len(p), bool)
    any_w, any_r = np.zeros(len(p), bool), np.zeros(len(p), bool)
    for a in _wanted_sides(w):
        aw, ap = _take(w, f"{a}_ward", wi), _take(w, f"{a}_prov", wi)
        any_w |= pd.notna(ap)
        for b in ("perm", "cur"):
            bw, bp = _take(r, f"{b}_ward", ri), _take(r, f"{b}_prov", ri)
            same_w |= _same(aw, bw)
            same_p |= pd.notna(ap) & pd.notna(bp) & (ap == bp)
    # the wanted person's birth commune (notice or identity record) is a place the family lived: a
    # child is born, and registered, where the parents live, and parents often stay
    for a in [c for c in ("birth_ward", "id_birth_ward") if c in w.columns]:
        aw = _take(w, a, wi)
        for b in ("perm", "cur"):
            same_w |= _same(aw, _take(r, f"{b}_ward", ri))
    for b in ("perm", "cur"):
        any_r |= pd.notna(_take(r, f"{b}_prov", ri))
    p["address"] = np.where(same_w, "same_ward", np.where(same_p, "same_province",
                                                          np.where(any_w & any_r, "differ", "unknown")))


def _wanted_sides(w: pd.DataFrame) -> tuple[str, ...]:
    """The wanted person's addresses: the notice's (perm, cur), the identity record's (id_perm,
    id_cur) and the address on the identity person's ID card (id_card: a card issued before a move
    prints the family home), where the frame carries them."""
    sides = ("perm", "cur") + (("id_perm", "id_cur") if "id_perm_ward" in w.columns else ())
    return sides + (("id_card",) if "id_card_ward" in w.columns else ())


def _spouse(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame, relation: str) -> None:
    """spouse level of parent candidates (in place): the candidate's partner bears the wanted
    record's other parent's name. Seen two ways, one fact: a register person of the other sex with
    that name lives at the candidate's house address (same_house) or in their commune (same_ward),
    or a register child of the candidate's, whose other parent has that name (or who is named like
    the wanted person), lives there (`_family_evidence`). A married couple shares one household
    (hộ) wherever it lives, so this finds the parent who moved away with the other parent.

    Counted once: a namesake of the father who has a wife with the mother's name has children with
    both names too; counting the child as a second coincidence weighed a namesake family (another
    couple with the same two common names) at 20 bits and listed it at 1M (docs/relatives.md).
    u per pair: 1 - exp(-(register persons with the other parent's name + register persons whose
    parents bear both names) x (share of the register living at the candidate's house / commune))."""
    other, g = ("mother", "F") if relation == "father" else ("father", "M")
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    name = _take(w, f"{other}_phon", wi)
    if f"id_{other}_phon" in w.columns:
        name = np.where(pd.isna(name), _take(w, f"id_{other}_phon", wi), name)
    fits = _cached(r, f"_fits_{g}", lambda: r["gender"].isna() | (r["gender"] == g))
    counts = _cached(r, f"_count_phon_{g}", lambda: r.loc[fits, "phon"].dropna().value_counts())
    n = pd.Series(name, dtype=object).map(counts).fillna(0.0).to_numpy() + p["kin_k"].to_numpy()
    kid = p["family"].to_numpy() != "none"  # a child of the candidate's with that other parent, in their commune
    hits = {}
    for unit in ("ward", "house"):
        def keys() -> pd.Index:
            sub = r.loc[fits & r["phon"].notna(), ["phon", f"perm_{unit}", f"cur_{unit}"]]
            parts = [sub["phon"].astype(object) + "#" + sub[c].astype(object) for c in (f"perm_{unit}", f"cur_{unit}")]
            return pd.Index(pd.concat(parts).dropna().unique())
        known = _cached(r, f"_spouse_{unit}_{g}", keys)
        hit = np.zeros(len(p), bool)
        for c in (f"perm_{unit}", f"cur_{unit}"):
            place = _take(r, c, ri)
            ok = pd.notna(place) & pd.notna(name)
            k = pd.Series(np.where(ok, name, ""), dtype=object) + "#" + pd.Series(np.where(ok, place, ""), dtype=object)
            hit |= ok & (known.get_indexer(k.to_numpy()) >= 0)
        hits[unit] = hit
        p[f"spouse_{unit}_u"] = np.clip(-np.expm1(-np.maximum(n, 1.0) * _lives_share(r, ri, unit)), 1e-7, 1.0)
    # none: nobody with the other parent's name in the candidate's commune. Its u is the rest: in a
    # populous commune, with a common name, a namesake would often have one, so none says more there.
    p["spouse_none_u"] = np.clip(1.0 - p["spouse_ward_u"].to_numpy(), 1e-3, 1.0)
    house = hits["house"] | p["kin_house"].to_numpy()
    ward = ~house & (hits["ward"] | kid)
    p["spouse"] = np.where(house, "same_house", np.where(ward, "same_ward",
                                                         np.where(pd.isna(name), "unknown", "none")))
    # which way it was seen (for the explanation): the person with the other parent's name, or a child
    p["spouse_via"] = np.where((house & hits["house"]) | (ward & hits["ward"]), "person",
                               np.where(house | ward, "child", ""))
    # a candidate who lives in one of the wanted person's communes shares the commune with the wanted
    # person's own family (the mother, the siblings): someone there bearing the other parent's name is
    # then explained by that family whoever the candidate is (at 1M: 0.47 of the fathers living there,
    # 0.40 of the namesakes living there). Its own level, m and u measured among those pairs.
    home = p["household"].isin(("same_ward", "same_house")).to_numpy() if "household" in p.columns else False
    p.loc[ward & home, "spouse"] = "in_wanted_commune"


def _lives_share(r: pd.DataFrame, ri: np.ndarray, unit: str) -> np.ndarray:
    """Share of the register living (permanent or current address) where register persons ri live."""
    share = _living_share(r, unit)
    sp = pd.Series(_take(r, f"perm_{unit}", ri)).map(share).fillna(0.0).to_numpy()
    cur = _take(r, f"cur_{unit}", ri)
    sc = np.where(cur == _take(r, f"perm_{unit}", ri), 0.0, pd.Series(cur).map(share).fillna(0.0).to_numpy())
    return sp + sc


HOUSE_VIA = {"perm": "notice", "cur": "notice", "id_perm": "record", "id_cur": "record", "id_card": "card"}


def _shares_house(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame) -> np.ndarray:
    """Where the candidate lives at one of the wanted person's addresses (house, street or hamlet
    part and commune): which record gave that address (notice, record: the identity's residents
    record, card: the identity person's ID card), else ""."""
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    out = np.full(len(p), "", dtype=object)
    for a in _wanted_sides(w):
        aw = _take(w, f"{a}_house", wi)
        hit = np.zeros(len(p), bool)
        for b in ("perm", "cur"):
            hit |= pd.notna(aw) & (aw == _take(r, f"{b}_house", ri))
        out[hit & (out == "")] = HOUSE_VIA[a]
    return out


def _tf(values: pd.Series) -> pd.Series:
    """Share of the population holding each key (the u of an agreeing name)."""
    v = values.dropna()
    return v.value_counts() / max(len(values), 1)


def _family_evidence(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame, relation: str,
                     ident: pd.DataFrame | None = None) -> None:
    """For a parent candidate: a register child of theirs (their name as its father's / mother's
    name, living in the candidate's commune: one household, not only one name) who is like the wanted person (same name, birth year within one: child_like_wanted)
    or whose other parent's name is the wanted record's other parent (child_with_other_parent)."""
    own, other = ("mother_phon", "father_phon") if relation == "mother" else ("father_phon", "mother_phon")
    kids = _cached(r, f"_kids_{own}", lambda: r.loc[r[own].notna(), [
        own, other, "phon", "byear", "full_name", "perm_ward", "cur_ward", "perm_house", "cur_house"]
    ].reset_index(names="c_idx"))
    base = pd.DataFrame({"pair": np.arange(len(p)), "r_idx": p["r_idx"].to_numpy(), "w_idx": p["w_idx"].to_numpy(),
                         "key": _take(r, "phon", p["r_idx"].to_numpy()),
                         "w_other": _take(w, other, p["w_idx"].to_numpy()),
                         "w_phon": _take(w, "phon", p["w_idx"].to_numpy()),
                         "w_year": _take(w, "byear", p["w_idx"].to_numpy())})
    a = base.dropna(subset=["w_other"]).merge(kids, left_on=["key", "w_other"], right_on=[own, other])
    b = base.merge(kids, left_on=["key", "w_phon"], right_on=[own, "phon"])
    hits = pd.concat([a, b], ignore_index=True)
    hits = hits[hits["c_idx"] != hits["r_idx"]]
    if ident is not None and len(ident):
        # the wanted person's own record is not a further child: its places are already compared
        me = pd.MultiIndex.from_arrays([ident["w_idx"].to_numpy(), ident["r_idx"].to_numpy()])
        hits = hits[~pd.MultiIndex.from_arrays([hits["w_idx"].to_numpy(), hits["c_idx"].to_numpy()]).isin(me)]
    # the child must share a place with this candidate: a household, not only a name
    ri = hits["r_idx"].to_numpy()
    home = np.zeros(len(hits), bool)
    for a in ("perm_ward", "cur_ward"):  # where they live: a shared hometown is compared already
        cv = hits[a].to_numpy(dtype=object, na_value=np.nan)
        for b in ("perm_ward", "cur_ward"):
            home |= _same(cv, _take(r, b, ri))
    hits = hits[home]
    ri = hits["r_idx"].to_numpy()
    at_house = np.zeros(len(hits), bool)
    for a in ("perm_house", "cur_house"):
        cv = hits[a].to_numpy(dtype=object, na_value=np.nan)
        for b in ("perm_house", "cur_house"):
            at_house |= pd.notna(cv) & (cv == _take(r, b, ri))
    p["kin_house"] = False
    p.iloc[np.unique(hits["pair"].to_numpy()[at_house]), p.columns.get_loc("kin_house")] = True
    p["kin_k"] = _kin_count(w, r, p, kids, own, other)
    like = (hits["phon"] == hits["w_phon"]) & ((hits["byear"] - hits["w_year"]).abs().fillna(0) <= 1)
    hits = hits.assign(level=np.where(like, 0, 1)).sort_values(["pair", "level", "byear"], kind="stable")
    best = hits.drop_duplicates("pair")
    names = ("child_like_wanted", "child_with_other_parent")
    p["family"] = "none"
    p["kin_name"] = pd.Series(pd.NA, index=p.index, dtype="string")
    p["kin_year"] = np.nan
    pos = best["pair"].to_numpy()
    p.iloc[pos, p.columns.get_loc("family")] = np.array(names, dtype=object)[best["level"].to_numpy()]
    p.iloc[pos, p.columns.get_loc("kin_name")] = best["full_name"].to_numpy()
    p.iloc[pos, p.columns.get_loc("kin_year")] = best["byear"].to_numpy()


def _kin_count(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame, kids: pd.DataFrame, own: str,
               other: str) -> np.ndarray:
    """For each pair: register persons whose parents' names are the candidate's and the wanted
    record's other parent's, plus those named like the wanted person with the candidate's name as
    a parent's. They grow with the register (at 100M, a couple named Nguyễn Văn Hùng and Nguyễn
    Thị Lan has children in most communes), so the u of the spouse levels counts them."""
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    key = _take(r, "phon", ri)
    pair_n = _cached(r, f"_pair_n_{own}", lambda: kids.groupby([own, other]).size())
    like_n = _cached(r, f"_like_n_{own}", lambda: kids.groupby([own, "phon"]).size())
    k = np.zeros(len(p))
    for counts, wcol in ((pair_n, other), (like_n, "phon")):
        look = pd.MultiIndex.from_arrays([pd.Series(key, dtype=object), pd.Series(_take(w, wcol, wi), dtype=object)])
        pos = counts.index.get_indexer(look)
        k += np.where(pos >= 0, counts.to_numpy()[np.maximum(pos, 0)], 0)
    return k


def _living_share(r: pd.DataFrame, unit: str) -> pd.Series:
    """Share of the register persons living (permanent or current address) in each commune or house."""
    def make() -> pd.Series:
        pw = r[f"perm_{unit}"].to_numpy(dtype=object, na_value=np.nan)
        cw = r[f"cur_{unit}"].to_numpy(dtype=object, na_value=np.nan)
        both = pd.Series(np.concatenate([pw, np.where(cw == pw, np.nan, cw)])).dropna()
        return both.value_counts() / max(len(r), 1)
    return _cached(r, f"_share_{unit}", make)


def _born_in_wanted_commune(w: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame) -> np.ndarray:
    """The candidate's birth commune is the wanted person's hometown commune or birth commune (the
    notice's or the identity record's)."""
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    born = _take(r, "birth_ward", ri)
    out = np.zeros(len(p), bool)
    for a in [c for c in ("home_ward", "birth_ward", "id_birth_ward") if c in w.columns]:
        out |= _same(_take(w, a, wi), born)
    return out


def _name_level(wn: np.ndarray, rn: np.ndarray) -> np.ndarray:
    return np.where(pd.notna(wn) & pd.notna(rn) & (wn == rn), "exact", "near")


def _with_siblings(r: pd.DataFrame, p: pd.DataFrame, sibs: pd.DataFrame | None) -> pd.DataFrame:
    """For each parent pair, what the wanted person's probable siblings (`sibs`: w_idx, s_idx) say:
    the eldest birth year among the wanted person and them, one living in the candidate's commune
    (sib_ward: name and birth year for the line), and the candidate born in a sibling's birth or
    hometown commune (sib_born). The siblings are the candidate's children if the candidate is the
    parent: where they live and were born are the family's places, as the wanted person's are."""
    out = pd.DataFrame({"eldest": np.full(len(p), np.nan), "sib_ward": False, "sib_born": False,
                        "sib_name": pd.Series(pd.NA, index=p.index, dtype="string"), "sib_year": np.nan}, index=p.index)
    if sibs is None or not len(sibs) or not len(p):
        return out
    eldest = pd.Series(_take(r, "byear", sibs["s_idx"].to_numpy())).groupby(sibs["w_idx"].to_numpy()).min()
    out["eldest"] = eldest.reindex(p["w_idx"].to_numpy()).to_numpy()
    j = pd.DataFrame({"pair": np.arange(len(p)), "w_idx": p["w_idx"].to_numpy(), "r_idx": p["r_idx"].to_numpy()}
                     ).merge(sibs, on="w_idx")
    j = j[(j["s_idx"] != j["r_idx"]).to_numpy()]
    ri, si = j["r_idx"].to_numpy(), j["s_idx"].to_numpy()
    ward = np.zeros(len(j), bool)
    for a in ("perm_ward", "cur_ward"):
        for b in ("perm_ward", "cur_ward"):
            ward |= _same(_take(r, a, ri), _take(r, b, si))
    born = np.zeros(len(j), bool)
    for b in ("birth_ward", "home_ward"):
        born |= _same(_take(r, "birth_ward", ri), _take(r, b, si))
    out.iloc[np.unique(j["pair"].to_numpy()[born]), out.columns.get_loc("sib_born")] = True
    first = j[ward].drop_duplicates("pair")
    pos = first["pair"].to_numpy()
    out.iloc[pos, out.columns.get_loc("sib_ward")] = True
    out.iloc[pos, out.columns.get_loc("sib_name")] = _take(r, "full_name", first["s_idx"].to_numpy())
    out.iloc[pos, out.columns.get_loc("sib_year")] = _take(r, "byear", first["s_idx"].to_numpy())
    return out


def parents(w: pd.DataFrame, r: pd.DataFrame, relation: str, rules: RelativesRules,
            ident: pd.DataFrame | None = None, sibs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Father or mother candidates with their levels and the name's term frequency. `sibs` (w_idx,
    s_idx): the wanted person's probable siblings, whose places and birth years are the family's."""
    g = "M" if relation == "father" else "F"
    stem = relation  # father_phon / mother_phon
    fits = _cached(r, f"_fits_{g}", lambda: r["gender"].isna() | (r["gender"] == g))
    p = _pairs(w, r, f"{stem}_phon", "phon", rmask=fits, rname=g)
    if f"id_{stem}_phon" in w.columns:  # the identity record's spelling of the parent's name too
        p = pd.concat([p, _pairs(w, r, f"id_{stem}_phon", "phon", rmask=fits, rname=g)],
                      ignore_index=True).drop_duplicates()
    gap = pd.Series(_take(w, "byear", p["w_idx"].to_numpy()) - _take(r, "byear", p["r_idx"].to_numpy()))
    lo, hi = rules.years["parent"]
    keep = _gap_ok(gap, lo, hi).to_numpy()
    p, gap = p[keep].reset_index(drop=True), gap[keep].reset_index(drop=True)
    fam = _with_siblings(r, p, sibs)
    # the age at the eldest known child (the wanted person or a probable sibling): a parent's age at
    # the first child is narrower than at any child, so the eldest tells a namesake of another
    # generation better than the wanted person alone (a later child widens the gap)
    eldest = np.fmin(_take(w, "byear", p["w_idx"].to_numpy()), fam["eldest"].to_numpy())
    at_eldest = pd.Series(eldest - _take(r, "byear", p["r_idx"].to_numpy()))
    tlo, thi = rules.years["parent_at_eldest"][relation]
    p["age"] = np.where(at_eldest.isna(), "unknown", np.where(at_eldest.between(tlo, thi), "typical", "wide"))
    rn = _take(r, "norm", p["r_idx"].to_numpy())
    p["name"] = _name_level(_take(w, f"{stem}_norm", p["w_idx"].to_numpy()), rn)
    if f"id_{stem}_norm" in w.columns:
        p["name"] = np.where(_name_level(_take(w, f"id_{stem}_norm", p["w_idx"].to_numpy()), rn) == "exact", "exact", p["name"])
    tf = _cached(r, f"_tf_phon_{g}", lambda: _tf(r.loc[fits, "phon"]))
    p["name_u"] = pd.Series(_take(r, "phon", p["r_idx"].to_numpy())).map(tf).fillna(1.0 / max(int(fits.sum()), 1)).to_numpy()
    _places(w, r, p)
    # born in the wanted person's hometown or birth commune, where the hometowns do not already agree
    # to the commune: quê quán follows the father, who is mostly born in his own, and a child is born
    # where the parents live; a hometown written with the province only then still meets a commune
    born = _born_in_wanted_commune(w, r, p)
    coarse = p["hometown"].isin(("same_province_only", "same_province", "unknown")).to_numpy()
    p["born_via"] = np.where(born, "wanted", np.where(fam["sib_born"].to_numpy(), "sibling", ""))
    p["hometown"] = np.where(coarse & (p["born_via"] != "").to_numpy(), "birth_commune", p["hometown"])
    _family_evidence(w, r, p, relation, ident)
    # household: where the candidate lives against where the wanted person lived, down to the house
    via = _shares_house(w, r, p)
    p["household"] = np.where(via != "", "same_house", p["address"])
    p["house_via"] = via
    # u of same_house: the share of the register living at the candidate's house address
    p["house_u"] = np.clip(-np.expm1(-_lives_share(r, p["r_idx"].to_numpy(), "house")), 1e-7, 1.0)
    _spouse(w, r, p, relation)
    # a probable sibling of the wanted person (the candidate's child, if the candidate is the parent)
    # lives in the candidate's commune, which is none of the wanted person's: one fact about who lives
    # with the candidate, so a level of the same comparison (the sibling may be the child that made
    # same_ward), counted once; at the candidate's house the other levels say it already
    sib = fam["sib_ward"].to_numpy() & ~p["household"].isin(("same_ward", "same_house")).to_numpy()
    p.loc[sib & (p["spouse"] != "same_house").to_numpy(), "spouse"] = "sibling_ward"
    p["sib_name"], p["sib_year"] = fam["sib_name"].to_numpy(), fam["sib_year"].to_numpy()
    p["pool"] = int(fits.sum())
    return p


def siblings(w: pd.DataFrame, r: pd.DataFrame, rules: RelativesRules) -> pd.DataFrame:
    """Persons sharing the wanted record's mother's or father's name, birth years close."""
    p = pd.concat([_pairs(w, r, "mother_phon", "mother_phon"), _pairs(w, r, "father_phon", "father_phon")],
                  ignore_index=True).drop_duplicates()
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    gap = pd.Series(_take(r, "byear", ri) - _take(w, "byear", wi))
    keep = (gap.isna() | (gap.abs() <= rules.years["sibling_max"])).to_numpy()
    p, gap = p[keep].reset_index(drop=True), gap[keep].reset_index(drop=True)
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    p["age"] = np.where(gap.isna(), "unknown", np.where(gap.abs() <= rules.years["sibling_near"], "near", "far"))
    for par in ("mother", "father"):
        wn, rn = _take(w, f"{par}_norm", wi), _take(r, f"{par}_norm", ri)
        wp, rp = _take(w, f"{par}_phon", wi), _take(r, f"{par}_phon", ri)
        both = pd.notna(wp) & pd.notna(rp)
        p[par] = np.where(~both, "unknown", np.where(wn == rn, "exact", np.where(wp == rp, "near", "differ")))
        p[f"{par}_u"] = pd.Series(rp).map(_cached(r, f"_tf_{par}", lambda: _tf(r[f"{par}_phon"]))).fillna(1.0 / len(r)).to_numpy()
    fw, fr = _take(w, "family", wi), _take(r, "family", ri)
    p["family_name"] = np.where(pd.isna(fw) | pd.isna(fr), "unknown", np.where(fw == fr, "equal", "differ"))
    _places(w, r, p)
    p["pool"] = len(r)
    return p


def children(w: pd.DataFrame, aliases: pd.DataFrame, r: pd.DataFrame, rules: RelativesRules) -> pd.DataFrame:
    """Persons whose father's (wanted man) or mother's (wanted woman) name is the wanted person's."""
    parts = []
    for stem, g in (("father", "M"), ("mother", "F")):
        fits = w["gender"].isna() | (w["gender"] == g)
        own = _pairs(w, r, "phon", f"{stem}_phon", wmask=fits)
        own["via"], own["stem"] = "own", stem
        al = aliases[fits.to_numpy()[aliases["w_idx"].to_numpy()]] if len(aliases) else aliases
        a = al.merge(r[[f"{stem}_phon", f"{stem}_norm"]].dropna(subset=[f"{stem}_phon"]).reset_index(names="r_idx"),
                     left_on="phon", right_on=f"{stem}_phon")
        kind = a["kind"] if "kind" in a.columns else pd.Series("alias", index=a.index)
        # the identity record's name is the person's name, not an alias: exact or near
        via = np.where(kind == "identity", np.where(a["norm"] == a[f"{stem}_norm"], "id_exact", "id_near"), "alias")
        a = a[["w_idx", "r_idx"]].assign(via=via, stem=stem)
        parts += [own, a]
    p = pd.concat(parts, ignore_index=True)
    rank = p["via"].map({"own": 0, "id_exact": 1, "id_near": 2, "alias": 3}).to_numpy()
    p = (p.assign(_r=rank).sort_values(["w_idx", "r_idx", "_r"], kind="stable")
         .drop_duplicates(["w_idx", "r_idx"], keep="first").drop(columns="_r").reset_index(drop=True))
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    gap = pd.Series(_take(r, "byear", ri) - _take(w, "byear", wi))
    lo, hi = rules.years["child"]
    keep = _gap_ok(gap, lo, hi).to_numpy()
    p, gap = p[keep].reset_index(drop=True), gap[keep].reset_index(drop=True)
    wi, ri = p["w_idx"].to_numpy(), p["r_idx"].to_numpy()
    tlo, thi = rules.years["child_typical"]
    p["age"] = np.where(gap.isna(), "unknown", np.where(gap.between(tlo, thi), "typical", "wide"))
    is_f = (p["stem"] == "father").to_numpy()
    rn = np.where(is_f, _take(r, "father_norm", ri), _take(r, "mother_norm", ri))
    rp = np.where(is_f, _take(r, "father_phon", ri), _take(r, "mother_phon", ri))
    own_level = _name_level(_take(w, "norm", wi), rn)
    via = p["via"].to_numpy()
    p["name"] = np.where(via == "alias", "alias", np.where(via == "id_exact", "exact",
                                                           np.where(via == "id_near", "near", own_level)))
    p.loc[(via == "id_near") & (own_level == "exact"), "name"] = "exact"
    tf_f = _cached(r, "_tf_father", lambda: _tf(r["father_phon"]))
    tf_m = _cached(r, "_tf_mother", lambda: _tf(r["mother_phon"]))
    u = np.where(is_f, pd.Series(rp).map(tf_f), pd.Series(rp).map(tf_m))
    p["name_u"] = np.where(pd.isna(u), 1.0 / len(r), u).astype(float)
    fw, fr = _take(w, "family", wi), _take(r, "family", ri)
    p["family_name"] = np.where(pd.isna(fw) | pd.isna(fr), "unknown", np.where(fw == fr, "equal", "differ"))
    _places(w, r, p)
    p["pool"] = len(r)
    return p.drop(columns=["via", "stem"])
