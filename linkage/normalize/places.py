"""Free-text Vietnamese places -> administrative codes before and after the 1 July 2025 reform.

A value is split into comma-like components and read right to left: province first, then the
district inside it, then the ward inside the district (pre-2025 reading) or inside the province
(2025 reading). Both readings run side by side; the deeper one wins, and the other regime's codes
are derived from the mapping tables (a split pre-2025 ward maps to a '|'-joined set of 2025 wards).
Speed: rows are grouped (in Arrow) by the text after their first comma; a group whose tail alone
completes the reading is resolved once, so unique house-number prefixes ("Số 12 đường Lê Lợi, ...")
cost nothing in Python. Everything else is resolved once per distinct value, with every
(reading state, component) step cached.

Confidence is a product of factors from rules/places/places.yaml (1.0 = every level written
exactly, with its prefix); regime says which unit list the text fits ('both' when it fits both).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from linkage.normalize.place_index import (
    PlaceIndex,
    Unit,
    ascii_key,
    clean_text,
    diacritic_key,
    fold_ascii,
    load_index,
)

COLUMNS = ("province_code", "district_code", "ward_code", "province_code_2025", "ward_code_2025",
           "regime", "level", "confidence")
_LEVEL_NAMES = {1: "province", 2: "district", 3: "ward"}
_ALL_LEVELS = frozenset(("province", "district", "ward"))
_SEP = re.compile(r"[,;|\n\t()\[\]]+|\.(?!\d)|\s+-\s+|-")
_DIGIT_RUN = re.compile(r"\d+")
_GLUED_NUMBER = re.compile(r"^([a-z]{1,6}?)\.?0*(\d{1,2})$")


class Variant(NamedTuple):
    """One reading of a component: the levels its prefix allows, the prefix type, the name keys."""

    levels: frozenset[str]
    utype: str | None  # prefix type ("xã", "quận", ...) or None without prefix
    akey: str
    dkey: str
    has_dia: bool  # the component itself carries diacritics
    exact_ok: bool  # the value carries diacritics, so an exact diacritic key may break ties
    ntok: int
    eligible: bool  # may get a fuzzy or nation-wide match (not a house/street/hamlet part, no digits)


class Comp(NamedTuple):
    """A component parsed once: its variants (prefix-stripped first, then the whole text)."""

    variants: tuple[Variant, ...]
    variants_dia: tuple[Variant, ...]  # the same, for a value written with diacritics
    whole_akey: str
    whole: Variant
    tokens: tuple[str, ...]
    atokens: tuple[str, ...]


class Match(NamedTuple):
    """A chosen unit and the confidence factor of how it was found."""

    code: str
    factor: float


AMBIGUOUS = Match("", 0.0)  # the name exists in scope but names several units


class PreState(NamedTuple):
    """The pre-2025 reading so far (hashable: steps are cached by state and component)."""

    scope: tuple[str, ...]  # pre-2025 provinces the text points at
    wide: tuple[str, ...]  # their merge partners (a 2025 province), searched second
    prov: str | None
    dist: str | None
    ward: str | None
    conf: float
    used_dist: bool
    depth: int  # 0 none, 1 province, 2 district, 3 ward


class NewState(NamedTuple):
    """The 2025 reading so far."""

    prov: str | None
    old_filter: str | None  # the text named a pre-2025 province: wards must descend from it
    ward: str | None
    conf: float
    depth: int  # 0 none (or province only derived), 1 province named, 3 ward


_PRE0 = PreState((), (), None, None, None, 1.0, False, 0)
_NEW0 = NewState(None, None, None, 1.0, 0)


# ----------------------------------------------------------------------------------------------
# Components


def _strip_abbrev_dots(s: str, abbrevs: frozenset[str]) -> str:
    """'tp.hcm' -> 'tp hcm', 'p.5' -> 'p 5', 't.p.' -> 't p ': dots after short prefixes are not separators."""
    if "." not in s:
        return s

    def repl(m: re.Match[str]) -> str:
        tok = m.group(1)
        return tok + " " if len(tok) == 1 or fold_ascii(tok) in abbrevs else m.group(0)

    return re.sub(r"(?<![^\W\d_])([^\W\d_]{1,2})\.", repl, s)


def split_components(text: str, ix: PlaceIndex) -> list[str]:
    """Cleaned components, left to right; parts of hyphenated official names are re-joined."""
    s = _strip_abbrev_dots(clean_text(text), ix.abbreviations)
    if "-" not in s:
        return [p for p in (x.strip() for x in _SEP.split(s)) if p]
    parts: list[str] = []
    hyphen_before: list[bool] = []
    pos = 0
    for m in _SEP.finditer(s):
        parts.append(s[pos:m.start()].strip())
        hyphen_before.append("-" in m.group(0))
        pos = m.end()
    parts.append(s[pos:].strip())
    out: list[str] = []
    for i, p in enumerate(parts):
        if not p:
            continue
        if out and i > 0 and hyphen_before[i - 1]:
            left = _comp(out[-1], ix)
            right = ascii_key(p.split())
            if left.variants[0].akey + right in ix.hyphen_keys or left.whole_akey + right in ix.hyphen_keys:
                out[-1] = out[-1] + " - " + p
                continue
        out.append(p)
    return out


def _comp(raw: str, ix: PlaceIndex) -> Comp:
    cache = ix.caches.setdefault("components", {})
    c = cache.get(raw)
    if c is None:
        c = _parse_comp(raw, ix)
        if len(cache) > 500_000:
            cache.clear()
        cache[raw] = c
    return c


def _variants(levels: frozenset[str], utype: str | None, toks: list[str], noise: bool) -> tuple[Variant, Variant]:
    """The variant as written, and the same for a value that carries diacritics elsewhere."""
    akey = ascii_key(toks)
    has_dia = not "".join(toks).isascii()
    eligible = not noise and not akey.isdigit()
    dkey = diacritic_key(toks)
    return (Variant(levels, utype, akey, dkey, has_dia, has_dia, len(toks), eligible),
            Variant(levels, utype, akey, dkey, has_dia, True, len(toks), eligible))


def _parse_comp(raw: str, ix: PlaceIndex) -> Comp:
    spaced = raw.replace("'", " ")
    toks = spaced.split()
    atoks = fold_ascii(spaced).split()
    if len(atoks) != len(toks):  # a letter outside the fold table took its spaces with it
        atoks = [fold_ascii(t) for t in toks]
    # a prefix glued to a number: "p1", "q.3", "p01"
    if len(toks) == 1:
        m = _GLUED_NUMBER.match(atoks[0])
        if m and (m.group(1),) in ix.prefix_by_tokens:
            toks, atoks = [m.group(1), m.group(2)], [m.group(1), m.group(2)]
    noise = bool(atoks) and atoks[0] in ix.noise_first and any(
        tuple(atoks[:n]) in ix.noise_prefixes for n in ix.noise_lengths)
    whole, whole_dia = _variants(_ALL_LEVELS, None, toks, noise)
    variants: list[Variant] = []
    dia: list[Variant] = []
    for n in ix.prefix_lengths:
        if len(atoks) <= n:
            continue
        hits = ix.prefix_by_tokens.get(tuple(atoks[:n]))
        if hits and not "".join(toks[:n]).isascii():
            # written with diacritics: must be the type word itself ("xà" is not "xã")
            dk = diacritic_key(toks[:n])
            hits = [r for r in hits if r.dkey == dk]
        if hits:
            v, vd = _variants(frozenset(r.level for r in hits), hits[0].utype, toks[n:], False)
            variants.append(v)
            dia.append(vd)
            break
    variants.append(whole)
    dia.append(whole_dia)
    return Comp(tuple(variants), tuple(dia), whole.akey, whole, tuple(toks), tuple(atoks))


def _only_prefix(atoks, ix: PlaceIndex) -> bool:
    return tuple(atoks) in ix.prefix_by_tokens


def _inner_split(comp: Comp, ix: PlaceIndex) -> tuple[str, ...]:
    """Split "xã a huyện b tỉnh c" or "p 5 q 3 tp hcm" before each prefix, and peel a trailing
    province name. Only tried on a component that resolved to nothing as a whole."""
    toks, atoks = comp.tokens, comp.atokens
    starts = [0]
    for i in range(1, len(atoks)):
        at_prefix = any(atoks[i:i + n] in ix.prefix_by_tokens for n in ix.prefix_lengths if i + n < len(atoks))
        # a piece that would be a bare prefix ("xã") stays with the words after it
        if at_prefix and not _only_prefix(atoks[starts[-1]:i], ix):
            starts.append(i)
    pieces = [list(toks[a:b]) for a, b in zip(starts, starts[1:] + [len(toks)])]
    last = pieces[-1]
    for n in range(min(4, len(last) - 1), 0, -1):  # trailing province without separator
        key = ascii_key(last[-n:])
        if (key in ix.prov_pre or key in ix.prov_new) and not _only_prefix(fold_ascii(" ".join(last[:-n])).split(), ix):
            pieces[-1:] = [last[:-n], last[-n:]]
            break
    if len(pieces) == 1:
        return ()
    return tuple(" ".join(p) for p in pieces if p)


# ----------------------------------------------------------------------------------------------
# Candidate choice


def _choose(cands: list[Unit], v: Variant, f: dict[str, float]) -> Match | None:
    """One unit from same-key candidates: prefix type, then exact diacritics break ties."""
    if not cands:
        return None
    factor = 1.0
    if v.utype is not None and any(u.utype for u in cands):
        same = [u for u in cands if u.utype == v.utype or u.utype == ""]
        if same:
            cands = same
        else:
            factor *= f["type_mismatch"]
    codes = {u.code for u in cands}
    if len(codes) > 1 and v.exact_ok:
        exact = [u for u in cands if u.dkey == v.dkey]
        if len({u.code for u in exact}) == 1:
            cands, codes = exact, {exact[0].code}
    if len(codes) > 1:
        return AMBIGUOUS
    if not any(u.dkey == v.dkey for u in cands):
        factor *= f["diacritics_differ"] if v.has_dia else f["no_diacritics"]
    if all(u.alias for u in cands):
        factor *= f["alias"]
    return Match(cands[0].code, factor)


def _fuzzy(v: Variant, lists: tuple[list[str], list[list[Unit]]] | None, cutoff: float,
           ix: PlaceIndex) -> Match | None:
    """Typo fallback among one parent's units: a single clear best ASCII key, ties broken by the
    diacritic key; names with numbers must keep their numbers ("Mỹ Đình 1" never becomes "2")."""
    if lists is None or not v.eligible or len(v.akey) < ix.fuzzy_min_len:
        return None
    keys, units = lists
    digits = _DIGIT_RUN.findall(v.akey)
    if digits:
        pick = [i for i, k in enumerate(keys) if _DIGIT_RUN.findall(k) == digits]
        keys, units = [keys[i] for i in pick], [units[i] for i in pick]
    hits = process.extract(v.akey, keys, scorer=fuzz.ratio, limit=3, score_cutoff=cutoff)
    if not hits:
        return None
    best = [h for h in hits if h[1] == hits[0][1]]
    if len(best) > 1:
        if not v.has_dia:
            return None
        dscores = sorted(((fuzz.ratio(v.dkey, u.dkey), i) for _, _, i in best for u in units[i]), reverse=True)
        if dscores[0][0] == dscores[1][0]:
            return None
        best = [h for h in best if h[2] == dscores[0][1]]
    _, score, i = best[0]
    m = _choose(units[i], v._replace(has_dia=False, exact_ok=False, dkey=""), ix.factors)
    if m is None or m is AMBIGUOUS:
        return None
    return Match(m.code, m.factor / ix.factors["no_diacritics"] * ix.factors["fuzzy"] * score / 100.0)


def _province(v: Variant, ix: PlaceIndex, allow_fuzzy: bool) -> tuple[Match | None, Match | None]:
    """(pre-2025 match, 2025 match) for a province component."""
    f = ix.factors
    pre, new = ix.prov_pre.get(v.akey), ix.prov_new.get(v.akey)
    if pre or new:
        return _choose(pre or [], v, f), _choose(new or [], v, f)
    if not allow_fuzzy or len(v.akey) < ix.fuzzy_min_len or any(c.isdigit() for c in v.akey):
        return None, None
    keys, pairs = ix.fz_prov
    hits = process.extract(v.akey, keys, scorer=fuzz.ratio, limit=2, score_cutoff=ix.fuzzy_province_cutoff)
    if not hits or (len(hits) > 1 and hits[1][1] >= hits[0][1]):
        return None, None
    _, score, i = hits[0]
    scale = f["fuzzy"] * score / 100.0
    out = []
    for cands in pairs[i]:
        m = _choose(cands, v._replace(has_dia=False, exact_ok=False, dkey=""), f)
        out.append(None if m is None or m is AMBIGUOUS else Match(m.code, m.factor / f["no_diacritics"] * scale))
    return out[0], out[1]


def _prefix_factor(v: Variant, ix: PlaceIndex) -> float:
    return 1.0 if v.utype is not None else ix.factors["no_prefix"]


# ----------------------------------------------------------------------------------------------
# The pre-2025 reading: province -> district -> ward


def _pre_district(ps: PreState, v: Variant, ix: PlaceIndex, allow_fuzzy: bool) -> PreState | Match | None:
    f = ix.factors
    m: Match | None = None
    if ps.depth >= 1:
        for scope, extra in ((ps.scope, 1.0), (ps.wide, f["other_regime_province"])):
            cands = [u for p in scope for u in ix.dist_in_prov.get((p, v.akey), ())]
            m = _choose(cands, v, f)
            if m is not None:
                m = m if m is AMBIGUOUS else Match(m.code, m.factor * extra)
                break
        if m is None and allow_fuzzy and len(ps.scope) == 1 and v.utype is not None:
            m = _fuzzy(v, ix.fz_dist_in_prov.get(ps.scope[0]), ix.fuzzy_cutoff, ix)
    elif v.utype is not None or (v.eligible and v.ntok >= 2):
        m = _choose(ix.dist_nat.get(v.akey, []), v, f)
        if m is not None and m is not AMBIGUOUS:
            m = Match(m.code, m.factor * f["national_district"])
    if m is None or m is AMBIGUOUS:
        return m
    prov = ix.dist_prov[m.code]
    conf = ps.conf * m.factor * _prefix_factor(v, ix)
    return PreState((prov,), (), prov, m.code, None, conf, True, 2)


def _pre_ward(ps: PreState, v: Variant, ix: PlaceIndex, allow_fuzzy: bool) -> PreState | Match | None:
    f = ix.factors
    m: Match | None = None
    if ps.dist is not None:
        m = _choose(ix.ward_in_dist.get((ps.dist, v.akey), []), v, f)
        if m is None and allow_fuzzy and v.utype is not None:
            m = _fuzzy(v, ix.fz_ward_in_dist.get(ps.dist), ix.fuzzy_cutoff, ix)
        if m is None and allow_fuzzy:  # last resort, after a typo match inside the district
            m = _choose(ix.ward_in_prov.get((ps.prov or "", v.akey), []), v, f)
            if m is not None and m is not AMBIGUOUS:
                m = Match(m.code, m.factor * f["wrong_district"])
    elif ps.depth >= 1:
        for scope, extra in ((ps.scope, f["missing_district"]),
                             (ps.wide, f["missing_district"] * f["other_regime_province"])):
            cands = [u for p in scope for u in ix.ward_in_prov.get((p, v.akey), ())]
            m = _choose(cands, v, f)
            if m is not None:
                m = m if m is AMBIGUOUS else Match(m.code, m.factor * extra)
                break
        if m is None and allow_fuzzy and len(ps.scope) == 1 and v.utype is not None:
            m = _fuzzy(v, ix.fz_ward_in_prov.get(ps.scope[0]), ix.fuzzy_cutoff, ix)
            if m is not None:
                m = Match(m.code, m.factor * f["missing_district"])
    elif v.utype is not None or (v.eligible and v.ntok >= 2):
        m = _choose(ix.ward_nat.get(v.akey, []), v, f)
        if m is not None and m is not AMBIGUOUS:
            m = Match(m.code, m.factor * f["national_ward"])
    if m is None or m is AMBIGUOUS:
        return m
    dist, prov = ix.ward_parent[m.code]
    conf = ps.conf * m.factor * _prefix_factor(v, ix)
    return PreState((prov,), (), prov, dist, m.code, conf, ps.used_dist, 3)


def _pre_province(ps: PreState, pre: Match | None, new: Match | None, ix: PlaceIndex) -> PreState | None:
    if pre is not None and pre is not AMBIGUOUS:
        succ = ix.prov_pre_succ.get(pre.code)
        wide = tuple(p for p in ix.prov_new_pred.get(succ or "", ()) if p != pre.code)
        return PreState((pre.code,), wide, pre.code, None, None, ps.conf * pre.factor, False, 1)
    if new is not None and new is not AMBIGUOUS:  # a 2025-only name: search its predecessors
        scope = ix.prov_new_pred.get(new.code, ())
        prov = scope[0] if len(scope) == 1 else None
        return PreState(scope, (), prov, None, None, ps.conf * new.factor * ix.factors["other_regime_province"],
                        False, 1)
    return None


# ----------------------------------------------------------------------------------------------
# The 2025 reading: province -> ward


def _new_ward(ns: NewState, v: Variant, ix: PlaceIndex, allow_fuzzy: bool) -> NewState | Match | None:
    f = ix.factors
    m: Match | None = None
    if ns.prov is not None:
        cands = ix.new_in_prov.get((ns.prov, v.akey), [])
        extra = 1.0
        if ns.old_filter is not None:
            cands = [u for u in cands if ns.old_filter in ix.new_pred_provs.get(u.code, ())]
            extra = f["other_regime_province"]
        m = _choose(cands, v, f)
        if m is None and allow_fuzzy and v.utype is not None:
            lists = ix.fz_new_in_prov.get(ns.prov)
            m = _fuzzy(v, lists, ix.fuzzy_cutoff, ix)
            if m is not None and ns.old_filter is not None and ns.old_filter not in ix.new_pred_provs.get(m.code, ()):
                m = None
        if m is not None and m is not AMBIGUOUS:
            m = Match(m.code, m.factor * extra)
    elif v.utype is not None or (v.eligible and v.ntok >= 2):
        m = _choose(ix.new_nat.get(v.akey, []), v, f)
        if m is not None and m is not AMBIGUOUS:
            m = Match(m.code, m.factor * f["national_ward"])
    if m is None or m is AMBIGUOUS:
        return m
    conf = ns.conf * m.factor * _prefix_factor(v, ix)
    return NewState(ix.new_prov[m.code], ns.old_filter, m.code, conf, 3)


def _new_province(ns: NewState, pre: Match | None, new: Match | None, ix: PlaceIndex) -> NewState | None:
    if new is not None and new is not AMBIGUOUS:
        return NewState(new.code, None, None, ns.conf * new.factor, 1)
    if pre is not None and pre is not AMBIGUOUS:  # an old province name: scope is its successor
        succ = ix.prov_pre_succ.get(pre.code)
        return NewState(succ, pre.code, None, ns.conf * pre.factor, 0) if succ else None
    return None


# ----------------------------------------------------------------------------------------------
# One component, both readings


class Step(NamedTuple):
    pre: PreState
    new: NewState
    pre_moved: bool
    new_moved: bool


def _step(pre: PreState, new: NewState, comp: Comp, ix: PlaceIndex, value_dia: bool) -> Step:
    """Advance both readings by one component (right to left)."""
    pre2, new2 = pre, new
    variants = comp.variants_dia if value_dia else comp.variants
    pre_level = new_level = 0
    # province: only as the first resolved component
    if pre.depth == 0 and new.depth == 0 and new.prov is None:
        # the whole text as a province name or alias first ("TT Huế"), then the name after its
        # prefix, with the typo fallback on that one only
        first = variants[0]
        tries = [(variants[-1], False)]
        if "province" in first.levels:
            tries.append((first, True))
        for v, allow_fuzzy in tries:
            pm, nm = _province(v, ix, allow_fuzzy)
            p_st = _pre_province(pre, pm, nm, ix)
            n_st = _new_province(new, pm, nm, ix)
            if p_st is not None or n_st is not None:
                return Step(p_st or pre, n_st or new, p_st is not None, n_st is not None)
    # exact look-ups (every variant, both readings) first; the typo fallback only if nothing matched
    for allow_fuzzy in (False, True):
        for v in variants:
            r: PreState | Match | None = None
            r_is_district = False
            if pre.ward is None:
                if pre.dist is None and "district" in v.levels:
                    r = _pre_district(pre, v, ix, allow_fuzzy)
                    r_is_district = r is not None
                    if isinstance(r, PreState):
                        pre_level = 2
                if r is None and "ward" in v.levels:
                    r = _pre_ward(pre, v, ix, allow_fuzzy)
                    if isinstance(r, PreState):
                        pre_level = 3
                if isinstance(r, PreState):
                    pre2 = r
            r2: NewState | Match | None = None
            if new.ward is None and "ward" in v.levels and not (allow_fuzzy and pre.used_dist):
                r2 = _new_ward(new, v, ix, allow_fuzzy)
                if isinstance(r2, NewState):
                    new2 = r2
                    new_level = 3
            if r is AMBIGUOUS and r_is_district:
                # twin districts ("Huyện/Thị xã Kỳ Anh"): the text is a pre-2025 address naming a
                # district we cannot pick; the words are not a 2025 ward
                return Step(pre._replace(used_dist=True), new, True, False)
            if r is AMBIGUOUS and pre.used_dist:
                # a ward name that is ambiguous inside the written district is not a 2025 ward either
                return Step(pre, new, False, False)
            if r2 is AMBIGUOUS and pre2 is not pre:
                pre2 = pre2._replace(conf=pre2.conf * ix.factors["ambiguous_regime"])
            if r is AMBIGUOUS and new2 is not new:
                new2 = new2._replace(conf=new2.conf * ix.factors["ambiguous_regime"])
            if pre2 is not pre or new2 is not new:
                # a bare name that is a pre-2025 district and a 2025 ward: read it as the district
                if pre_level == 2 and new_level == 3 and v.utype is None:
                    new2 = new
                    pre2 = pre2._replace(conf=pre2.conf * ix.factors["ambiguous_regime"])
                return _with_scope(Step(pre2, new2, pre2 is not pre, new2 is not new), ix)
            if r is AMBIGUOUS or r2 is AMBIGUOUS:
                return Step(pre, new, False, False)
    return Step(pre, new, False, False)


def _with_scope(moved: Step, ix: PlaceIndex) -> Step:
    """A district or ward found without a province gives the 2025 reading its successor as scope."""
    pre2, new2 = moved.pre, moved.new
    if pre2.prov is not None and new2.prov is None and pre2.depth >= 2:
        succ = ix.prov_pre_succ.get(pre2.prov)
        moved = moved._replace(new=new2._replace(prov=succ, old_filter=pre2.prov))
    return moved


# ----------------------------------------------------------------------------------------------
# Final codes


def _derive(pre: PreState, new: NewState, ix: PlaceIndex) -> tuple:
    """The output row for two finished readings: pick the deeper one (both when equally deep and
    consistent), then derive the other regime's codes from the mapping tables."""
    dp, dn = pre.depth, new.depth
    if dp == 0 and dn == 0:
        return (None, None, None, None, None, None, None, 0.0)
    use_pre = dp > dn or (dp == dn and dp > 0)
    use_new = dn > dp or (dp == dn and dp > 0)
    if use_pre and use_new and not pre.used_dist:
        # both readings fit: keep both only if neither is clearly the poorer fit (wrong tones,
        # a merged province's unit, a typo)
        if pre.conf < ix.factors["both_margin"] * new.conf:
            use_pre = False
        elif new.conf < ix.factors["both_margin"] * pre.conf:
            use_new = False
    if dp == 3 and dn == 3:
        succ = ix.ward_succ.get(pre.ward or "", (None, None))
        if pre.used_dist or (succ[1] is not None and succ[1] != new.prov):
            use_new = pre.used_dist is False and new.conf > pre.conf
            use_pre = not use_new
    if dn == 3 and dp < 3 and pre.used_dist and pre.dist not in ix.new_pred_dists.get(new.ward or "", ()):
        use_pre, use_new = True, False  # the 2025 ward lies outside the district the text names
    regime = "both" if use_pre and use_new else ("pre2025" if use_pre else "2025")
    if use_pre:
        prov, dist, ward = pre.prov, pre.dist, pre.ward
        prov25 = ward25 = None
        if ward is not None:
            ward25, prov25 = ix.ward_succ.get(ward, (None, None))
        if prov25 is None and prov is not None:
            prov25 = ix.prov_pre_succ.get(prov)
        if prov25 is None and pre.scope:
            succs = {ix.prov_pre_succ.get(p) for p in pre.scope}
            prov25 = succs.pop() if len(succs) == 1 else None
        conf = pre.conf
        if use_new:
            conf = max(pre.conf, new.conf)
            if new.ward is not None:
                ward25 = "|".join(sorted(set((ward25 or "").split("|")) - {""} | {new.ward}))
            prov25 = prov25 or new.prov
        return (prov, dist, ward, prov25, ward25, regime, _LEVEL_NAMES[max(dp, dn) if use_new else dp],
                round(conf, 4))
    prov25, ward25 = new.prov, new.ward
    prov = dist = ward = None
    if ward25 is not None:
        provs = ix.new_pred_provs.get(ward25, frozenset())
        dists = ix.new_pred_dists.get(ward25, frozenset())
        if pre.used_dist and pre.dist in dists:  # mixed text: a 2025 ward with its old district
            prov, dist = pre.prov, pre.dist
        else:  # only what all predecessor wards share
            prov = next(iter(provs)) if len(provs) == 1 else None
            dist = next(iter(dists)) if len(dists) == 1 else None
        ward = ix.new_identity.get(ward25)
    elif prov25 is not None:
        preds = ix.prov_new_pred.get(prov25, ())
        prov = preds[0] if len(preds) == 1 else None
    return (prov, dist, ward, prov25, ward25, regime, _LEVEL_NAMES[dn], round(new.conf, 4))


