"""Register relatives for the `relatives` linkage: parents and children who are register persons.

`make_people` builds children family by family; their father and mother are name codes only.
`add_kin` adds, for some families, the parents themselves as register persons (the same name
codes, gender, born 15-55 years before the eldest child, same hometown, often the family home,
some deceased), and for some register persons children of their own (whose father or mother name
is that person's name). It returns who is whose father and mother, from which the truth table of
relatives is written. It runs on its own random stream, so a run without families is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage.synth import rates as R
from linkage.synth.names import NameCodes, other_surnames, personal_names, template_has
from linkage.synth.places import Places
from linkage.synth.population import People, _age, _put, d64, make_people, uniform_dates, year_start
from linkage.synth.tables import FEMALE, MALE, Tables, piecewise

# Shares of the generated families (kept here: they only matter with families on).
PARENTS_IN_REGISTER_SHARE = 0.40  # families whose father and/or mother are register persons
PARENT_PRESENT = 0.80  # each parent of such a family, independently (at least one is present)
PARENT_AT_FAMILY_HOME = 0.65  # the parent's permanent address is the family home
COUPLE_TOGETHER = 0.85  # both parents in the register share one household (one address), at home or not
CHILDREN_FOR_PERSON_SHARE = 0.08  # register persons aged 38-80 given children in the register
CHILDREN_PER_PERSON = (1, 3)
CHILD_AT_PARENT_HOME = 0.55


def _birth_in_year(byear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ys = year_start(byear)
    days = (year_start(byear + 1) - ys) // np.timedelta64(1, "D")
    return ys + (rng.random(len(byear)) * days).astype(np.int64) * np.timedelta64(1, "D")


def _place_like(p: People, rows: np.ndarray, src: People, src_rows: np.ndarray) -> None:
    """Rows `rows` of p live at src's family home (permanent = current, no move)."""
    for a, b in (("perm_ward", "prev_ward"), ("perm_new", "prev_new"), ("cur_ward", "prev_ward"),
                 ("cur_new", "prev_new"), ("prev_ward", "prev_ward"), ("prev_new", "prev_new")):
        getattr(p, a)[rows] = getattr(src, b)[src_rows]
    for a in ("perm_house", "cur_house", "prev_house"):
        setattr(p, a, _put(getattr(p, a), rows, src.prev_house.take(pa.array(src_rows, type=pa.int64()))))
    p.moved[rows] = False


def _parents(res: People, tables: Tables, places: Places, rng: np.random.Generator) -> tuple[People, np.ndarray, np.ndarray]:
    """Register persons who are fathers/mothers of some families: (people, family, is_mother)."""
    fam = res.family
    F = int(fam.max()) + 1
    first = np.searchsorted(fam, np.arange(F))
    chosen = np.flatnonzero(rng.random(F) < PARENTS_IN_REGISTER_SHARE)
    has_f = rng.random(len(chosen)) < PARENT_PRESENT
    has_m = rng.random(len(chosen)) < PARENT_PRESENT
    has_m |= ~has_f
    pf = np.concatenate([chosen[has_f], chosen[has_m]])
    is_mother = np.concatenate([np.zeros(has_f.sum(), bool), np.ones(has_m.sum(), bool)])
    k = len(pf)
    p = make_people(k, tables, places, rng)
    kid = first[pf]  # the eldest child stands for the family
    p.gender = np.where(is_mother, FEMALE, MALE).astype(np.int8)
    p.name = NameCodes.empty(k)
    p.name.put(np.flatnonzero(~is_mother), res.father.take(kid[~is_mother]))
    p.name.put(np.flatnonzero(is_mother), res.mother.take(kid[is_mother]))
    lo = np.where(is_mother, R.MOTHER_AGE_AT_BIRTH[0], R.FATHER_AGE_AT_BIRTH[0])
    hi = np.where(is_mother, R.MOTHER_AGE_AT_BIRTH[1], R.FATHER_AGE_AT_BIRTH[1])
    gap = lo + (rng.random(k) * (hi - lo + 1)).astype(np.int64)
    # the youngest child too is born at most 55 years after the parent
    span = (pd.Series(res.byear).groupby(fam).max().to_numpy() - res.byear[first])[pf]
    gap = np.maximum(np.minimum(gap, 55 - span), 15)
    p.birth = _birth_in_year(res.byear[kid] - gap, rng)
    p.eth, p.tpl = res.eth[kid], res.tpl[kid]
    for a in ("home_ward", "home_new", "home_prov_only"):
        getattr(p, a)[:] = getattr(res, a)[kid]
    p.birth_ward[:] = res.home_ward[kid]
    p.birth_new[:] = res.home_new[kid]
    # A married couple shares one household (hộ): for most families both parents live at the family
    # home or both elsewhere, at one address (the father's); the rest (widowed, separated, working
    # away) decide each on their own. Before, each parent decided alone, and a parent who lived
    # elsewhere had a random address of their own, apart from the other parent.
    pos = np.concatenate([np.flatnonzero(has_f), np.flatnonzero(has_m)])  # each row's family in `chosen`
    together = (rng.random(len(chosen)) < COUPLE_TOGETHER)[pos]
    at_home = np.where(together, (rng.random(len(chosen)) < PARENT_AT_FAMILY_HOME)[pos],
                       rng.random(k) < PARENT_AT_FAMILY_HOME)
    home = np.flatnonzero(at_home)
    _place_like(p, home, res, kid[home])
    row_f = np.full(len(chosen), -1, np.int64)
    row_f[np.flatnonzero(has_f)] = np.arange(int(has_f.sum()))
    with_f = np.flatnonzero(is_mother & together & ~at_home & (row_f[pos] >= 0))
    _live_with(p, with_f, row_f[pos[with_f]])
    return p, pf, is_mother


