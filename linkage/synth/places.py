"""Real administrative units (pre-2025 and 2025) for hometowns, birth places and addresses.

Wards are sampled by province population (2019 census, `province_population_2019.csv`) and, within a
province, by ward type (`rates.WARD_TYPE_WEIGHT`). Every address is kept as a pre-2025 ward index
plus the 2025 ward it became (a split ward maps to one of its successors at random), so any
source can write it in either regime.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import RulesError
from linkage.rules import read_ref_csv
from linkage.synth import rates as R
from linkage.synth.tables import HIGHLAND_CENTRAL, HIGHLAND_NORTH, read_gen_csv

AREAS = ("urban_north", "urban_south", "town", "rural_north", "rural_centre", "rural_south",
         "highland_north", "highland_central")


def _region(code: str) -> int:
    c = int(code)
    return 0 if c <= 37 else (1 if c <= 68 else 2)


def _area(ward_type: str, prov_code: str) -> int:
    c = int(prov_code)
    if ward_type == "Phường":
        return AREAS.index("urban_north" if c <= 46 else "urban_south")
    if ward_type == "Thị trấn":
        return AREAS.index("town")
    if prov_code in HIGHLAND_NORTH:
        return AREAS.index("highland_north")
    if prov_code in HIGHLAND_CENTRAL:
        return AREAS.index("highland_central")
    return AREAS.index("rural_north" if c <= 37 else ("rural_centre" if c <= 60 else "rural_south"))


def _weighted_in_groups(group: np.ndarray, weight: np.ndarray, n_groups: int):
    """Order, cumulative weights and per-group bounds, to sample an item inside a given group."""
    order = np.argsort(group, kind="stable")
    cum = np.cumsum(weight[order])
    ends = np.searchsorted(group[order], np.arange(n_groups), side="right")
    starts = np.concatenate([[0], ends[:-1]])
    lo = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    hi = cum[np.maximum(ends - 1, 0)]
    return order, cum, lo, hi


@dataclass
class Places:
    prov_code: np.ndarray
    prov_name: np.ndarray
    prov_short: np.ndarray
    prov_region: np.ndarray
    prov_weight: np.ndarray  # population share
    prov_big: np.ndarray
    prov_cccd: np.ndarray  # 3-digit birth-registration code as int
    prov_new: np.ndarray  # index into the 2025 provinces
    prov2025_code: np.ndarray
    prov2025_name: np.ndarray
    dist_code: np.ndarray
    dist_name: np.ndarray
    dist_prov: np.ndarray
    ward_code: np.ndarray
    ward_name: np.ndarray
    ward_dist: np.ndarray
    ward_prov: np.ndarray
    ward_area: np.ndarray
    ward2025_code: np.ndarray
    ward2025_prov: np.ndarray  # index into the 2025 provinces
    new_off: np.ndarray  # CSR: successors of pre-2025 ward i are new_tgt[new_off[i]:new_off[i+1]]
    new_tgt: np.ndarray
    pre_text: pa.Array  # "Xã X, Huyện Y, Tỉnh Z"
    new_text: pa.Array  # "Xã X', Tỉnh Z'"
    prov_text: pa.Array
    prov2025_text: pa.Array
    house_patterns: dict[int, tuple[list[str], np.ndarray]]
    house_names: dict[str, pa.Array]
    _w_by_prov: tuple
    _w_by_dist: tuple

    # ---------------------------------------------------------------- sampling
    def sample_province(self, rng: np.random.Generator, n: int, weights: np.ndarray | None = None) -> np.ndarray:
        w = self.prov_weight if weights is None else weights / weights.sum()
        return rng.choice(len(w), size=n, p=w).astype(np.int16)

    def ward_in_province(self, prov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._pick(self._w_by_prov, prov, rng)

    def ward_in_district(self, dist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._pick(self._w_by_dist, dist, rng)

    @staticmethod
    def _pick(idx, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        order, cum, lo, hi = idx
        t = lo[group] + rng.random(len(group)) * (hi[group] - lo[group])
        pos = np.minimum(np.searchsorted(cum, t, side="right"), len(cum) - 1)
        return order[pos].astype(np.int32)

    def other_province(self, prov: np.ndarray, rng: np.random.Generator, affinity: float,
                       weights: np.ndarray | None = None) -> np.ndarray:
        """Another province: in the same region with probability `affinity`, by weight."""
        w = self.prov_weight if weights is None else weights
        out = np.empty(len(prov), dtype=np.int16)
        same = rng.random(len(prov)) < affinity
        for r in range(3):
            m = same & (self.prov_region[prov] == r)
            cand = np.flatnonzero(self.prov_region == r)
            out[m] = cand[rng.choice(len(cand), size=int(m.sum()), p=w[cand] / w[cand].sum())]
        out[~same] = rng.choice(len(w), size=int((~same).sum()), p=w / w.sum())
        for _ in range(50):
            clash = np.flatnonzero(out == prov)
            if not len(clash):
                break
            out[clash] = rng.choice(len(w), size=len(clash), p=w / w.sum())
        return out

    def ward_other_district(self, ward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A ward of the same province in another district."""
        out = self.ward_in_province(self.ward_prov[ward], rng)
        for _ in range(50):
            clash = np.flatnonzero(self.ward_dist[out] == self.ward_dist[ward])
            if not len(clash):
                break
            out[clash] = self.ward_in_province(self.ward_prov[ward[clash]], rng)
        return out

    def to_2025(self, ward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.new_off[ward], self.new_off[ward + 1]
        return self.new_tgt[lo + (rng.random(len(ward)) * (hi - lo)).astype(np.int64)]

    # ---------------------------------------------------------------- text
    def house(self, ward: np.ndarray, rng: np.random.Generator) -> pa.Array:
        """A house / hamlet part ("Thôn 3", "Số 12 đường Lê Lợi", "Ấp Tân Hòa", "" ...)."""
        pieces = [pa.array([""], type=pa.string())]  # piece 0: the empty house part
        idx = np.zeros(len(ward), dtype=np.int64)  # each row's position in the pieces put end to end
        filled = 1
        area = self.ward_area[ward]
        for a, (pats, p) in self.house_patterns.items():
            rows = np.flatnonzero(area == a)
            if not len(rows):
                continue
            which = rng.choice(len(pats), size=len(rows), p=p)
            for j, pat in enumerate(pats):
                sel = rows[which == j]
                if pat and len(sel):
                    pieces.append(self._fill(pat, len(sel), rng).cast(pa.string()))
                    idx[sel] = filled + np.arange(len(sel))
                    filled += len(sel)
        return pa.concat_arrays(pieces).take(pa.array(idx))

    def _fill(self, pat: str, n: int, rng: np.random.Generator) -> pa.Array:
        parts: list = []
        for lit, key in _split_template(pat):
            if lit:
                parts.append(lit)
            if key in ("n", "m", "k", "k2"):
                hi = {"n": 300, "m": 60, "k": 25, "k2": 12}[key]
                vals = np.floor(hi ** rng.random(n)).astype(np.int64) if key == "n" else rng.integers(1, hi + 1, n)
                parts.append(pc.cast(pa.array(vals), pa.string()))
            elif key:
                names = self.house_names[key]
                parts.append(names.take(pa.array(rng.integers(0, len(names), n))))
        arrays = [p if isinstance(p, pa.Array) else pa.array([p] * n, type=pa.string()) for p in parts]
        return pc.binary_join_element_wise(*arrays, "")

    def render(self, ward: np.ndarray, new_ward: np.ndarray, use_new: np.ndarray,
               house: pa.Array | None = None, province_only: np.ndarray | None = None) -> pa.Array:
        """Addresses as text: pre-2025 "Xã, Huyện, Tỉnh" or 2025 "Xã, Tỉnh" per row."""
        use_new = pa.array(np.asarray(use_new, dtype=bool))
        txt = pc.if_else(use_new, self.new_text.take(pa.array(new_ward)), self.pre_text.take(pa.array(ward)))
        if province_only is not None:
            ptxt = pc.if_else(use_new, self.prov2025_text.take(pa.array(self.ward2025_prov[new_ward])),
                              self.prov_text.take(pa.array(self.ward_prov[ward])))
            txt = pc.if_else(pa.array(np.asarray(province_only, dtype=bool)), ptxt, txt)
        if house is not None:
            keep = pc.not_equal(house, "")
            if province_only is not None:
                keep = pc.and_(keep, pa.array(~np.asarray(province_only, dtype=bool)))
            txt = pc.if_else(keep, pc.binary_join_element_wise(house, txt, ", "), txt)
        return txt


def _s(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _split_template(pat: str) -> list[tuple[str, str]]:
    """"Số {n} đường {street}" -> [("Số ", "n"), (" đường ", "street")]."""
    out, rest = [], pat
    while "{" in rest:
        lit, tail = rest.split("{", 1)
        key, rest = tail.split("}", 1)
        out.append((lit, key))
    out.append((rest, ""))
    return out


@lru_cache(maxsize=1)
def load_places() -> Places:
    prov = read_ref_csv("ref/admin/provinces_pre2025.csv", columns=(
        "province_code", "province_name", "short_name", "cccd_birth_code", "new_province_code_2025"))
    prov2025 = read_ref_csv("ref/admin/provinces_2025.csv", columns=("province_code", "province_name"))
    dist = read_ref_csv("ref/admin/districts_pre2025.csv", columns=("district_code", "district_name", "province_code"))
    wards = read_ref_csv("ref/admin/wards_pre2025.csv", columns=(
        "ward_code", "ward_name", "ward_type", "district_code", "province_code"))
    w25 = read_ref_csv("ref/admin/wards_2025.csv", columns=("ward_code", "ward_name", "province_code"))
    mp = read_ref_csv("ref/admin/mapping_wards_pre2025_to_2025.csv", columns=("old_ward_code", "new_ward_code", "qa_flag"))
    cccd = read_ref_csv("ref/ids/cccd_birth_province_codes.csv", columns=("cccd_code", "gso_province_code"))
    pop = read_gen_csv("province_population_2019.csv", ("province_code", "population_thousands"))

    pidx = {c: i for i, c in enumerate(prov.province_code)}
    p25idx = {c: i for i, c in enumerate(prov2025.province_code)}
    didx = {c: i for i, c in enumerate(dist.district_code)}
    w25idx = {c: i for i, c in enumerate(w25.ward_code)}
    popmap = dict(zip(pop.province_code, pop.population_thousands.astype(float)))
    cccdmap = dict(zip(cccd.gso_province_code, cccd.cccd_code))
    missing = [c for c in prov.province_code if c not in popmap or c not in cccdmap]
    if missing:
        raise RulesError(f"province(s) {missing} missing from the population or CCCD code table")
    weight = np.array([popmap[c] for c in prov.province_code])

    ward_prov = wards.province_code.map(pidx).to_numpy(np.int16)
    ward_dist = wards.district_code.map(didx).to_numpy(np.int32)
    wtype_w = wards.ward_type.map(R.WARD_TYPE_WEIGHT).fillna(1.0).to_numpy(float)
    # ward weight: province population spread over its wards by type weight
    tot = np.bincount(ward_prov, weights=wtype_w, minlength=len(prov))
    ward_w = weight[ward_prov] * wtype_w / tot[ward_prov]
    area = np.array([_area(t, p) for t, p in zip(wards.ward_type, wards.province_code)], dtype=np.int8)

    # 2025 successors (drop the flagged cross-province row when the ward has another successor)
    mp = mp[mp.old_ward_code != ""]
    flagged = mp.qa_flag.str.startswith("cross-province")
    has_other = mp.old_ward_code.isin(mp.loc[~flagged, "old_ward_code"])
    mp = mp[~(flagged & has_other)]
    widx = {c: i for i, c in enumerate(wards.ward_code)}
    old_i = mp.old_ward_code.map(widx)
    if old_i.isna().any():
        raise RulesError("mapping_wards_pre2025_to_2025.csv: old ward codes not in wards_pre2025.csv")
    new_i = mp.new_ward_code.map(w25idx)
    if new_i.isna().any():
        raise RulesError("mapping_wards_pre2025_to_2025.csv: new ward codes not in wards_2025.csv")
    order = np.lexsort((new_i.to_numpy(), old_i.to_numpy()))
    old_sorted = old_i.to_numpy(np.int64)[order]
    new_tgt = new_i.to_numpy(np.int32)[order]
    counts = np.bincount(old_sorted, minlength=len(wards))
    if (counts == 0).any():
        raise RulesError("mapping_wards_pre2025_to_2025.csv: some pre-2025 wards have no successor")
    new_off = np.concatenate([[0], np.cumsum(counts)])

    dist_name_by_ward = dist.district_name.to_numpy(object)[ward_dist]
    prov_name_by_ward = prov.province_name.to_numpy(object)[ward_prov]
    pre_text = pc.binary_join_element_wise(_s(wards.ward_name), _s(dist_name_by_ward), _s(prov_name_by_ward), ", ")
    w25_prov = w25.province_code.map(p25idx).to_numpy(np.int16)
    new_text = pc.binary_join_element_wise(_s(w25.ward_name), _s(prov2025.province_name.to_numpy(object)[w25_prov]), ", ")

    hp = read_gen_csv("address_house_patterns.csv", ("area", "pattern", "weight"))
    patterns = {}
    for a, sub in hp.groupby("area", sort=False):
        if a not in AREAS:
            raise RulesError(f"address_house_patterns.csv: unknown area {a!r}")
        w = sub.weight.astype(float).to_numpy()
        patterns[AREAS.index(a)] = (sub.pattern.tolist(), w / w.sum())
    names = read_gen_csv("address_and_alias_names.csv", ("kind", "token"))
    house_names = {k: pa.array(sub.token.tolist(), type=pa.string()) for k, sub in names.groupby("kind")}

    return Places(
        prov_code=prov.province_code.to_numpy(object), prov_name=prov.province_name.to_numpy(object),
        prov_short=prov.short_name.to_numpy(object),
        prov_region=np.array([_region(c) for c in prov.province_code], dtype=np.int8),
        prov_weight=weight / weight.sum(), prov_big=prov.province_code.isin(R.BIG_CITY_CODES).to_numpy(),
        prov_cccd=np.array([int(cccdmap[c]) for c in prov.province_code]),
        prov_new=prov.new_province_code_2025.map(p25idx).to_numpy(np.int16),
        prov2025_code=prov2025.province_code.to_numpy(object), prov2025_name=prov2025.province_name.to_numpy(object),
        dist_code=dist.district_code.to_numpy(object), dist_name=dist.district_name.to_numpy(object),
        dist_prov=dist.province_code.map(pidx).to_numpy(np.int16),
        ward_code=wards.ward_code.to_numpy(object), ward_name=wards.ward_name.to_numpy(object),
        ward_dist=ward_dist, ward_prov=ward_prov, ward_area=area,
        ward2025_code=w25.ward_code.to_numpy(object), ward2025_prov=w25_prov,
        new_off=new_off, new_tgt=new_tgt, pre_text=pre_text, new_text=new_text,
        prov_text=_s(prov.province_name), prov2025_text=_s(prov2025.province_name),
        house_patterns=patterns, house_names=house_names,
        _w_by_prov=_weighted_in_groups(ward_prov.astype(np.int64), ward_w, len(prov)),
        _w_by_dist=_weighted_in_groups(ward_dist.astype(np.int64), ward_w, len(dist)),
    )