# ----------------------------------------------------------------------------------------------
# Whole values


_EMPTY = (None, None, None, None, None, None, None, np.nan)


class _Resolver:
    """Resolves values one after another, sharing its caches across them (and across calls).

    A value "head, tail" is resolved by resolving "tail" first (memoised); when the tail already
    ends the reading (its ward is found), the head - typically a unique house number and street -
    is never looked at, so a million distinct addresses cost a few dictionary look-ups each.
    """

    MAX_ENTRIES = 2_000_000  # per cache; cleared when exceeded (bounded memory)

    def __init__(self, ix: PlaceIndex) -> None:
        self.ix = ix
        self.steps: dict = {}
        self.tails: dict = {}
        self.finals: dict = {}
        self.final_rows: list[tuple] = [_EMPTY]  # id 0: missing or blank input

    def trim(self) -> None:
        if max(len(self.steps), len(self.tails), len(self.final_rows)) > self.MAX_ENTRIES:
            self.steps.clear()
            self.tails.clear()
            self.finals.clear()
            del self.final_rows[1:]

    def final_id(self, text: str) -> int:
        value_dia = not text.isascii()
        head, sep, tail = text.partition(",")
        if sep:
            hit = self.tails.get((tail, value_dia))
            if hit is not None and hit[2]:
                return hit[4]
        pre, new, _, _, fid = self._read(text, value_dia, top=True)
        return fid if fid >= 0 else self._fid(pre, new)

    def tail_id(self, tail: str, value_dia: bool) -> int:
        """The final id shared by every value "<anything>,<tail>", or -1 when the head matters."""
        pre, new, done, _, fid = self._read(tail, value_dia)
        return fid if done else -1

    def _fid(self, pre: PreState, new: NewState) -> int:
        fk = (pre, new)
        fid = self.finals.get(fk)
        if fid is None:
            fid = self.finals[fk] = len(self.final_rows)
            self.final_rows.append(_derive(pre, new, self.ix))
        return fid

    def _read(self, text: str, value_dia: bool, top: bool = False) -> tuple[PreState, NewState, bool, int, int]:
        """(pre-2025 state, 2025 state, reading complete, expansions used, final id or -1)."""
        if not top:
            hit = self.tails.get((text, value_dia))
            if hit is not None:
                return hit
        head, sep, tail = text.partition(",")
        if sep and tail.strip():
            pre, new, done, expanded, fid = self._read(tail, value_dia)
            if not done:
                pre, new, done, expanded = self._run(split_components(head, self.ix), pre, new, expanded, value_dia)
                fid = -1
        else:
            pre, new, done, expanded = self._run(split_components(text, self.ix), _PRE0, _NEW0, 0, value_dia)
            fid = -1
        if done and fid < 0:
            fid = self._fid(pre, new)
        out = (pre, new, done, expanded, fid)
        if not top:
            self.tails[(text, value_dia)] = out
        return out

    def _run(self, stack: list[str], pre: PreState, new: NewState, expanded: int,
             value_dia: bool) -> tuple[PreState, NewState, bool, int]:
        ix = self.ix
        while stack:
            raw = stack.pop()
            if raw[0].isdigit() and not (len(raw) <= 2 and raw.isdigit()):
                continue  # a house number; a bare "5" may be a numbered ward or district
            comp = _comp(raw, ix)
            if comp.whole_akey in ix.ignore_keys or not comp.whole_akey:
                continue
            key = (pre, new, raw, value_dia)
            st = self.steps.get(key)
            if st is None:
                st = _step(pre, new, comp, ix, value_dia)
                if comp.whole.eligible or st.pre_moved or st.new_moved:
                    self.steps[key] = st
            if not st.pre_moved and not st.new_moved:
                if expanded < 2 and len(comp.tokens) > 2:
                    parts = _inner_split(comp, ix)
                    if parts:
                        expanded += 1
                        stack.extend(parts)
                continue
            pre, new = st.pre, st.new
            if pre.ward is not None or (new.ward is not None and not st.pre_moved):
                return pre, new, True, expanded
        return pre, new, False, expanded


