"""The lookup index behind place resolution, built once per rules directory from the admin tables.

Every unit name gets two keys: an ASCII key (diacritics folded, đ->d, spaces and punctuation
removed, numbers without leading zeros) used to find candidates, and a tone-style-independent
diacritic key used to choose among candidates whose ASCII keys collide (Hùng/Hưng) and to score
how exactly the input was written. Units are looked up inside their parent (ward in district,
district in province, 2025 ward in 2025 province) and, for names unique nation-wide, without one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from linkage.errors import RulesError
from linkage.rules import load_yaml, read_ref_csv, rules_dir

ADMIN = "ref/admin/"
RULES_YAML = "places/places.yaml"
ALIASES_CSV = "places/aliases.csv"

# Tone marks (combining): grave, acute, tilde, hook above, dot below. Vowel-quality marks
# (circumflex, breve, horn) stay part of the letter.
_TONES = {"\u0300": "2", "\u0301": "1", "\u0303": "4", "\u0309": "3", "\u0323": "5"}
_CONFUSABLES = str.maketrans({
    "\u00f0": "đ", "\u0111": "đ", "\u00d0": "đ", "\u0110": "đ",  # eth / D-stroke look-alikes
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
    "\u00a0": " ", "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DIGITS = re.compile(r"\d+")
_NON_WORD = re.compile(r"[\W_]+")


def clean_text(s: str) -> str:
    """NFC, casefold, confusables and odd spaces repaired: the form every other step starts from."""
    s = unicodedata.normalize("NFC", s).casefold().translate(_CONFUSABLES)
    return unicodedata.normalize("NFC", s)


def _tables() -> tuple[dict[int, str], dict[int, str], dict[str, str]]:
    """Per-character tables for the Latin letters Vietnamese uses: ASCII fold, tone removal, tone digit."""
    fold: dict[int, str] = {ord("đ"): "d", ord("Đ"): "D"}
    untone: dict[int, str] = {}
    tone_of: dict[str, str] = {}
    for cp in range(0x00C0, 0x1F00):
        ch = chr(cp)
        nfd = unicodedata.normalize("NFD", ch)
        if len(nfd) < 2 or not nfd[0].isascii():
            continue
        fold[cp] = "".join(c for c in nfd if not unicodedata.combining(c))
        tones = [c for c in nfd if c in _TONES]
        if tones:
            untone[cp] = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in _TONES))
            tone_of[ch] = _TONES[tones[0]]
    return fold, untone, tone_of


_FOLD, _UNTONE, _TONE_OF = _tables()


def fold_ascii(s: str) -> str:
    """Diacritics removed and đ->d; keeps spaces and punctuation (same tokens as the input)."""
    if s.isascii():
        return s
    out = s.translate(_FOLD)
    if out.isascii():
        return out
    out = unicodedata.normalize("NFD", out)  # rare letters outside the table
    return "".join(c for c in out if not unicodedata.combining(c))


def _strip_zeros(m: re.Match[str]) -> str:
    return str(int(m.group(0)))


def ascii_key(tokens: list[str]) -> str:
    """Lookup key: folded, only [a-z0-9], numbers without leading zeros ("Phường 01" == "P1")."""
    key = _NON_ALNUM.sub("", fold_ascii(" ".join(tokens)))
    return _DIGITS.sub(_strip_zeros, key) if not key.isalpha() else key


def _syllable_key(tok: str) -> str:
    tone = ""
    if not tok.isascii():
        for c in tok:
            t = _TONE_OF.get(c)
            if t:
                tone = t
                break
        tok = tok.translate(_UNTONE)
    letters = _NON_WORD.sub("", tok)
    return letters + tone


_SYLLABLES: dict[str, str] = {}


def _syllable_key_cached(tok: str) -> str:
    k = _SYLLABLES.get(tok)
    if k is None:
        k = _syllable_key(tok)
        if len(_SYLLABLES) < 200_000:
            _SYLLABLES[tok] = k
    return k


def diacritic_key(tokens: list[str]) -> str:
    """Tone-style-independent key: each syllable's letters (with â ă ê ô ơ ư đ) plus its tone digit,
    so "Hoà" and "Hòa" agree while "Hùng" and "Hưng" differ. Input must be NFC (see clean_text)."""
    key = "".join([_syllable_key_cached(t) for t in tokens])
    return _DIGITS.sub(_strip_zeros, key) if not key.isalpha() else key


class Unit(NamedTuple):
    """One named unit as a lookup candidate."""

    code: str
    dkey: str  # diacritic key of its name (or alias)
    utype: str  # unit type, lower case ("xã", "phường", "quận", "tỉnh", "thành phố", ...)
    alias: bool


@dataclass(frozen=True)
class PrefixRule:
    level: str  # province | district | ward
    utype: str
    tokens: tuple[str, ...]  # ASCII form as written by people ("thanh pho", "tp")
    dkey: str  # diacritic key of the form: input written with diacritics must match it


@dataclass
class PlaceIndex:
    """Everything the resolver looks up; built by `load_index`."""

    prefixes: list[PrefixRule]
    abbreviations: frozenset[str]  # short prefix forms whose trailing dot is an abbreviation dot
    noise_prefixes: frozenset[tuple[str, ...]]
    noise_lengths: tuple[int, ...]
    noise_first: frozenset[str]
    ignore_keys: frozenset[str]
    factors: dict[str, float]
    fuzzy_cutoff: float
    fuzzy_province_cutoff: float
    fuzzy_min_len: int
    prefix_by_tokens: dict[tuple[str, ...], list[PrefixRule]] = field(default_factory=dict)
    prefix_lengths: tuple[int, ...] = ()  # longest first
    # provinces: ascii key -> candidates (pre-2025 codes / 2025 codes)
    prov_pre: dict[str, list[Unit]] = field(default_factory=dict)
    prov_new: dict[str, list[Unit]] = field(default_factory=dict)
    prov_pre_succ: dict[str, str] = field(default_factory=dict)  # pre province -> 2025 province
    prov_new_pred: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # pre-2025 districts
    dist_in_prov: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)
    dist_nat: dict[str, list[Unit]] = field(default_factory=dict)
    dist_prov: dict[str, str] = field(default_factory=dict)
    # pre-2025 wards
    ward_in_dist: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)
    ward_in_prov: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)
    ward_nat: dict[str, list[Unit]] = field(default_factory=dict)
    ward_parent: dict[str, tuple[str, str]] = field(default_factory=dict)  # ward -> (district, province)
    ward_succ: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # -> ("a|b", 2025 province)
    # 2025 wards
    new_in_prov: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)
    new_nat: dict[str, list[Unit]] = field(default_factory=dict)
    new_prov: dict[str, str] = field(default_factory=dict)  # 2025 ward -> 2025 province
    new_pred_provs: dict[str, frozenset[str]] = field(default_factory=dict)
    new_pred_dists: dict[str, frozenset[str]] = field(default_factory=dict)
    new_identity: dict[str, str] = field(default_factory=dict)  # 2025 ward -> identical pre ward
    # keys of names written with a hyphen ("Bà Rịa - Vũng Tàu"): split parts are re-joined
    hyphen_keys: frozenset[str] = frozenset()
    # fuzzy candidate lists per parent: parent -> (ascii keys, aligned candidate lists)
    fz_ward_in_dist: dict[str, tuple[list[str], list[list[Unit]]]] = field(default_factory=dict)
    fz_ward_in_prov: dict[str, tuple[list[str], list[list[Unit]]]] = field(default_factory=dict)
    fz_dist_in_prov: dict[str, tuple[list[str], list[list[Unit]]]] = field(default_factory=dict)
    fz_new_in_prov: dict[str, tuple[list[str], list[list[Unit]]]] = field(default_factory=dict)
    fz_prov: tuple[list[str], list[tuple[list[Unit], list[Unit]]]] = ([], [])
    # caches of the resolver that uses this index (parsed components, reading steps); they live and
    # die with the index, so a rebuilt index never sees another's entries
    caches: dict = field(default_factory=dict)


_TYPE_WORDS = ("thành phố", "thị trấn", "đặc khu", "thị xã", "phường", "huyện", "quận", "tỉnh", "xã")


def split_type(full_name: str, utype: str) -> tuple[str, list[str]]:
    """(type, name tokens) from an official full name such as "Thị Trấn Mường Chà".

    The type word in the name wins over the type column (the GSO list has "Phường 5" typed "Xã").
    """
    cleaned = clean_text(full_name)
    for t in _TYPE_WORDS:
        if cleaned.startswith(t + " "):
            return t, cleaned[len(t) + 1:].split()
    raise RulesError(f"admin table: name {full_name!r} does not start with a unit type (column says {utype!r})")


def _add(d: dict, key, unit: Unit) -> None:
    lst = d.setdefault(key, [])
    if not any(u.code == unit.code and u.dkey == unit.dkey for u in lst):
        lst.append(unit)


def _fuzzy_lists(d: dict[tuple[str, str], list[Unit]]) -> dict[str, tuple[list[str], list[list[Unit]]]]:
    out: dict[str, tuple[list[str], list[list[Unit]]]] = {}
    for (parent, key), units in d.items():
        keys, lists = out.setdefault(parent, ([], []))
        keys.append(key)
        lists.append(units)
    return out


def _load_prefixes(cfg: dict, path: Path) -> tuple[list[PrefixRule], frozenset[str]]:
    rules: list[PrefixRule] = []
    try:
        for level in ("province", "district", "ward"):
            for entry in cfg["prefixes"][level]:
                for form in entry["forms"]:
                    utype, written = clean_text(entry["type"]), clean_text(form)
                    rules.append(PrefixRule(level, utype, tuple(fold_ascii(written).split()),
                                            diacritic_key(written.split())))
    except (KeyError, TypeError) as exc:
        raise RulesError(f"{path}: 'prefixes' must map province/district/ward to lists of "
                         f"{{type, forms}} ({exc})") from None
    rules.sort(key=lambda r: -len(r.tokens))
    abbrevs = frozenset(t for r in rules for t in r.tokens if len(t) <= 2)
    return rules, abbrevs


def _factors(cfg: dict, path: Path) -> dict[str, float]:
    need = ("no_diacritics", "diacritics_differ", "no_prefix", "type_mismatch", "alias", "missing_district",
            "wrong_district", "other_regime_province", "national_district", "national_ward", "fuzzy",
            "ambiguous_regime", "both_margin")
    conf = cfg.get("confidence") or {}
    out = {}
    for k in need:
        v = conf.get(k)
        if not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise RulesError(f"{path}: confidence.{k} must be a number in (0, 1], got {v!r}")
        out[k] = float(v)
    return out


def _build_provinces(ix: PlaceIndex, rules: Path | None) -> dict[str, dict[str, str]]:
    pre = read_ref_csv(ADMIN + "provinces_pre2025.csv", rules,
                       ("province_code", "province_name", "province_type", "new_province_code_2025"))
    new = read_ref_csv(ADMIN + "provinces_2025.csv", rules, ("province_code", "province_name", "merged_from_codes"))
    names: dict[str, dict[str, str]] = {"pre2025": {}, "2025": {}}
    for r in pre.itertuples(index=False):
        t, toks = split_type(r.province_name, r.province_type)
        unit = Unit(r.province_code, diacritic_key(toks), t, False)
        _add(ix.prov_pre, ascii_key(toks), unit)
        ix.prov_pre_succ[r.province_code] = r.new_province_code_2025
        names["pre2025"][clean_text(r.province_name)] = r.province_code
    for r in new.itertuples(index=False):
        t = "tỉnh" if clean_text(r.province_name).startswith("tỉnh ") else "thành phố"
        _, toks = split_type(r.province_name, t)
        _add(ix.prov_new, ascii_key(toks), Unit(r.province_code, diacritic_key(toks), t, False))
        ix.prov_new_pred[r.province_code] = tuple(r.merged_from_codes.split("|"))
        names["2025"][clean_text(r.province_name)] = r.province_code
    return names


def _build_districts(ix: PlaceIndex, rules: Path | None) -> dict[tuple[str, str], str]:
    d = read_ref_csv(ADMIN + "districts_pre2025.csv", rules,
                     ("district_code", "district_name", "district_type", "province_code"))
    by_name: dict[tuple[str, str], str] = {}
    for r in d.itertuples(index=False):
        t, toks = split_type(r.district_name, r.district_type)
        unit = Unit(r.district_code, diacritic_key(toks), t, False)
        key = ascii_key(toks)
        _add(ix.dist_in_prov, (r.province_code, key), unit)
        _add(ix.dist_nat, key, unit)
        ix.dist_prov[r.district_code] = r.province_code
        by_name[(r.province_code, clean_text(r.district_name))] = r.district_code
    return by_name


def _build_wards(ix: PlaceIndex, rules: Path | None) -> None:
    w = read_ref_csv(ADMIN + "wards_pre2025.csv", rules,
                     ("ward_code", "ward_name", "ward_type", "district_code", "province_code"))
    for r in w.itertuples(index=False):
        t, toks = split_type(r.ward_name, r.ward_type)
        unit = Unit(r.ward_code, diacritic_key(toks), t, False)
        key = ascii_key(toks)
        _add(ix.ward_in_dist, (r.district_code, key), unit)
        _add(ix.ward_in_prov, (r.province_code, key), unit)
        _add(ix.ward_nat, key, unit)
        ix.ward_parent[r.ward_code] = (r.district_code, r.province_code)
    w2 = read_ref_csv(ADMIN + "wards_2025.csv", rules, ("ward_code", "ward_name", "ward_type", "province_code"))
    for r in w2.itertuples(index=False):
        t, toks = split_type(r.ward_name, r.ward_type)
        unit = Unit(r.ward_code, diacritic_key(toks), t, False)
        key = ascii_key(toks)
        _add(ix.new_in_prov, (r.province_code, key), unit)
        _add(ix.new_nat, key, unit)
        ix.new_prov[r.ward_code] = r.province_code


def _build_mapping(ix: PlaceIndex, rules: Path | None) -> None:
    m = read_ref_csv(ADMIN + "mapping_wards_pre2025_to_2025.csv", rules,
                     ("old_ward_code", "old_district_code", "old_province_code", "new_ward_code",
                      "new_province_code"))
    succ: dict[str, set[str]] = {}
    succ_prov: dict[str, set[str]] = {}
    pred: dict[str, set[str]] = {}
    pred_provs: dict[str, set[str]] = {}
    pred_dists: dict[str, set[str]] = {}
    for r in m.itertuples(index=False):
        succ.setdefault(r.old_ward_code, set()).add(r.new_ward_code)
        succ_prov.setdefault(r.old_ward_code, set()).add(r.new_province_code)
        pred.setdefault(r.new_ward_code, set()).add(r.old_ward_code)
        pred_provs.setdefault(r.new_ward_code, set()).add(r.old_province_code)
        pred_dists.setdefault(r.new_ward_code, set()).add(r.old_district_code)
    for old, news in succ.items():
        provs = succ_prov[old]
        ix.ward_succ[old] = ("|".join(sorted(news)), next(iter(provs)) if len(provs) == 1 else None)
    for new, olds in pred.items():
        ix.new_pred_provs[new] = frozenset(pred_provs[new])
        ix.new_pred_dists[new] = frozenset(pred_dists[new])
        if len(olds) == 1:
            (old,) = olds
            if len(succ.get(old, ())) == 1 and old in ix.ward_parent:
                ix.new_identity[new] = old  # same territory: one old ward became exactly this ward


def _build_aliases(ix: PlaceIndex, rules: Path | None, prov_names: dict[str, dict[str, str]],
                   dist_names: dict[tuple[str, str], str]) -> list[str]:
    path = rules_dir(rules) / ALIASES_CSV
    a = read_ref_csv(ALIASES_CSV, rules, ("level", "alias", "province", "district", "regime"))
    alias_names = []
    for i, r in enumerate(a.itertuples(index=False), start=2):
        where = f"{path}, row {i}"
        toks = clean_text(r.alias).split()
        key, dkey = ascii_key(toks), diacritic_key(toks)
        if not key:
            raise RulesError(f"{where}, column alias: empty alias")
        regime = r.regime.strip()
        if regime not in ("", "pre2025", "2025"):
            raise RulesError(f"{where}, column regime: expected pre2025, 2025 or empty, got {r.regime!r}")
        prov = clean_text(r.province)
        pre_code, new_code = prov_names["pre2025"].get(prov), prov_names["2025"].get(prov)
        if pre_code is None and new_code is None:
            raise RulesError(f"{where}, column province: {r.province!r} is not an official province name")
        if r.level == "province":
            if pre_code and regime != "2025":
                _add(ix.prov_pre, key, Unit(pre_code, dkey, "", True))
            if new_code and regime != "pre2025":
                _add(ix.prov_new, key, Unit(new_code, dkey, "", True))
        elif r.level == "district":
            dist = dist_names.get((pre_code or "", clean_text(r.district)))
            if dist is None:
                raise RulesError(f"{where}, column district: {r.district!r} is not a district of {r.province!r}")
            t = clean_text(r.alias).split()[0] if clean_text(r.alias).split()[0] in ("quận", "huyện") else ""
            name_toks = toks[1:] if t else toks
            unit = Unit(dist, diacritic_key(name_toks), t, True)
            for k in {key, ascii_key(name_toks)}:
                _add(ix.dist_in_prov, (pre_code, k), unit)
                _add(ix.dist_nat, k, unit)
        else:
            raise RulesError(f"{where}, column level: expected province or district, got {r.level!r}")
        alias_names.append(r.alias)
    return alias_names


def _build(rules: Path | None) -> PlaceIndex:
    path = rules_dir(rules) / RULES_YAML
    cfg = load_yaml(RULES_YAML, rules)
    prefixes, abbrevs = _load_prefixes(cfg, path)
    fz = cfg.get("fuzzy") or {}
    try:
        cutoff, pcutoff, minlen = float(fz["cutoff"]), float(fz["province_cutoff"]), int(fz["min_key_length"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RulesError(f"{path}: fuzzy needs numeric cutoff, province_cutoff, min_key_length ({exc})") from None
    ix = PlaceIndex(
        prefixes=prefixes,
        abbreviations=abbrevs,
        noise_prefixes=frozenset(tuple(fold_ascii(clean_text(p)).split()) for p in cfg.get("noise_prefixes", [])),
        noise_lengths=tuple(sorted({len(fold_ascii(clean_text(p)).split()) for p in cfg.get("noise_prefixes", [])})),
        noise_first=frozenset(fold_ascii(clean_text(p)).split()[0] for p in cfg.get("noise_prefixes", [])),
        ignore_keys=frozenset(ascii_key(clean_text(s).split()) for s in cfg.get("ignore_components", [])),
        factors=_factors(cfg, path),
        fuzzy_cutoff=cutoff,
        fuzzy_province_cutoff=pcutoff,
        fuzzy_min_len=minlen,
    )
    for r in prefixes:
        ix.prefix_by_tokens.setdefault(r.tokens, []).append(r)
    ix.prefix_lengths = tuple(sorted({len(t) for t in ix.prefix_by_tokens}, reverse=True))
    prov_names = _build_provinces(ix, rules)
    dist_names = _build_districts(ix, rules)
    _build_wards(ix, rules)
    _build_mapping(ix, rules)
    alias_names = _build_aliases(ix, rules, prov_names, dist_names)
    hyphenated = [n for n in _all_names(rules) + alias_names if "-" in n]
    ix.hyphen_keys = frozenset(ascii_key(clean_text(n).split()) for n in hyphenated) | frozenset(
        ascii_key(split_name_tokens(clean_text(n))) for n in hyphenated)
    ix.fz_ward_in_dist = _fuzzy_lists(ix.ward_in_dist)
    ix.fz_ward_in_prov = _fuzzy_lists(ix.ward_in_prov)
    ix.fz_dist_in_prov = _fuzzy_lists(ix.dist_in_prov)
    ix.fz_new_in_prov = _fuzzy_lists(ix.new_in_prov)
    pkeys = sorted(set(ix.prov_pre) | set(ix.prov_new))
    ix.fz_prov = (pkeys, [(ix.prov_pre.get(k, []), ix.prov_new.get(k, [])) for k in pkeys])
    return ix


def split_name_tokens(name: str) -> list[str]:
    """Tokens of an official name without its type word(s), for hyphen keys."""
    for t in ("tỉnh", "thành phố", "quận", "huyện", "thị xã", "phường", "xã", "thị trấn", "đặc khu"):
        if name.startswith(t + " "):
            return name[len(t) + 1:].split()
    return name.split()


def _all_names(rules: Path | None) -> list[str]:
    out: list[str] = []
    for f, col in (("provinces_pre2025.csv", "province_name"), ("districts_pre2025.csv", "district_name"),
                   ("wards_pre2025.csv", "ward_name"), ("wards_2025.csv", "ward_name")):
        out.extend(read_ref_csv(ADMIN + f, rules, (col,))[col].tolist())
    return out


@lru_cache(maxsize=4)
def _cached(path: str) -> PlaceIndex:
    return _build(Path(path))


def load_index(rules: str | Path | None = None) -> PlaceIndex:
    """The index for a rules directory (built once per process and directory)."""
    return _cached(str(rules_dir(rules).resolve()))