def _live_with(p: People, rows: np.ndarray, src_rows: np.ndarray) -> None:
    """Rows `rows` of p live where rows `src_rows` of p live (permanent, current and previous)."""
    for a in ("perm_ward", "perm_new", "cur_ward", "cur_new", "prev_ward", "prev_new", "moved", "move_date"):
        getattr(p, a)[rows] = getattr(p, a)[src_rows]
    for a in ("perm_house", "cur_house", "prev_house"):
        setattr(p, a, _put(getattr(p, a), rows, getattr(p, a).take(pa.array(src_rows, type=pa.int64()))))


def _children(res: People, tables: Tables, places: Places, rng: np.random.Generator) -> tuple[People, np.ndarray]:
    """Children of some register persons: (people, index of the register parent)."""
    ref_year = d64(R.REFERENCE_DATE).astype("datetime64[Y]").astype(np.int64) + 1970
    age = ref_year - res.byear
    eligible = np.flatnonzero((age >= 38) & (age <= 80))
    chosen = eligible[rng.random(len(eligible)) < CHILDREN_FOR_PERSON_SHARE]
    nk = rng.integers(CHILDREN_PER_PERSON[0], CHILDREN_PER_PERSON[1] + 1, len(chosen))
    par = np.repeat(chosen, nk)
    k = len(par)
    c = make_people(k, tables, places, rng)
    male_par = res.gender[par] == MALE
    c.eth, c.tpl = res.eth[par], res.tpl[par]
    gap = rng.integers(20, 41, k)
    byear = np.minimum(res.byear[par] + gap, ref_year - 1)
    c.birth = np.minimum(_birth_in_year(byear, rng), d64(R.REFERENCE_DATE))
    # the other parent (not a register person): one per register parent
    uniq, inv = np.unique(par, return_inverse=True)
    region = places.prov_region[places.ward_prov[res.home_ward[uniq]]]
    has_s = template_has(tables, res.eth[uniq], res.tpl[uniq], "S")
    o_sur = np.where(has_s, other_surnames(tables, res.eth[uniq], region, res.name.sur[uniq], rng), 0)
    o_gender = np.where(res.gender[uniq] == MALE, FEMALE, MALE)
    other = personal_names(tables, res.eth[uniq], res.tpl[uniq], o_gender, res.byear[uniq], o_sur, rng).take(inv)
    matri = np.array([e.lineage == "matrilineal" for e in tables.ethnic])[c.eth]
    father_sur = np.where(male_par, res.name.sur[par], other.sur)
    mother_sur = np.where(male_par, other.sur, res.name.sur[par])
    sur = np.where(matri, mother_sur, father_sur)
    c.name = personal_names(tables, c.eth, c.tpl, c.gender, byear, sur, rng)
    c.father, c.mother = NameCodes.empty(k), NameCodes.empty(k)
    mp, fp = np.flatnonzero(male_par), np.flatnonzero(~male_par)
    c.father.put(mp, res.name.take(par[mp]))
    c.mother.put(mp, other.take(mp))
    c.mother.put(fp, res.name.take(par[fp]))
    c.father.put(fp, other.take(fp))
    c.parents_known[:] = rng.random(k) >= piecewise(R.PARENTS_UNKNOWN_BY_COHORT, byear)
    for a in ("home_ward", "home_new", "home_prov_only"):
        getattr(c, a)[:] = getattr(res, a)[par]
    home = np.flatnonzero(rng.random(k) < CHILD_AT_PARENT_HOME)
    for a in ("perm_ward", "perm_new", "cur_ward", "cur_new", "prev_ward", "prev_new"):
        getattr(c, a)[home] = getattr(res, "perm_ward" if "ward" in a else "perm_new")[par[home]]
    for a in ("perm_house", "cur_house", "prev_house"):
        setattr(c, a, _put(getattr(c, a), home, res.perm_house.take(pa.array(par[home], type=pa.int64()))))
    c.moved[home] = False
    c.family = (np.int64(0) + inv).astype(np.int32)  # siblings share the register parent
    return c, par