def _resolver(ix: PlaceIndex) -> _Resolver:
    res = ix.caches.get("resolver")
    if res is None:
        res = ix.caches["resolver"] = _Resolver(ix)
    res.trim()
    return res


def _as_arrow(values: pd.Series) -> pa.Array:
    """The column as one Arrow string array (numbers and other objects as their text)."""
    s = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    arr = pa.array(s.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def _final_ids(arr: pa.Array, res: _Resolver) -> np.ndarray:
    """One final-result id per row. Rows are grouped by (text after the first comma, diacritics):
    a group whose tail alone completes the reading gets its id once; only the other rows are
    resolved value by value."""
    n = len(arr)
    fid = np.zeros(n, dtype=np.int64)  # 0: missing or blank
    present = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(arr), ""), False).to_numpy(zero_copy_only=False)
    if not present.any():
        return fid
    dia = pc.fill_null(pc.invert(pc.string_is_ascii(arr)), False).to_numpy(zero_copy_only=False)
    tails = pc.struct_field(pc.extract_regex(arr, r"(?s)^[^,]*,(?P<tail>.*)$"), [0])
    tail_ok = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(tails), ""), False).to_numpy(zero_copy_only=False)
    todo = present.copy()
    grouped = present & tail_ok
    if grouped.any():
        rows = np.flatnonzero(grouped)
        flags = pa.array(np.where(dia[rows], "1", "0"), type=pa.large_string())
        keys = pc.binary_join_element_wise(pc.take(tails, rows), flags, pa.scalar("", pa.large_string()))
        enc = pc.dictionary_encode(keys)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        group_fid = np.array([res.tail_id(k[:-1], k[-1] == "1") for k in enc.dictionary.to_pylist()],
                             dtype=np.int64)
        got = group_fid[idx]
        done = got >= 0
        fid[rows[done]] = got[done]
        todo[rows[done]] = False
    rows = np.flatnonzero(todo)
    if len(rows):
        enc = pc.dictionary_encode(pc.take(arr, rows))
        idx = enc.indices.to_numpy(zero_copy_only=False)
        value_fid = np.array([res.final_id(v) for v in enc.dictionary.to_pylist()], dtype=np.int64)
        fid[rows] = value_fid[idx]
    return fid


