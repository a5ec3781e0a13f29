"""`rules/relatives.yaml`, validated once: thresholds, year gaps and each relation's levels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir

RELATIVES_FILE = "relatives.yaml"
RELATIONS = ("father", "mother", "sibling", "child")
# Levels each comparison must define, per relation (the code computes exactly these).
LEVELS = {
    "name": ("exact", "near"),
    "age": ("typical", "wide", "unknown"),
    "hometown": ("same_ward", "same_province_only", "same_province", "differ", "unknown"),
    "address": ("same_ward", "same_province", "differ", "unknown"),
    # where a parent candidate lives against the wanted person's addresses, down to the house
    "household": ("same_house", "same_ward", "same_province", "differ", "unknown"),
    "mother": ("exact", "near", "differ", "unknown"),
    "father": ("exact", "near", "differ", "unknown"),
    "family_name": ("equal", "differ", "unknown"),
    # the candidate's partner bears the wanted record's other parent's name: a register person so
    # named, or a child of the candidate's whose other parent is so named, at the candidate's house
    # address or in their commune (one fact, counted once); in_wanted_commune: in their commune, which
    # is the wanted person's too (the wanted person's family explains it: m and u among such pairs);
    # sibling_ward: a probable sibling of the wanted person lives in the candidate's commune, which is
    # none of the wanted person's (m and u among such pairs)
    "spouse": ("same_house", "same_ward", "in_wanted_commune", "sibling_ward", "none", "unknown"),
}
COMPARISONS = {
    "father": ("name", "age", "hometown", "household", "spouse"),
    "mother": ("name", "age", "hometown", "household", "spouse"),
    "sibling": ("mother", "father", "family_name", "age", "hometown", "address"),
    "child": ("name", "age", "family_name", "hometown", "address"),
}
def level_names(relation: str, comparison: str) -> tuple[str, ...]:
    """The levels of one comparison of one relation."""
    if relation == "sibling" and comparison == "age":
        return ("near", "far", "unknown")
    if relation == "child" and comparison == "name":
        return ("exact", "near", "alias")
    if relation in ("father", "mother") and comparison == "hometown":
        # birth_commune: the hometowns agree only to the province (or one is unknown), but the
        # candidate was born in the wanted person's hometown or birth commune
        return LEVELS["hometown"] + ("birth_commune",)
    return LEVELS[comparison]


# Levels whose u is the term frequency of the name (no u in the rules).
TF_LEVELS = {"exact", "near", "alias"}
TF_COMPARISONS = {"name", "mother", "father"}
# Levels whose u is computed per pair from the register in use (no u in the rules): shares of the
# register living at the candidate's house or commune (candidates._spouse, candidates.parents).
RUNTIME_U = {("household", "same_house"), ("spouse", "same_house"), ("spouse", "same_ward"), ("spouse", "none")}


def is_tf(comparison: str, level: str) -> bool:
    """Whether a level's u is computed per pair at run time (name term frequencies, household)."""
    return (comparison in TF_COMPARISONS and level in TF_LEVELS) or (comparison, level) in RUNTIME_U


def u_column(comparison: str) -> str:
    """The pair column holding a run-time u."""
    return {"mother": "mother_u", "father": "father_u", "household": "house_u"}.get(comparison, "name_u")


def u_column_of(comparison: str, level: str) -> str:
    """The pair column holding a level's run-time u."""
    if comparison == "spouse":
        return f"spouse_{level.split('_')[-1]}_u"  # spouse_house_u, spouse_ward_u, spouse_none_u
    return "house_u" if (comparison, level) == ("household", "same_house") else u_column(comparison)


# Hometown levels at which the hometown agrees: where they hold, a place comparison's level takes its
# `u_home` (u among the pairs whose hometown agrees) when the rules give one. People live near their
# quê quán, so a namesake from the wanted person's home province mostly lives in that province too:
# u of "lives in the same province" is 0.41 among them, 0.07 over all pairs (docs/relatives.md).
HOME_AGREES = ("same_ward", "same_province_only", "same_province", "birth_commune")


@dataclass(frozen=True)
class Relation:
    name: str
    expected: float
    m: dict[str, dict[str, float]]  # comparison -> level -> m
    u: dict[str, dict[str, float]]  # comparison -> level -> u (absent for TF levels)
    u_home: dict[str, dict[str, float]] = field(default_factory=dict)  # comparison -> level -> u where the hometown agrees
    calibration: dict[str, float | str] = field(default_factory=dict)  # a Platt map of the probability (linkage.calibrate)

    def weight(self, comparison: str, level: str, home: bool = False) -> float:
        """log2(m/u) of a fixed-u level (home: the pair's hometown agrees, u_home if given)."""
        u = self.u_home.get(comparison, {}).get(level) if home else None
        return math.log2(self.m[comparison][level] / (u or self.u[comparison][level]))