def add_kin(res: People, tables: Tables, places: Places, rng: np.random.Generator
            ) -> tuple[People, np.ndarray, np.ndarray]:
    """res with register parents and children appended; (people, father_idx, mother_idx), -1 where
    the parent is not a register person."""
    from linkage.synth.perturb import concat

    parents, pfam, is_mother = _parents(res, tables, places, rng)
    kids, kpar = _children(res, tables, places, rng)
    n0 = res.n
    top = int(res.family.max()) + 1
    parents.family = (top + np.arange(parents.n)).astype(np.int32)
    kids.family = (top + parents.n + kids.family).astype(np.int32)
    for p in (parents, kids):
        age = _age(p.birth)
        p.deceased = rng.random(p.n) < piecewise(R.DECEASED_BY_AGE, age)
        late = p.moved & ~(p.move_date >= p.birth)
        p.moved = p.moved & ~late
        p.move_date = np.where(p.moved, p.move_date, np.datetime64("NaT"))
        ok = p.moved & (p.move_date < p.birth + np.timedelta64(18 * 365, "D"))
        p.move_date[ok] = uniform_dates(rng, np.minimum(p.birth[ok] + np.timedelta64(18 * 365, "D"), d64(R.REFERENCE_DATE)),
                                        np.full(int(ok.sum()), d64(R.REFERENCE_DATE)))
    out = concat([res, parents, kids])
    n = out.n
    father, mother = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    # every child of a family whose parent was added
    pidx = n0 + np.arange(parents.n)
    fam_parent = pd.DataFrame({"family": pfam, "pidx": pidx, "mother": is_mother})
    kids_of = pd.DataFrame({"family": res.family, "kid": np.arange(n0)}).merge(fam_parent, on="family")
    for flag, arr in ((False, father), (True, mother)):
        sel = kids_of[kids_of["mother"] == flag]
        arr[sel["kid"].to_numpy()] = sel["pidx"].to_numpy()
    kidx = n0 + parents.n + np.arange(kids.n)
    male = res.gender[kpar] == MALE
    father[kidx[male]] = kpar[male]
    mother[kidx[~male]] = kpar[~male]
    return out, father, mother


def relatives_truth(wanted_ids: np.ndarray, idx: np.ndarray, people: People, pid_text: np.ndarray,
                    father: np.ndarray, mother: np.ndarray) -> pd.DataFrame:
    """(wanted_id, relation, person_id) for wanted records whose person is register person `idx`
    (-1: absent): father, mother, siblings (same family) and children."""
    w = pd.DataFrame({"wanted_id": wanted_ids, "i": idx})
    w = w[w["i"] >= 0]
    parts = []
    for rel, arr in (("father", father), ("mother", mother)):
        j = arr[w["i"].to_numpy()]
        parts.append(pd.DataFrame({"wanted_id": w["wanted_id"].to_numpy()[j >= 0], "relation": rel, "j": j[j >= 0]}))
    fam = pd.DataFrame({"family": people.family, "j": np.arange(people.n)})
    sib = w.assign(family=people.family[w["i"].to_numpy()]).merge(fam, on="family")
    sib = sib[sib["i"] != sib["j"]]
    parts.append(sib.assign(relation="sibling")[["wanted_id", "relation", "j"]])
    for arr in (father, mother):
        ch = pd.DataFrame({"i": arr, "j": np.arange(people.n)})
        ch = w.merge(ch[ch["i"] >= 0], on="i")
        parts.append(ch.assign(relation="child")[["wanted_id", "relation", "j"]])
    out = pd.concat(parts, ignore_index=True)
    out["person_id"] = pid_text[out["j"].to_numpy()]
    order = {"father": 0, "mother": 1, "sibling": 2, "child": 3}
    out = out.assign(_o=out["relation"].map(order)).sort_values(["wanted_id", "_o", "person_id"], kind="stable")
    return out[["wanted_id", "relation", "person_id"]].reset_index(drop=True)