def resolve_places(values: pd.Series, rules: Path | None = None) -> pd.DataFrame:
    """Resolve a column of free-text places to pre-2025 and 2025 administrative codes.

    Returns one row per input row (same index) with the columns in `COLUMNS`; codes are NULL where
    unknown or ambiguous; `ward_code_2025` may hold several codes joined by '|' (a split ward).
    Missing or blank input gives NULL codes and a NULL confidence; unresolvable text gives 0.0.
    """
    cols = _place_columns(_as_arrow(values), rules)
    out: dict[str, object] = {c: pd.arrays.ArrowStringArray(cols[c]) for c in COLUMNS if c != "confidence"}
    out["confidence"] = cols["confidence"].to_numpy(zero_copy_only=False)
    return pd.DataFrame(out, index=values.index)[list(COLUMNS)]


def places_table(values: pa.Array, rules: Path | None = None) -> pa.Table:
    """resolve_places' columns for an Arrow column of text, as the Arrow table its frame converts
    to (a NaN confidence is NULL): without the pandas frame, most of the cost for a desk's few
    addresses."""
    cols = _place_columns(values.cast(pa.large_string()), rules)
    cols["confidence"] = pa.array(cols["confidence"].to_numpy(zero_copy_only=False), from_pandas=True)
    return pa.table({c: cols[c] for c in COLUMNS})