@dataclass(frozen=True)
class RelativesRules:
    threshold: float
    keep_floor: float
    identity_threshold: float
    years: dict[str, object]
    relations: dict[str, Relation]
    sibling_min: float = 0.8  # a sibling this probable lends its places and birth year to the parents' evidence


def _prob(path: Path, where: str, v: object) -> float:
    if not isinstance(v, (int, float)) or not 0.0 < float(v) <= 1.0:
        raise RulesError(f"{path}: {where} must be a probability in (0, 1], got {v!r}")
    return float(v)


def _calibration(path: Path, rel: str, spec: object) -> dict[str, float | str]:
    """A relation's optional Platt map {method: platt, a, b}; a > 0 keeps the ranks."""
    if spec is None:
        return {}
    where = f"{path}: relations.{rel}.calibration"
    if not isinstance(spec, dict) or spec.get("method") != "platt":
        raise RulesError(f"{where} must be {{method: platt, a: ..., b: ...}}, got {spec!r}")
    a, b = spec.get("a"), spec.get("b")
    if not isinstance(a, (int, float)) or a <= 0 or not isinstance(b, (int, float)):
        raise RulesError(f"{where} needs a > 0 and a number b, got a={a!r}, b={b!r}")
    return {"method": "platt", "a": float(a), "b": float(b)}


def load_relatives_rules(rules: str | Path | None = None) -> RelativesRules:
    """The validated rules; an error names the file and the key."""
    path = rules_dir(rules) / RELATIVES_FILE
    data = load_yaml(RELATIVES_FILE, rules)
    rels = data.get("relations")
    if not isinstance(rels, dict):
        raise RulesError(f"{path}: 'relations' must map each of {', '.join(RELATIONS)} to its model")
    out: dict[str, Relation] = {}
    for rel in RELATIONS:
        spec = rels.get(rel)
        if not isinstance(spec, dict) or not isinstance(spec.get("comparisons"), dict):
            raise RulesError(f"{path}: relations.{rel} needs 'expected' and 'comparisons'")
        expected = spec.get("expected")
        if not isinstance(expected, (int, float)) or expected <= 0:
            raise RulesError(f"{path}: relations.{rel}.expected must be a positive number, got {expected!r}")
        m: dict[str, dict[str, float]] = {}
        u: dict[str, dict[str, float]] = {}
        u_home: dict[str, dict[str, float]] = {}
        for comp in COMPARISONS[rel]:
            levels = spec["comparisons"].get(comp)
            if not isinstance(levels, dict):
                raise RulesError(f"{path}: relations.{rel}.comparisons.{comp} is missing")
            need = level_names(rel, comp)
            for lv in need:
                where = f"relations.{rel}.comparisons.{comp}.{lv}"
                got = levels.get(lv)
                if not isinstance(got, dict) or "m" not in got:
                    raise RulesError(f"{path}: {where} needs m" + ("" if is_tf(comp, lv) else " and u"))
                m.setdefault(comp, {})[lv] = _prob(path, f"{where}.m", got["m"])
                if not is_tf(comp, lv):
                    if "u" not in got:
                        raise RulesError(f"{path}: {where} needs u")
                    u.setdefault(comp, {})[lv] = _prob(path, f"{where}.u", got["u"])
                    if "u_home" in got:
                        if comp == "hometown":
                            raise RulesError(f"{path}: {where}.u_home: the hometown cannot be conditioned on itself")
                        u_home.setdefault(comp, {})[lv] = _prob(path, f"{where}.u_home", got["u_home"])
        out[rel] = Relation(rel, float(expected), m, u, u_home, _calibration(path, rel, spec.get("calibration")))
    t = data.get("threshold")
    floor = data.get("keep_floor")
    ident = data.get("identity_threshold")
    for key, v in (("threshold", t), ("keep_floor", floor), ("identity_threshold", ident)):
        if not isinstance(v, (int, float)) or not 0.0 < float(v) < 1.0:
            raise RulesError(f"{path}: {key} must lie strictly between 0 and 1, got {v!r}")
    years = data.get("years")
    need = ("parent", "parent_at_eldest", "child", "child_typical", "sibling_max", "sibling_near")
    if not isinstance(years, dict) or any(k not in years for k in need):
        raise RulesError(f"{path}: 'years' needs {', '.join(need)}")
    at = years["parent_at_eldest"]
    if not isinstance(at, dict) or any(not isinstance(at.get(k), list) or len(at[k]) != 2 for k in ("father", "mother")):
        raise RulesError(f"{path}: years.parent_at_eldest needs father: [from, to] and mother: [from, to]")
    smin = data.get("sibling_min")
    if not isinstance(smin, (int, float)) or not 0.0 < float(smin) <= 1.0:
        raise RulesError(f"{path}: sibling_min must be a probability in (0, 1], got {smin!r}")
    return RelativesRules(float(t), float(floor), float(ident), years, out, float(smin))
