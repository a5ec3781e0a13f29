"""The synthetic population: families, people, their places, ids, register rows and cards.

Built family by family so that siblings share family name, parents, hometown and often a middle
name, as in real registers. Everything is a column array (numpy / Arrow); no loop per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.synth import rates as R
from linkage.synth.ids import cccd_numbers, cmnd_numbers
from linkage.synth.names import NameCodes, other_surnames, personal_names, sample_templates, surnames, template_has
from linkage.synth.places import Places
from linkage.synth.tables import FEMALE, MALE, Tables, piecewise

DAY = np.timedelta64(1, "D")


def d64(d) -> np.datetime64:
    return np.datetime64(d, "D")


def uniform_dates(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform date in [lo, hi] per row (hi < lo gives lo)."""
    span = np.maximum((hi - lo) // DAY, 0) + 1
    return lo + (rng.random(len(lo)) * span).astype(np.int64) * DAY


def year_start(y: np.ndarray) -> np.ndarray:
    return (np.asarray(y, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]")


def add_years(dates: np.ndarray, years: int) -> np.ndarray:
    """Same day `years` later (29 Feb -> 1 Mar)."""
    y = dates.astype("datetime64[Y]")
    offset = dates - y.astype("datetime64[D]")
    out = (y + years).astype("datetime64[D]") + offset
    return out


@dataclass
class People:
    """One row per person. Places are pre-2025 ward indices plus their 2025 successor."""

    n: int
    family: np.ndarray
    gender: np.ndarray
    birth: np.ndarray  # datetime64[D]
    bprec: np.ndarray  # register precision: 0 year, 1 month, 2 day
    eth: np.ndarray
    tpl: np.ndarray
    name: NameCodes
    father: NameCodes
    mother: NameCodes
    parents_known: np.ndarray
    home_ward: np.ndarray
    home_new: np.ndarray
    home_prov_only: np.ndarray
    birth_ward: np.ndarray
    birth_new: np.ndarray
    birth_prov_only: np.ndarray
    prev_ward: np.ndarray  # the family home (before a move)
    prev_new: np.ndarray
    prev_house: pa.Array
    perm_ward: np.ndarray
    perm_new: np.ndarray
    perm_house: pa.Array
    moved: np.ndarray
    move_date: np.ndarray
    cur_ward: np.ndarray
    cur_new: np.ndarray
    cur_house: pa.Array
    deceased: np.ndarray
    pid: np.ndarray = field(default=None)  # int64, set by assign_ids
    # natural aliases
    renamed: np.ndarray = field(default=None)
    old_name: NameCodes = field(default=None)
    rename_date: np.ndarray = field(default=None)
    nickname: np.ndarray = field(default=None)  # object array, "" if none
    # register row
    reg_new: np.ndarray = field(default=None)
    updated_at: np.ndarray = field(default=None)
    cur_blank: np.ndarray = field(default=None)  # current address left empty (same as permanent)
    # card
    has_card: np.ndarray = field(default=None)
    issue_date: np.ndarray = field(default=None)
    card_new: np.ndarray = field(default=None)
    cmnd: np.ndarray = field(default=None)  # int64, -1 if none
    card_shows_prev: np.ndarray = field(default=None)  # card issued before the move
    card_shows_old_name: np.ndarray = field(default=None)  # card issued before the name change
    # set by the wanted-list scenarios (name_changed_alias)
    extra_alias: np.ndarray = field(default=None)  # object array of ';'-joined aliases, "" if none
    card_override: np.ndarray = field(default=None)  # card printed with `card_override_name`
    card_override_name: NameCodes = field(default=None)

    @property
    def byear(self) -> np.ndarray:
        return self.birth.astype("datetime64[Y]").astype(np.int64) + 1970

    def age(self) -> np.ndarray:
        ref = d64(R.REFERENCE_DATE)
        a = ref.astype("datetime64[Y]").astype(np.int64) + 1970 - self.byear
        before = (self.birth - self.birth.astype("datetime64[Y]").astype("datetime64[D]")) > (
            ref - ref.astype("datetime64[Y]").astype("datetime64[D]"))
        return a - before


def _birth_year_probs() -> tuple[np.ndarray, np.ndarray]:
    years = np.arange(R.BIRTH_YEAR_BANDS[0][0], R.LAST_BIRTH_YEAR + 1)
    w = piecewise(R.BIRTH_YEAR_BANDS, years)
    return years, w / w.sum()


def _families(n_people: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Family id, birth date and twin flag of each child; exactly n_people children."""
    years, p = _birth_year_probs()
    ref = d64(R.REFERENCE_DATE)
    fam_first, fam_n = [], []
    total = 0
    while total < n_people:
        k = max(1000, int((n_people - total) / 1.9) + 100)
        y0 = years[rng.choice(len(years), size=k, p=p)]
        lam = piecewise(R.CHILDREN_LAMBDA_BY_COHORT, y0)
        nk = np.minimum(1 + rng.poisson(lam), R.MAX_CHILDREN)
        fam_first.append(y0)
        fam_n.append(nk)
        total += int(nk.sum())
    y0 = np.concatenate(fam_first)
    nk = np.concatenate(fam_n)
    fam = np.repeat(np.arange(len(y0)), nk)
    start = np.concatenate([[0], np.cumsum(nk)[:-1]])
    pos = np.arange(len(fam)) - start[fam]
    gap = rng.integers(R.SIBLING_GAP_YEARS[0], R.SIBLING_GAP_YEARS[1] + 1, len(fam))
    twin = (pos > 0) & (rng.random(len(fam)) < R.TWIN_SHARE)
    gap = np.where(pos == 0, 0, np.where(twin, 0, gap))
    cum = np.cumsum(gap)
    byear = y0[fam] + cum - cum[start[fam]]
    ys = year_start(byear)
    days_in_year = (year_start(byear + 1) - ys) // DAY
    birth = ys + (rng.random(len(fam)) * days_in_year).astype(np.int64) * DAY
    for _ in range(2):  # twins (and triplets) share the previous sibling's birth day
        prev = np.concatenate([[birth[0]], birth[:-1]])
        birth = np.where(twin, prev, birth)
    keep = birth <= ref
    fam, birth, twin = fam[keep][:n_people], birth[keep][:n_people], twin[keep][:n_people]
    if len(fam) < n_people:  # rare: too many future births dropped; top up
        f2, b2, t2 = _families(n_people - len(fam), rng)
        fam = np.concatenate([fam, f2 + fam.max() + 1])
        birth, twin = np.concatenate([birth, b2]), np.concatenate([twin, t2])
    _, fam = np.unique(fam, return_inverse=True)
    return fam.astype(np.int32), birth, twin


def make_people(n: int, tables: Tables, places: Places, rng: np.random.Generator) -> People:
    """n people in families, with names, parents, places, dates and status."""
    fam, birth, _ = _families(n, rng)
    F = int(fam.max()) + 1 if n else 0
    first_idx = np.searchsorted(fam, np.arange(F))
    y_first = birth[first_idx].astype("datetime64[Y]").astype(np.int64) + 1970

    # --- family places and ethnicity
    res_prov = places.sample_province(rng, F)
    same_p = np.where(places.prov_big[res_prov], R.HOMETOWN_SAME_PROVINCE_BIG_CITY, R.HOMETOWN_SAME_PROVINCE)
    origin_w = places.prov_weight * np.where(places.prov_big, R.ORIGIN_BIG_CITY_WEIGHT, 1.0)
    home_prov = np.where(rng.random(F) < same_p, res_prov,
                         places.other_province(res_prov, rng, R.REGION_AFFINITY, origin_w))
    home_ward = places.ward_in_province(home_prov, rng)
    res_ward = np.where((home_prov == res_prov) & (rng.random(F) < R.HOMETOWN_SAME_WARD), home_ward,
                        places.ward_in_province(res_prov, rng))
    res_house = places.house(res_ward, rng)
    home_new = places.to_2025(home_ward, rng)
    res_new = places.to_2025(res_ward, rng)
    home_prov_only = rng.random(F) < R.HOMETOWN_PROVINCE_ONLY

    cum = np.cumsum(tables.ethnic_share[home_prov], axis=1)
    eth_f = (rng.random(F)[:, None] > cum[:, :-1]).sum(axis=1).astype(np.int16)
    tpl_f = sample_templates(tables, eth_f, rng)
    region_f = places.prov_region[home_prov]
    fam_sur = surnames(tables, eth_f, region_f, rng)
    matri = np.array([e.lineage == "matrilineal" for e in tables.ethnic])[eth_f]
    other_sur = other_surnames(tables, eth_f, region_f, fam_sur, rng)
    has_s = template_has(tables, eth_f, tpl_f, "S")
    father_sur = np.where(has_s, np.where(matri, other_sur, fam_sur), 0)
    mother_sur = np.where(has_s, np.where(matri, fam_sur, other_sur), 0)
    f_year = y_first - rng.integers(R.FATHER_AGE_AT_BIRTH[0], R.FATHER_AGE_AT_BIRTH[1] + 1, F)
    m_year = y_first - rng.integers(R.MOTHER_AGE_AT_BIRTH[0], R.MOTHER_AGE_AT_BIRTH[1] + 1, F)
    father = personal_names(tables, eth_f, tpl_f, np.full(F, MALE), f_year, father_sur, rng)
    mother = personal_names(tables, eth_f, tpl_f, np.full(F, FEMALE), m_year, mother_sur, rng)

    # --- children
    gender = (rng.random(n) >= R.MALE_SHARE).astype(np.int8)
    byear = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    eth, tpl = eth_f[fam], tpl_f[fam]
    name = personal_names(tables, eth, tpl, gender, byear, fam_sur[fam], rng)
    parent_giv = np.where(gender == MALE, father.giv[fam], mother.giv[fam])
    for _ in range(10):  # a child is not named after the parent of the same sex
        clash = np.flatnonzero(name.giv == parent_giv)
        if not len(clash):
            break
        redo = personal_names(tables, eth[clash], tpl[clash], gender[clash], byear[clash], fam_sur[fam[clash]], rng)
        name.giv[clash] = redo.giv
    key = fam.astype(np.int64) * 2 + gender
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    lead = first[inv]
    share = (lead != np.arange(n)) & (rng.random(n) < R.SIBLING_SAME_MIDDLE)
    name.mid[share] = name.mid[lead[share]]
    parents_known = rng.random(n) >= piecewise(R.PARENTS_UNKNOWN_BY_COHORT, byear)

    # --- children's places
    born_home = rng.random(n) < R.BIRTH_IN_HOME_PROVINCE
    birth_ward = np.where(born_home, res_ward[fam], home_ward[fam])
    age = _age(birth)
    moved = rng.random(n) < piecewise(R.MOVE_OUT_BY_AGE, age)
    mv = np.flatnonzero(moved)
    kind = rng.choice(3, size=len(mv), p=[R.MOVE_DESTINATION[k] for k in ("same_district", "same_province", "other_province")])
    src = res_ward[fam[mv]]
    dest = np.empty(len(mv), dtype=np.int32)
    k0, k1, k2 = (np.flatnonzero(kind == k) for k in range(3))
    dest[k0] = places.ward_in_district(places.ward_dist[src[k0]], rng)
    dest[k1] = places.ward_other_district(src[k1], rng)
    boost = places.prov_weight * np.where(places.prov_big, R.MIGRANT_DESTINATION_BIG_CITY_BOOST, 1.0)
    dest[k2] = places.ward_in_province(places.other_province(places.ward_prov[src[k2]], rng, R.MIGRANT_REGION_AFFINITY, boost), rng)
    perm_ward = res_ward[fam].copy()
    perm_ward[mv] = dest
    perm_new = res_new[fam].copy()
    perm_new[mv] = places.to_2025(dest, rng)
    perm_house = _put(res_house.take(pa.array(fam)), mv, places.house(dest, rng))
    lo = np.maximum(d64(f"{R.MOVE_YEARS[0]}-01-01"), add_years(birth, 18))
    move_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    move_date[mv] = uniform_dates(rng, lo[mv], np.full(len(mv), d64(R.REFERENCE_DATE)))

    differs = np.flatnonzero(rng.random(n) < R.CURRENT_ADDRESS_DIFFERS)
    far = rng.random(len(differs)) < R.CURRENT_ADDRESS_OTHER_PROVINCE
    cprov = places.ward_prov[perm_ward[differs]].copy()
    cprov[far] = places.other_province(cprov[far], rng, R.MIGRANT_REGION_AFFINITY, boost)
    cur_ward = perm_ward.copy()
    cur_ward[differs] = places.ward_in_province(cprov, rng)
    cur_new = perm_new.copy()
    cur_new[differs] = places.to_2025(cur_ward[differs], rng)
    cur_house = _put(perm_house, differs, places.house(cur_ward[differs], rng))

    deceased = rng.random(n) < piecewise(R.DECEASED_BY_AGE, age)
    y_only = rng.random(n) < piecewise(R.BIRTH_DATE_YEAR_ONLY_BY_COHORT, byear)
    m_only = ~y_only & (rng.random(n) < piecewise(R.BIRTH_DATE_MONTH_YEAR_BY_COHORT, byear))
    bprec = np.where(y_only, 0, np.where(m_only, 1, 2)).astype(np.int8)

    return People(
        n=n, family=fam, gender=gender, birth=birth, bprec=bprec, eth=eth, tpl=tpl, name=name,
        father=father.take(fam), mother=mother.take(fam), parents_known=parents_known,
        home_ward=home_ward[fam], home_new=home_new[fam], home_prov_only=home_prov_only[fam],
        birth_ward=birth_ward, birth_new=places.to_2025(birth_ward, rng),
        birth_prov_only=rng.random(n) < R.BIRTH_PLACE_PROVINCE_ONLY,
        prev_ward=res_ward[fam], prev_new=res_new[fam], prev_house=res_house.take(pa.array(fam)),
        perm_ward=perm_ward, perm_new=perm_new, perm_house=perm_house, moved=moved, move_date=move_date,
        cur_ward=cur_ward, cur_new=cur_new, cur_house=cur_house, deceased=deceased,
    )


def _age(birth: np.ndarray) -> np.ndarray:
    ref = d64(R.REFERENCE_DATE)
    return ((ref - birth) // DAY / 365.2425).astype(np.int64)


def _put(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`base` with `values` at positions `rows` (one Arrow take: no Python string per row)."""
    idx = np.arange(len(base), dtype=np.int64)
    idx[rows] = len(base) + np.arange(len(rows), dtype=np.int64)
    return pa.concat_arrays([base.cast(pa.string()), values.cast(pa.string())]).take(pa.array(idx))


def assign_ids(people: People, places: Places, rng: np.random.Generator, taken: np.ndarray | None = None) -> None:
    """12-digit ids from the birth-registration province (the 2025 province for births after the
    reorganisation), gender/century and birth year."""
    bprov = places.ward_prov[people.birth_ward]
    code = places.prov_cccd[bprov].copy()
    after = people.birth >= d64(R.REORG_DATE)
    new_codes = np.array([int(c) for c in places.prov2025_code])
    code[after] = new_codes[places.prov_new[bprov[after]]]
    people.pid = cccd_numbers(code, people.gender, people.byear, rng, taken)


def add_aliases(people: People, tables: Tables, places: Places, rng: np.random.Generator) -> None:
    """Natural other_names: nicknames, and old names of people who changed name."""
    n = people.n
    nick = rng.random(n) < R.RESIDENT_NICKNAME_SHARE
    people.nickname = np.full(n, "", dtype=object)
    people.nickname[nick] = tables.nickname[rng.integers(0, len(tables.nickname), int(nick.sum()))]
    people.renamed = (rng.random(n) < R.RESIDENT_NAME_CHANGE_SHARE) & (people.age() >= 16)
    rows = np.flatnonzero(people.renamed)
    people.old_name = NameCodes.empty(n)
    people.old_name.put(rows, new_name_for(people, rows, tables, places, rng))
    people.rename_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    lo = np.maximum(d64("2010-01-01"), add_years(people.birth[rows], 16))
    people.rename_date[rows] = uniform_dates(rng, lo, np.full(len(rows), d64(R.REFERENCE_DATE)))
    people.extra_alias = np.full(n, "", dtype=object)
    people.card_override = np.zeros(n, dtype=bool)
    people.card_override_name = NameCodes.empty(n)


def new_name_for(people: People, rows: np.ndarray, tables: Tables, places: Places,
                 rng: np.random.Generator) -> NameCodes:
    """Another full name for these people (same ethnicity and gender); keeps the family name
    with probability NAME_CHANGE_KEEP_FAMILY; never equal to the current name."""
    eth, tpl, g, y = people.eth[rows], people.tpl[rows], people.gender[rows], people.byear[rows]
    region = places.prov_region[places.ward_prov[people.home_ward[rows]]]
    cur = people.name.take(rows)
    fresh = other_surnames(tables, eth, region, cur.sur, rng)
    sur = np.where(rng.random(len(rows)) < R.NAME_CHANGE_KEEP_FAMILY, cur.sur, fresh)
    out = personal_names(tables, eth, tpl, g, y, sur, rng)
    for _ in range(10):
        same = np.flatnonzero((out.giv == cur.giv) & (out.mid == cur.mid) & (out.sur == cur.sur))
        if not len(same):
            break
        out.put(same, personal_names(tables, eth[same], tpl[same], g[same], y[same], fresh[same], rng))
    return out


def add_register_rows(people: People, rng: np.random.Generator) -> None:
    """Unit-name regime and last update of each residents-register row."""
    n = people.n
    reorg, start, ref = d64(R.REORG_DATE), d64(R.REGISTER_START), d64(R.REFERENCE_DATE)
    new = rng.random(n) < R.REGISTER_2025_NAMES
    upd = np.where(new, uniform_dates(rng, np.full(n, reorg), np.full(n, ref)),
                   uniform_dates(rng, np.full(n, start), np.full(n, reorg - DAY)))
    upd = np.maximum(upd, people.birth)
    moved_later = people.moved & (people.move_date > upd)
    upd = np.where(moved_later, people.move_date, upd)
    renamed_later = people.renamed & (people.rename_date > upd)
    upd = np.where(renamed_later, people.rename_date, upd)
    people.reg_new = new | (upd >= reorg)
    people.updated_at = upd
    same = (people.cur_ward == people.perm_ward) & pc.equal(people.cur_house, people.perm_house).to_numpy(zero_copy_only=False)
    people.cur_blank = same & (rng.random(n) < R.REGISTER_CURRENT_BLANK_IF_SAME)


def add_cards(people: People, places: Places, province_codes: tuple[str, ...], rng: np.random.Generator,
              taken_cmnd: np.ndarray | None = None) -> None:
    """Who holds an ID card, when it was issued, how it is printed, and the old CMND it lists."""
    n = people.n
    age = people.age()
    ref, reorg = d64(R.REFERENCE_DATE), d64(R.REORG_DATE)
    p = np.where(people.deceased, R.CARD_SHARE_DECEASED, np.where(age >= 14, R.CARD_SHARE_ADULT, R.CARD_SHARE_CHILD))
    has = rng.random(n) < p
    adult_from = np.maximum(d64(R.CCCD_START), add_years(people.birth, 14))
    child_from = np.maximum(d64(R.CHILD_CARD_START), people.birth)
    lo = np.where(age >= 14, adult_from, child_from)
    lo = np.minimum(lo, ref)
    camp_lo = np.maximum(lo, d64(f"{R.CARD_CAMPAIGN_YEAR}-01-01"))
    camp_hi = np.full(n, d64(f"{R.CARD_CAMPAIGN_YEAR}-12-31"))
    campaign = (rng.random(n) < R.CARD_CAMPAIGN_SHARE) & (camp_lo <= camp_hi)
    issue = np.where(campaign, uniform_dates(rng, camp_lo, camp_hi), uniform_dates(rng, lo, np.full(n, ref)))
    people.has_card = has
    people.issue_date = issue
    people.card_new = (issue >= reorg) & (rng.random(n) < R.CARD_2025_NAMES_AFTER_REORG)
    eligible = has & (people.byear <= R.CMND_LAST_BIRTH_YEAR) & (rng.random(n) < R.CMND_SHARE)
    rows = np.flatnonzero(eligible)
    people.cmnd = np.full(n, -1, dtype=np.int64)
    people.cmnd[rows] = cmnd_numbers(places.ward_prov[people.prev_ward[rows]], province_codes, rng, taken_cmnd)

    # card snapshot: address and name as at the issue date
    people.card_shows_prev = people.moved & (issue < people.move_date)
    people.card_shows_old_name = people.renamed & (issue < people.rename_date)