def _place_columns(arr: pa.Array, rules: Path | None) -> dict[str, pa.Array]:
    """Per row: the codes (large_string) and the confidence (float64, NaN for missing input)."""
    ix = load_index(rules)
    if not ix.prov_pre and not ix.prov_new:
        # A rules pack without Vietnamese administrative units (e.g. rules/examples/febrl4): no
        # text can resolve, so do not read it; present values get confidence 0 as unresolved.
        present = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(arr), ""), False).to_numpy(zero_copy_only=False)
        out = {col: pa.nulls(len(arr), pa.large_string()) for col in COLUMNS if col != "confidence"}
        out["confidence"] = pa.array(np.where(present, 0.0, np.nan))
        return out
    res = _resolver(ix)
    row_fid = _final_ids(arr, res)
    # only the results these rows use: the resolver keeps every result it has given (a desk's
    # memo or a worker's later pieces would copy them all each call)
    used, row_fid = np.unique(row_fid, return_inverse=True)
    row_fid = row_fid.ravel()
    table = list(zip(*(res.final_rows[i] for i in used))) or [()] * len(COLUMNS)
    take = pa.array(row_fid)
    out: dict[str, pa.Array] = {}
    for j, col in enumerate(COLUMNS):
        if col == "confidence":
            out[col] = pa.array(np.asarray(table[j], dtype="float64")[row_fid])
        else:
            out[col] = pc.take(pa.array(table[j], type=pa.large_string()), take)
    return out
