"""The wanted list and its truth: records derived from residents (some from their ID card) with
labelled perturbations that combine, plus wanted persons absent from both registers.

Labels come from the fixed vocabulary `rates.SCENARIOS`. Perturbation slots are drawn column-wise
(`draw_labels`); only the string surgery on the few wanted rows runs per record.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth import rates as R
from linkage.synth import textnoise as tn
from linkage.synth.ids import fmt
from linkage.synth.names import NameCodes, other_surnames, personal_names, render, template_has
from linkage.synth.places import Places
from linkage.synth.population import DAY, People, add_years, assign_ids, d64, new_name_for, year_start
from linkage.synth.registers import card_address, card_name, date_text
from linkage.synth.tables import FEMALE, MALE, Tables, piecewise

WANTED_COLUMNS = ("wanted_id", "full_name", "other_names", "gender", "birth_date", "birth_place", "hometown",
                  "permanent_address", "current_address", "ethnicity", "id_number", "father_name", "mother_name",
                  "decision_number", "decision_date", "issuing_unit", "offence", "danger_level", "identifying_marks")
# identifying_marks comes last, from linkage/synth/marks.py on a stream of its own (generate adds it)
RENDERED_COLUMNS = WANTED_COLUMNS[:-1]
TRUTH_COLUMNS = ("wanted_id", "person_id", "scenarios")
TEXT_FIELDS = ("full_name", "other_names", "father_name", "mother_name", "birth_place", "hometown",
               "permanent_address", "current_address")
LABEL_ORDER = tuple(R.SCENARIOS)
# Labels for people who changed after their ID card was issued, the wanted record copied from the
# card (old address / old name) while the residents register, updated later, holds the new one:
# the change flags must see these changes (docs/matching.md "Current state").
AFTER_CARD_SCENARIOS = {k: R.SCENARIOS[k] for k in ("moved_after_card", "renamed_after_card")}


# ------------------------------------------------------------------------------------------ selection
def gumbel_top_k(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weight (successive sampling)."""
    ok = np.flatnonzero(weights > 0)
    k = min(k, len(ok))
    keys = np.log(weights[ok]) - np.log(-np.log(rng.random(len(ok))))
    top = np.argpartition(-keys, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    top = top[np.argsort(-keys[top], kind="stable")]
    return ok[top]


def wanted_weights(people: People) -> np.ndarray:
    """Who gets wanted: mostly men aged 18-45."""
    w = np.where(people.gender == MALE, R.WANTED_MALE_WEIGHT, 1.0)
    w = w * piecewise(R.WANTED_AGE_WEIGHT, people.age())
    return w * np.where(people.deceased, R.WANTED_DECEASED_WEIGHT, 1.0)


def subset(people: People, idx: np.ndarray) -> People:
    """The rows `idx` of a People, as a new People (copies)."""
    vals = {}
    for f in fields(People):
        v = getattr(people, f.name)
        if f.name == "n":
            vals["n"] = len(idx)
        elif v is None:
            vals[f.name] = None
        elif isinstance(v, NameCodes):
            vals[f.name] = v.take(idx)
        elif isinstance(v, pa.Array):
            vals[f.name] = v.take(pa.array(idx, type=pa.int64()))
        else:
            vals[f.name] = np.asarray(v)[idx].copy()
    return People(**vals)


def concat(parts: list[People]) -> People:
    vals = {}
    for f in fields(People):
        vs = [getattr(p, f.name) for p in parts]
        if f.name == "n":
            vals["n"] = sum(vs)
        elif any(v is None for v in vs):
            vals[f.name] = None
        elif isinstance(vs[0], NameCodes):
            vals[f.name] = NameCodes(*(np.concatenate([getattr(v, g) for v in vs])
                                       for g in ("sur", "pre", "mid", "giv", "attach", "last")))
        elif isinstance(vs[0], pa.Array):
            vals[f.name] = pa.concat_arrays(vs)
        else:
            vals[f.name] = np.concatenate(vs)
    return People(**vals)


# ------------------------------------------------------------------------------------------ labels
def draw_labels(eligible: dict[str, np.ndarray], rng: np.random.Generator,
                allowed: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Independent slots (rates.SLOTS), one label per drawn slot among the applicable ones, at most
    rates.MAX_SLOTS slots per record (extra ones dropped at random)."""
    n = len(next(iter(eligible.values())))
    slots = list(R.SLOTS.items())
    pick = np.full((n, len(slots)), -1)
    for s, (_, (p, labs)) in enumerate(slots):
        names = list(labs)
        w = np.stack([eligible[lab] * (labs[lab] if allowed is None or lab in allowed else 0.0) for lab in names], 1)
        total = w.sum(1)
        hit = (total > 0) & (rng.random(n) < p)
        u = rng.random(n) * total
        j = (u[:, None] >= np.cumsum(w, 1)).sum(1)
        pick[hit, s] = j[hit]
    keys = np.where(pick >= 0, rng.random(pick.shape), np.inf)
    rank = keys.argsort(1).argsort(1)
    pick[rank >= R.MAX_SLOTS] = -1
    out = {lab: np.zeros(n, dtype=bool) for _, (_, labs) in slots for lab in labs}
    for s, (_, (_, labs)) in enumerate(slots):
        for j, lab in enumerate(labs):
            out[lab] |= pick[:, s] == j
    return out


# ------------------------------------------------------------------------------------------ build
@dataclass
class WantedDraft:
    """Wanted rows as People (values as the wanted record will state them) plus bookkeeping."""

    p: People
    kind: np.ndarray  # 0 present, 1 absent, 2 absent hard negative
    src: np.ndarray  # resident index (present) or -1
    labels: dict[str, np.ndarray]
    decision: np.ndarray
    units_new: np.ndarray


def _hard_negatives(res: People, idx: np.ndarray, tables: Tables, places: Places, rng: np.random.Generator,
                    taken_ids: np.ndarray) -> People:
    """Other people sharing full name, gender and birth year with residents `idx`."""
    h = subset(res, idx)
    n = h.n
    ys = year_start(h.byear)
    days = (year_start(h.byear + 1) - ys) // DAY
    new_birth = ys + (rng.random(n) * days).astype(np.int64) * DAY
    same_md = (new_birth.astype("datetime64[D]") == h.birth)
    for _ in range(20):
        bad = np.flatnonzero(same_md)
        if not len(bad):
            break
        new_birth[bad] = ys[bad] + (rng.random(len(bad)) * days[bad]).astype(np.int64) * DAY
        same_md = new_birth == h.birth
    h.birth = np.minimum(new_birth, d64(R.REFERENCE_DATE))
    h.bprec[:] = 2
    near = rng.random(n) < R.HARD_NEGATIVE_SAME_PROVINCE
    home = np.empty(n, dtype=np.int32)
    home[near] = places.ward_other_district(h.home_ward[near], rng)
    far_prov = places.other_province(places.ward_prov[h.home_ward[~near]], rng, R.MIGRANT_REGION_AFFINITY)
    home[~near] = places.ward_in_province(far_prov, rng)
    h.home_ward, h.home_new = home, places.to_2025(home, rng)
    h.birth_ward, h.birth_new = home.copy(), h.home_new.copy()
    perm = np.where(rng.random(n) < R.HARD_NEGATIVE_LIVES_AT_HOMETOWN, home, places.ward_in_province(places.ward_prov[home], rng))
    h.perm_ward = h.prev_ward = h.cur_ward = perm
    h.perm_new = h.prev_new = h.cur_new = places.to_2025(perm, rng)
    h.perm_house = h.prev_house = h.cur_house = places.house(perm, rng)
    h.moved[:] = False
    # other parents: the family name follows the lineage, the rest is new
    region = places.prov_region[places.ward_prov[home]]
    matri = np.array([e.lineage == "matrilineal" for e in tables.ethnic])[h.eth]
    has_s = template_has(tables, h.eth, h.tpl, "S")
    fam_sur = np.where(matri, h.mother.sur, h.father.sur)
    other = other_surnames(tables, h.eth, region, fam_sur, rng)
    f_sur = np.where(has_s, np.where(matri, other, h.name.sur), 0)
    m_sur = np.where(has_s, np.where(matri, h.name.sur, other), 0)
    f_year = h.byear - rng.integers(R.FATHER_AGE_AT_BIRTH[0], R.FATHER_AGE_AT_BIRTH[1] + 1, n)
    m_year = h.byear - rng.integers(R.MOTHER_AGE_AT_BIRTH[0], R.MOTHER_AGE_AT_BIRTH[1] + 1, n)
    father = personal_names(tables, h.eth, h.tpl, np.full(n, MALE), f_year, f_sur, rng)
    same = np.flatnonzero((father.giv == h.father.giv) & (father.mid == h.father.mid))
    father.giv[same] = personal_names(tables, h.eth[same], h.tpl[same], np.full(len(same), MALE),
                                      f_year[same], f_sur[same], rng).giv
    h.father, h.mother = father, personal_names(tables, h.eth, h.tpl, np.full(n, FEMALE), m_year, m_sur, rng)
    h.parents_known[:] = True
    h.renamed[:] = False
    h.nickname[:] = ""
    h.cmnd[:] = -1
    assign_ids(h, places, rng, taken_ids)
    return h


def build_drafts(res: People, pool: People, n_wanted: int, tables: Tables, places: Places,
                 rng: np.random.Generator) -> WantedDraft:
    n_abs = int(round(n_wanted * R.ABSENT_SHARE))
    n_hard = int(round(n_abs * R.HARD_NEGATIVE_SHARE_OF_ABSENT))
    n_easy = n_abs - n_hard
    n_present = n_wanted - n_abs
    w = wanted_weights(res)
    chosen = gumbel_top_k(w, n_present + n_hard, rng)
    chosen = chosen[rng.permutation(len(chosen))]
    targets, hard_src = chosen[:n_present], chosen[n_present:]
    easy = gumbel_top_k(wanted_weights(pool), n_easy, rng)
    n_present = len(targets)

    pres = subset(res, targets)
    taken = np.concatenate([res.pid, pool.pid])
    hard = _hard_negatives(res, hard_src, tables, places, rng, taken)
    absent = subset(pool, easy)
    p = concat([pres, absent, hard])
    kind = np.concatenate([np.zeros(n_present, np.int8), np.ones(len(easy), np.int8), np.full(len(hard_src), 2, np.int8)])
    src = np.concatenate([targets, np.full(len(easy) + len(hard_src), -1)])
    n = p.n

    # decision date: at least DECISION_MIN_AGE years old, recent decisions more frequent
    lo = np.maximum(d64(f"{R.DECISION_FIRST_YEAR}-01-01"), add_years(p.birth, R.DECISION_MIN_AGE))
    ref = d64(R.REFERENCE_DATE)
    span = np.maximum((ref - lo) // DAY, 0)
    decision = ref - (rng.random(n) ** R.DECISION_RECENCY_POWER * span).astype(np.int64) * DAY
    decision = np.maximum(decision, lo)
    units_new = (decision >= d64(R.REORG_DATE)) & (rng.random(n) < R.WANTED_2025_NAMES_AFTER_REORG)

    p.home_prov_only |= rng.random(n) < R.WANTED_PLACE_PROVINCE_ONLY
    p.birth_prov_only |= rng.random(n) < R.WANTED_PLACE_PROVINCE_ONLY
    labels = {lab: np.zeros(n, dtype=bool) for lab in R.SCENARIOS}
    # snapshot from the ID card (as printed at issue): old name / old address are natural labels
    pr = np.arange(n_present)
    from_card = np.zeros(n, dtype=bool)
    from_card[pr] = res.has_card[targets] & (res.issue_date[targets] <= decision[pr]) & (rng.random(n_present) < R.WANTED_FROM_CARD)
    fc = np.flatnonzero(from_card)
    if len(fc):
        cn = card_name(subset(res, targets[fc]))
        p.name.put(fc, cn)
        labels["name_changed_alias"][fc] = res.card_shows_old_name[targets[fc]]
        ward, new, house = card_address(subset(res, targets[fc]))
        moved = res.card_shows_prev[targets[fc]]
        same_prov = places.ward_prov[ward] == places.ward_prov[res.perm_ward[targets[fc]]]
        labels["moved_province"][fc] = moved & ~same_prov
        labels["moved_district"][fc] = moved & same_prov
        p.perm_ward[fc], p.perm_new[fc] = ward, new
        p.perm_house = _put_arr(p.perm_house, fc, house)
        p.cur_ward[fc], p.cur_new[fc] = ward, new
        p.cur_house = _put_arr(p.cur_house, fc, house)
    return WantedDraft(p=p, kind=kind, src=src, labels=labels, decision=decision, units_new=units_new)


def _put_arr(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    out = base.to_numpy(zero_copy_only=False).copy()
    out[rows] = values.to_numpy(zero_copy_only=False)
    return pa.array(out, type=pa.string())


# ------------------------------------------------------------------------------------------ apply
def _eligibility(d: WantedDraft, vocab: pa.Array, base: dict[str, list[str]], id_missing: np.ndarray,
                 present_field: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    p, lab = d.p, d.labels
    name = base["full_name"]
    marks = np.array([tn.has_marks(s) for s in name])
    flip = np.array([any(tn.tone_flip(base[f][i]) != base[f][i] for f in TEXT_FIELDS) for i in range(p.n)])
    words = np.array([len(s.split()) for s in name])
    day = (p.birth - p.birth.astype("datetime64[M]").astype("datetime64[D]")) // DAY + 1
    month = p.birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    natural_alias = lab["name_changed_alias"].copy()
    natural_move = lab["moved_district"] | lab["moved_province"]
    parents = p.parents_known & (present_field["father_name"] | present_field["mother_name"])
    t = np.ones(p.n, dtype=bool)
    return {
        "diacritics_lost": marks, "tone_style": flip, "nfd": marks, "case_spacing": t,
        "typo_telex": marks, "typo_vni": marks, "typo_edit": t,
        "name_order": words >= 2, "middle_missing": (p.name.mid != 0) | (p.name.pre != 0),
        "given_changed": (p.name.giv != 0) & ~natural_alias, "name_changed_alias": ~natural_alias,
        "name_changed": ~natural_alias,
        "date_year_only": p.bprec >= 1, "date_month_year": p.bprec == 2, "year_off_1": t, "year_off_2": t,
        "day_month_swapped": (p.bprec == 2) & (day <= 12) & (day != month), "date_missing": t,
        "moved_district": ~natural_move, "moved_province": ~natural_move,
        "id_old_cmnd": ~id_missing & (p.cmnd >= 0), "id_digit_wrong": ~id_missing,
        "parents_noise": parents,
    }


def _fields(p: People, vocab: pa.Array, places: Places, units_new: np.ndarray) -> dict[str, list[str]]:
    """The wanted record's text fields rendered from its current values (before text noise)."""
    return {
        "full_name": render(vocab, p.name).to_pylist(),
        "other_names": [""] * p.n,
        "father_name": render(vocab, p.father).to_pylist(),
        "mother_name": render(vocab, p.mother).to_pylist(),
        "birth_place": places.render(p.birth_ward, p.birth_new, units_new, None, p.birth_prov_only).to_pylist(),
        "hometown": places.render(p.home_ward, p.home_new, units_new, None, p.home_prov_only).to_pylist(),
        "permanent_address": places.render(p.perm_ward, p.perm_new, units_new, p.perm_house).to_pylist(),
        "current_address": places.render(p.cur_ward, p.cur_new, units_new, p.cur_house).to_pylist(),
    }


def _assemble(tokens: list[str], codes: NameCodes, i: int, order: str, drop: str) -> str:
    """One full name from its parts, optionally reordered or without its middle / prefix."""
    S, P, M, G = (tokens[getattr(codes, f)[i]] for f in ("sur", "pre", "mid", "giv"))
    if drop == "all":
        M, P = ("", P) if M else (M, "")
    elif drop == "one":
        mw = M.split()
        M = " ".join(mw[:-1]) if len(mw) > 1 else ""
        if not mw:
            P = ""
    PG = (P + G) if (P and codes.attach[i]) else " ".join(x for x in (P, G) if x)
    join = lambda *xs: " ".join(x for x in xs if x)  # noqa: E731
    if codes.last[i]:  # "Y Bih Niê": any reordering brings the family name to the front
        return join(S, M, PG) if order else join(PG, S)
    if order == "family_last":
        return join(M, PG, S)
    if order == "given_first":
        return join(PG, S, M)
    if order == "middle_given_swapped":
        return join(S, PG, M) if M else join(PG, S)
    return join(S, M, PG)


def _choice(kinds: dict[str, float], u: float) -> str:
    cum, total = 0.0, sum(kinds.values())
    for k, w in kinds.items():
        cum += w / total
        if u < cum:
            return k
    return k


def _digit_wrong(s: str, u1: float, u2: float) -> str:
    i = min(int(u1 * len(s)), len(s) - 1)
    d = (int(s[i]) + 1 + min(int(u2 * 9), 8)) % 10
    return s[:i] + str(d) + s[i + 1:]


@dataclass
class _Work:
    """Everything the perturbation steps share (the draft, the registers it may annotate, the
    wanted record's text fields as they are being built, and the random stream)."""

    d: WantedDraft
    res: People
    tables: Tables
    places: Places
    vocab: pa.Array
    rng: np.random.Generator
    present_field: dict[str, np.ndarray]
    natural: dict[str, np.ndarray]
    alias_b: np.ndarray  # wanted other_names: the register's name (alias scenario, wanted holds the new one)
    out: dict[str, list[str]] | None = None
    birth: np.ndarray | None = None
    prec: np.ndarray | None = None

    @property
    def lab(self) -> dict[str, np.ndarray]:
        return self.d.labels

    @property
    def n(self) -> int:
        return self.d.p.n


def _draw(w: _Work) -> None:
    """Contextual labels, field presence, then the perturbation slots (absent rows: restricted)."""
    present = w.d.kind == 0
    base = _fields(w.d.p, w.vocab, w.places, w.d.units_new)
    elig = _eligibility(w.d, w.vocab, base, w.lab["id_missing"], w.present_field)
    for mask, allowed in ((present, None), (~present, R.ABSENT_ALLOWED)):
        rows = np.flatnonzero(mask)
        if len(rows):
            got = draw_labels({k: v[rows] for k, v in elig.items()}, w.rng, allowed)
            for k, v in got.items():
                w.lab[k][rows] |= v


def _identity(w: _Work) -> None:
    """given_changed, name_changed_alias (noting the alias in a register or the wanted record),
    name_changed."""
    p, lab, rng, d, res = w.d.p, w.lab, w.rng, w.d, w.res
    g = np.flatnonzero(lab["given_changed"])
    for _ in range(10):
        if not len(g):
            break
        redo = personal_names(w.tables, p.eth[g], p.tpl[g], p.gender[g], p.byear[g], p.name.sur[g], rng)
        ok = redo.giv != p.name.giv[g]
        p.name.giv[g[ok]] = redo.giv[ok]
        g = g[~ok]
    drawn_alias = lab["name_changed_alias"] & ~w.natural["name_changed_alias"]
    for label in ("name_changed_alias", "name_changed"):
        rows = np.flatnonzero(drawn_alias if label == "name_changed_alias" else lab[label])
        if not len(rows):
            continue
        before = render(w.vocab, p.name.take(rows)).to_pylist()
        new = new_name_for(p, rows, w.tables, w.places, rng)
        p.name.put(rows, new)
        if label != "name_changed_alias":
            continue
        holds_new = rng.random(len(rows)) < R.NAME_CHANGE_REGISTER_HOLDS_NEW
        new_txt = render(w.vocab, new).to_pylist()
        for j, i in enumerate(rows):
            r = d.src[i]
            if holds_new[j]:  # register keeps its name and lists the wanted's (old) name as alias
                res.extra_alias[r] = ";".join(x for x in (res.extra_alias[r], new_txt[j]) if x)
            else:  # the wanted record has the new name and lists the register's as alias
                w.alias_b[i] = before[j]
        card = rows[holds_new & res.has_card[d.src[rows]] & (rng.random(len(rows)) < R.ALIAS_CARD_SHOWS_OLD_NAME)]
        res.card_override[d.src[card]] = True
        res.card_override_name.put(d.src[card], p.name.take(card))


def _dates(w: _Work) -> None:
    """year_off_1/2, day_month_swapped, and the reduced precisions."""
    p, lab = w.d.p, w.lab
    birth, prec = p.birth.copy(), p.bprec.copy()
    for k, label in ((1, "year_off_1"), (2, "year_off_2")):
        rows = np.flatnonzero(lab[label])
        sign = np.where(w.rng.random(len(rows)) < R.YEAR_OFF_LATER, 1, -1)
        for s in (-1, 1):
            sel = rows[sign == s]
            birth[sel] = add_years(birth[sel], s * k)
    rows = np.flatnonzero(lab["day_month_swapped"])
    if len(rows):
        y = birth[rows].astype("datetime64[Y]").astype(np.int64) + 1970
        day = (birth[rows] - birth[rows].astype("datetime64[M]").astype("datetime64[D]")) // DAY + 1
        month = birth[rows].astype("datetime64[M]").astype(np.int64) % 12 + 1
        birth[rows] = np.array([f"{a:04d}-{b:02d}-{c:02d}" for a, b, c in zip(y, day, month)], dtype="datetime64[D]")
    prec[lab["date_year_only"]] = 0
    prec[lab["date_month_year"]] = 1
    w.birth, w.prec = birth, prec


def _residence(w: _Work) -> None:
    """moved_district / moved_province: the wanted record keeps an old address."""
    p, places, rng = w.d.p, w.places, w.rng
    for label in ("moved_district", "moved_province"):
        rows = np.flatnonzero(w.lab[label] & ~w.natural[label])
        if not len(rows):
            continue
        if label == "moved_district":
            old = places.ward_other_district(p.perm_ward[rows], rng)
        else:
            prov = places.other_province(places.ward_prov[p.perm_ward[rows]], rng, R.MIGRANT_REGION_AFFINITY)
            old = places.ward_in_province(prov, rng)
        p.perm_ward[rows] = p.cur_ward[rows] = old
        p.perm_new[rows] = p.cur_new[rows] = places.to_2025(old, rng)
        house = places.house(old, rng)
        p.perm_house = _put_arr(p.perm_house, rows, house)
        p.cur_house = _put_arr(p.cur_house, rows, house)
    w.present_field["permanent_address"] |= w.lab["moved_district"] | w.lab["moved_province"]


def _units(w: _Work) -> None:
    """units_old_vs_new: a stated place reads differently in the register row's regime."""
    p, n, present = w.d.p, w.n, w.d.kind == 0
    reg_new = np.zeros(n, dtype=bool)
    reg_new[present] = w.res.reg_new[w.d.src[present]]
    as_register = _fields(p, w.vocab, w.places, reg_new)
    as_register["birth_place"] = _fields(p, w.vocab, w.places, np.zeros(n, dtype=bool))["birth_place"]
    differs = np.zeros(n, dtype=bool)
    for f in ("birth_place", "hometown", "permanent_address", "current_address"):
        differs |= w.present_field[f] & (np.array(w.out[f], dtype=object) != np.array(as_register[f], dtype=object))
    w.lab["units_old_vs_new"] = present & differs


def _structure(w: _Work) -> None:
    """name_order / middle_missing, unlabelled where they change nothing (e.g. no middle name)."""
    p, lab, tokens = w.d.p, w.lab, w.tables.vocab.tokens
    kinds = [_choice(R.NAME_ORDER_KINDS, u) for u in w.rng.random(w.n)]
    drop_u = w.rng.random(w.n)
    for i in np.flatnonzero(lab["name_order"] | lab["middle_missing"]):
        order = kinds[i] if lab["name_order"][i] else ""
        drop = ("all" if drop_u[i] < R.MIDDLE_MISSING_ALL else "one") if lab["middle_missing"][i] else ""
        new = _assemble(tokens, p.name, i, order, drop)
        if order and _assemble(tokens, p.name, i, "", drop) == new:
            lab["name_order"][i] = False
        if drop and _assemble(tokens, p.name, i, order, "") == new:
            lab["middle_missing"][i] = False
        w.out["full_name"][i] = new


def _other_names(w: _Work) -> None:
    """Nicknames ("Tèo", "Hùng Sẹo") and the alias of the name-change scenario."""
    rng, tokens, n = w.rng, w.tables.vocab.tokens, w.n
    nick = rng.random(n) < R.WANTED_NICKNAME
    nick_word = w.tables.nickname[rng.integers(0, len(w.tables.nickname), n)]
    with_given = rng.random(n) < R.NICKNAME_WITH_GIVEN
    for i in range(n):
        parts = []
        if nick[i]:
            given = tokens[w.d.p.name.giv[i]]
            parts.append(f"{given} {nick_word[i]}" if with_given[i] and given else nick_word[i])
        if w.alias_b[i]:
            parts.append(w.alias_b[i])
        w.out["other_names"][i] = ";".join(parts)


def _parents_and_presence(w: _Work) -> None:
    """Field presence, then parents_noise (missing, marks lost, typo) on the names present."""
    out, rng, known = w.out, w.rng, w.d.p.parents_known
    for f in ("father_name", "mother_name"):
        out[f] = [s if (known[i] and w.present_field[f][i]) else "" for i, s in enumerate(out[f])]
    for i in np.flatnonzero(w.lab["parents_noise"]):
        have = [f for f in ("father_name", "mother_name") if out[f][i]]
        hit = [f for f in have if rng.random() < R.PARENT_NOISE_PER_PARENT] or have[:1]
        for f in hit:
            kind = _choice(R.PARENT_NOISE_KINDS, rng.random())
            if kind == "missing":
                out[f][i] = ""
            elif kind == "diacritics" and tn.has_marks(out[f][i]):
                out[f][i] = tn.fold(out[f][i])
            else:
                out[f][i] = tn.typo(out[f][i], _choice(R.TYPO_EDIT_KINDS, rng.random()), rng.random(), rng.random())
    for f in ("birth_place", "hometown", "permanent_address", "current_address"):
        out[f] = [s if w.present_field[f][i] else "" for i, s in enumerate(out[f])]


def _text_noise(w: _Work) -> None:
    """Encodings on every text field (marks lost, tone style, NFD); case/spacing and typos on the name.
    A label that changed nothing after all is dropped."""
    out, lab, rng = w.out, w.lab, w.rng
    for label, fn in (("diacritics_lost", tn.fold), ("tone_style", tn.tone_flip),
                      ("nfd", lambda s: unicodedata.normalize("NFD", s))):
        for i in np.flatnonzero(lab[label]):
            before = [out[f][i] for f in TEXT_FIELDS]
            for f in TEXT_FIELDS:
                out[f][i] = fn(out[f][i])
            if [out[f][i] for f in TEXT_FIELDS] == before:
                lab[label][i] = False
    names = out["full_name"]
    for i in np.flatnonzero(lab["case_spacing"]):
        names[i] = tn.case_spacing(names[i], _choice(R.CASE_SPACING_KINDS, rng.random()), rng.random())
    for label, vni in (("typo_telex", False), ("typo_vni", True)):
        for i in np.flatnonzero(lab[label]):
            new = tn.keystrokes(names[i], vni, rng.random() < R.TYPO_WHOLE_NAME, rng.random())
            lab[label][i] = new != names[i]
            names[i] = new
    for i in np.flatnonzero(lab["typo_edit"]):
        names[i] = tn.typo(names[i], _choice(R.TYPO_EDIT_KINDS, rng.random()), rng.random(), rng.random())


def _id_numbers(w: _Work, pid: list[str]) -> list[str]:
    """The stated id: the 12-digit id, the old CMND, one digit wrong, or nothing."""
    p, lab = w.d.p, w.lab
    cmnd = fmt(np.maximum(p.cmnd, 0), 9).to_pylist()
    idn = ["" if lab["id_missing"][i] else (cmnd[i] if lab["id_old_cmnd"][i] else pid[i]) for i in range(w.n)]
    for i in np.flatnonzero(lab["id_digit_wrong"]):
        idn[i] = _digit_wrong(idn[i], w.rng.random(), w.rng.random())
    return idn


def _formats(w: _Work) -> dict[str, list[str]]:
    """Unlabelled format variety: M/F genders, ISO birth dates, alternative ethnic spellings."""
    p, rng, n = w.d.p, w.rng, w.n
    mf = rng.random(n) < R.WANTED_GENDER_MF
    gender = np.where(p.gender == MALE, np.where(mf, "M", "Nam"), np.where(mf, "F", "Nữ")).astype(object)
    gender[rng.random(n) < R.WANTED_GENDER_EMPTY] = ""
    bd = date_text(w.birth, w.prec, rng.random(n) < R.WANTED_DATE_ISO).to_pylist()
    bd = ["" if w.lab["date_missing"][i] else s for i, s in enumerate(bd)]
    eth = []
    alt_u = rng.random(n)
    for i in range(n):
        name = w.tables.ethnic[p.eth[i]].name
        alts = w.tables.ethnic_alt_spellings.get(name, [])
        if not w.present_field["ethnicity"][i]:
            name = ""
        elif p.eth[i] != 0 and alts and alt_u[i] < R.WANTED_ETHNIC_ALT_SPELLING:
            name = alts[int(alt_u[i] / R.WANTED_ETHNIC_ALT_SPELLING * len(alts)) % len(alts)]
        eth.append(name)
    return {"gender": list(gender), "birth_date": bd, "ethnicity": eth}


def perturb_and_render(d: WantedDraft, res: People, tables: Tables, places: Places, vocab: pa.Array,
                       rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Apply the labelled perturbations and build the wanted and truth tables. Also records, on
    `res`, the aliases and card names that the alias scenario puts into the registers."""
    n = d.p.n
    present_field = {f: rng.random(n) < q for f, q in R.WANTED_FIELD_PRESENT.items()}
    d.labels["id_missing"] = rng.random(n) < R.ID_MISSING
    natural = {k: v.copy() for k, v in d.labels.items()}  # from the ID-card snapshot, already applied
    w = _Work(d, res, tables, places, vocab, rng, present_field, natural, np.full(n, "", dtype=object))
    _draw(w)
    _identity(w)
    _dates(w)
    _residence(w)
    w.out = _fields(d.p, vocab, places, d.units_new)
    _units(w)
    _structure(w)
    _other_names(w)
    _parents_and_presence(w)
    _text_noise(w)
    pid = fmt(d.p.pid, 12).to_pylist()
    cols = {**w.out, "id_number": _id_numbers(w, pid), **_formats(w), **decision_fields(d, d.p, places, rng, tables)}
    d.labels["absent"] = d.kind == 1
    d.labels["absent_hard_negative"] = d.kind == 2
    d.labels["moved_after_card"] = natural["moved_district"] | natural["moved_province"]
    d.labels["renamed_after_card"] = natural["name_changed_alias"].copy()
    written = [k for k in R.SCENARIOS if k != "clean" and k in d.labels]

    order = rng.permutation(n)
    wid = [f"TN-{k + 1:06d}" for k in range(n)]
    wanted = {"wanted_id": wid, **{c: [cols[c][i] for i in order] for c in RENDERED_COLUMNS[1:]}}
    person = [pid[i] if d.kind[i] == 0 else "" for i in order]
    scen = []
    for i in order:
        labs = [k for k in written if d.labels[k][i]]
        scen.append("|".join(labs) if labs else "clean")
    wt = pa.table({c: pa.array(wanted[c], type=pa.string()) for c in RENDERED_COLUMNS})
    tt = pa.table({"wanted_id": pa.array(wid, type=pa.string()), "person_id": pa.array(person, type=pa.string()),
                   "scenarios": pa.array(scen, type=pa.string())})
    return wt, tt


def decision_fields(d: WantedDraft, p: People, places: Places, rng: np.random.Generator,
                    tables: Tables) -> dict[str, list[str]]:
    """Decision number/date, issuing unit (police of the wanted's address), offence, danger level."""
    n = p.n
    off = tables.offences
    w = off.weight.astype(float).to_numpy()
    k = rng.choice(len(off), size=n, p=w / w.sum())
    u = rng.random(n)
    ps, pd_ = off.p_special.astype(float).to_numpy()[k], off.p_dangerous.astype(float).to_numpy()[k]
    danger = np.where(u < ps, "đặc biệt nguy hiểm", np.where(u < ps + pd_, "nguy hiểm", "thường"))
    security = rng.random(n) < R.SECURITY_INVESTIGATION
    district = (d.decision < d64(R.DISTRICT_POLICE_END)) & (rng.random(n) < R.ISSUED_BY_DISTRICT_POLICE) & ~security
    body = rng.random(n) < R.ISSUING_UNIT_LONG_FORM
    prov = places.ward_prov[p.perm_ward]
    units = []
    for i in range(n):
        if d.units_new[i]:
            area = places.prov2025_name[places.prov_new[prov[i]]]
        elif district[i]:
            area = places.dist_name[places.ward_dist[p.perm_ward[i]]]
        else:
            area = places.prov_name[prov[i]]
        unit = "Công an " + area[0].lower() + area[1:]
        if body[i]:
            unit = ("Cơ quan An ninh điều tra " if security[i] else "Cơ quan Cảnh sát điều tra ") + unit
        units.append(unit)
    num = rng.integers(1, 1000, n)
    code = np.where(security, "ANĐT", "CSĐT")
    dates = pa.array(d.decision.astype("datetime64[D]"))
    return {
        "decision_number": [f"{a}/QĐ-{c}" for a, c in zip(num, code)],
        "decision_date": pc.strftime(dates, format="%d/%m/%Y").to_pylist(),
        "issuing_unit": units,
        "offence": list(off.offence.to_numpy(object)[k]),
        "danger_level": list(danger),
    }
