"""`rules/dedupe.yaml`, validated once: what differs when the wanted list is linked to itself."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir
from linkage.model import Model
from linkage.settings import BlockingRule, Settings

DEDUPE_FILE = "dedupe.yaml"


@dataclass(frozen=True)
class ExtraLevel:
    id: str
    m: float
    u: float
    text: str

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class ExtraComparison:
    """A field only wanted records carry, compared exact (after trim / lower case / spaces)."""

    name: str
    column: str
    exact: ExtraLevel
    other: ExtraLevel


@dataclass(frozen=True)
class Condition:
    """Single-level evidence: log2(m/u) where `when` (SQL over l / r, the engine's prepared
    columns of the two records) is true, 0 otherwise."""

    name: str
    when: str
    m: float
    u: float
    text: str
    absorbs: tuple[str, ...] = ()  # engine comparisons whose positive weights it takes back where true

    @property
    def weight(self) -> float:
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class CannotLink:
    """Evidence of two people that no sum of agreements outweighs (two personal ID numbers, two
    genders, two full birth dates years apart): where `when` is true and `unless` is not, the pair
    is never a link and its two records never share a cluster. SQL over l / r, as `conditions`."""

    name: str
    when: str
    unless: str | None
    text: str


@dataclass(frozen=True)
class Clustering:
    cannot_link_weight: float
    average_link_weight: float
    unblocked_weight: float


@dataclass(frozen=True)
class DedupeRules:
    path: Path
    duplicate_share: float
    threshold: float
    floor_weight: float
    comparisons: tuple[ExtraComparison, ...]
    decision_column: str
    decision_text: str
    decision_within: str | None
    clustering: Clustering
    extra_blocking: tuple[BlockingRule, ...] = ()
    u_from_wanted: bool = True
    conditions: tuple[Condition, ...] = ()
    u_min_records: int = 1000
    level_m: tuple[tuple[str, str, float], ...] = ()  # (comparison, level, m) for wanted-vs-wanted
    count_once: tuple[tuple[str, ...], ...] = ()
    # (comparison, ((other, other's levels), ...)): null where every other is at one of its levels
    null_when: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()
    absorb_at: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (interaction comparison, its levels)
    cannot_link: tuple[CannotLink, ...] = ()
    lang: str = "vi"  # the language of the phrases above and of the engine's explanation

    def prior(self, n_records: int) -> float:
        """P(a random pair of records is one person): share * n duplicate pairs among n(n-1)/2."""
        pairs = max(n_records * (n_records - 1) / 2, 1.0)
        return float(min(max(self.duplicate_share * n_records / pairs, 1e-15), 0.5))


def _num(d: dict[str, Any], key: str, where: str, path: Path, lo: float | None = None, hi: float | None = None) -> float:
    if key not in d:
        raise RulesError(f"{path}: {where}: missing key '{key}'")
    try:
        v = float(d[key])
    except (TypeError, ValueError):
        raise RulesError(f"{path}: {where}.{key}: expected a number, got {d[key]!r}") from None
    if (lo is not None and v <= lo) or (hi is not None and v > hi):
        raise RulesError(f"{path}: {where}.{key}: {v} outside ({lo}, {hi}]")
    return v


def _comparison(raw: dict[str, Any], i: int, path: Path, phrases: dict[str, str] | None = None) -> ExtraComparison:
    where = f"comparisons[{i}]"
    if not isinstance(raw, dict) or "name" not in raw or "column" not in raw:
        raise RulesError(f"{path}: {where}: needs 'name' and 'column'")
    levels = raw.get("levels") or []
    ids = [lv.get("id") for lv in levels if isinstance(lv, dict)]
    if ids != ["exact", "else"]:
        raise RulesError(f"{path}: {where}.levels: expected the two levels 'exact' and 'else', got {ids}")
    built = [
        ExtraLevel(str(lv["id"]), _num(lv, "m", f"{where}.levels[{k}]", path, 0, 1),
                   _num(lv, "u", f"{where}.levels[{k}]", path, 0, 1),
                   _text(lv, f"{raw['name']}.{lv['id']}", phrases or {}, str(lv["id"])))
        for k, lv in enumerate(levels)
    ]
    return ExtraComparison(str(raw["name"]), str(raw["column"]), built[0], built[1])


def _phrases(rules: str | Path | None, lang: str) -> dict[str, str]:
    """The dedupe phrases in the reviewer's language (rules/strings/dedupe.<lang>.yaml, keys
    dedupe.explain.*), or none for a rules pack without a catalogue (its own `text` stands)."""
    from linkage.reports.strings import pack_catalogue  # reports import the engine: import late

    cat = pack_catalogue(rules, lang)
    return {k.removeprefix("dedupe.explain."): v for k, v in cat.items() if k.startswith("dedupe.explain.")}


def _text(raw: dict[str, Any], key: str, phrases: dict[str, str], default: str) -> str:
    return phrases.get(key, str(raw.get("text", default)))


def load_dedupe_rules(rules: str | Path | None = None, lang: str = "vi") -> DedupeRules:
    """`lang`: the language of the phrases the explanations use."""
    path = rules_dir(rules) / DEDUPE_FILE
    raw = load_yaml(DEDUPE_FILE, rules)
    phrases = _phrases(rules, lang)
    comps = tuple(_comparison(c, i, path, phrases) for i, c in enumerate(raw.get("comparisons") or []))
    names = [c.name for c in comps]
    if len(set(names)) != len(names):
        raise RulesError(f"{path}: comparisons: names must be unique")
    dec = raw.get("decision_number") or {}
    cl = raw.get("clustering") or {}
    blocking = []
    for i, r in enumerate(raw.get("extra_blocking") or []):
        where = f"extra_blocking[{i}]"
        if not isinstance(r, dict) or not all(k in r for k in ("name", "left", "right")):
            raise RulesError(f"{path}: {where}: needs 'name', 'left' and 'right'")
        blocking.append(BlockingRule(name=str(r["name"]), left=str(r["left"]), right=str(r["right"]),
                                     filter=r.get("filter"), description=str(r.get("description", "")),
                                     year_window=None if r.get("year_window") is None else int(r["year_window"])))
    level_m = []
    for key, value in (raw.get("level_m") or {}).items():
        comp, _, level = str(key).partition(".")
        if not level:
            raise RulesError(f"{path}: level_m.{key}: expected '<comparison>.<level>'")
        level_m.append((comp, level, _num({"m": value}, "m", f"level_m.{key}", path, 0, 1)))
    count_once = []
    for i, group in enumerate(raw.get("count_once") or []):
        if not isinstance(group, list) or len(group) < 2:
            raise RulesError(f"{path}: count_once[{i}]: expected a list of two or more comparison names")
        count_once.append(tuple(str(g) for g in group))
    null_when = []
    for i, r in enumerate(raw.get("null_when") or []):
        if not isinstance(r, dict) or "comparison" not in r or not isinstance(r.get("when"), dict) or not r["when"]:
            raise RulesError(f"{path}: null_when[{i}]: needs 'comparison' and 'when' (comparison: [levels])")
        when = tuple((str(k), tuple(str(x) for x in (v or []))) for k, v in r["when"].items())
        null_when.append((str(r["comparison"]), when))
    absorb_at = []
    for comp, levels in (raw.get("absorb_at") or {}).items():
        if not isinstance(levels, list):
            raise RulesError(f"{path}: absorb_at.{comp}: expected a list of level ids")
        absorb_at.append((str(comp), tuple(str(x) for x in levels)))
    conditions = []
    for i, c in enumerate(raw.get("conditions") or []):
        where = f"conditions[{i}]"
        if not isinstance(c, dict) or not all(k in c for k in ("name", "when", "m", "u")):
            raise RulesError(f"{path}: {where}: needs 'name', 'when', 'm' and 'u'")
        conditions.append(Condition(str(c["name"]), str(c["when"]), _num(c, "m", where, path, 0, 1),
                                    _num(c, "u", where, path, 0, 1), _text(c, str(c["name"]), phrases, str(c["name"])),
                                    tuple(str(a) for a in c.get("absorbs") or [])))
    cannot = []
    for i, c in enumerate(raw.get("cannot_link") or []):
        where = f"cannot_link[{i}]"
        if not isinstance(c, dict) or not all(k in c for k in ("name", "when")):
            raise RulesError(f"{path}: {where}: needs 'name' and 'when'")
        unless = c.get("unless")
        cannot.append(CannotLink(str(c["name"]), str(c["when"]), None if unless in (None, "") else str(unless),
                                 _text(c, str(c["name"]), phrases, str(c["name"]))))
    names_all = names + [c.name for c in conditions] + [c.name for c in cannot]
    if len(set(names_all)) != len(names_all):
        raise RulesError(f"{path}: comparisons, conditions and cannot_link: names must be unique")
    return DedupeRules(
        path=path,
        duplicate_share=_num(raw, "expected_duplicate_share", "top level", path, 0, 1),
        threshold=_num(raw, "threshold", "top level", path, 0, 1),
        floor_weight=_num(raw, "floor_weight", "top level", path),
        comparisons=comps,
        decision_column=str(dec.get("column", "decision_number")),
        decision_text=_text(dec, "decision_number", phrases, "same decision number {l}: a data error"),
        decision_within=None if dec.get("within") in (None, "") else str(dec["within"]),
        clustering=Clustering(
            cannot_link_weight=_num(cl, "cannot_link_weight", "clustering", path),
            average_link_weight=_num(cl, "average_link_weight", "clustering", path),
            unblocked_weight=_num(cl, "unblocked_weight", "clustering", path),
        ),
        extra_blocking=tuple(blocking),
        u_from_wanted=bool(raw.get("u_from_wanted", True)),
        conditions=tuple(conditions),
        u_min_records=int(_num(raw, "u_min_records", "top level", path, 0)) if "u_min_records" in raw else 1000,
        level_m=tuple(level_m),
        count_once=tuple(count_once),
        null_when=tuple(null_when),
        absorb_at=tuple(absorb_at),
        cannot_link=tuple(cannot),
        lang=lang,
    )


def self_settings(settings: Settings, drules: DedupeRules) -> Settings:
    """The engine's settings with the dedupe blocking rules added (names must not clash)."""
    names = {r.name for r in settings.blocking}
    clash = [r.name for r in drules.extra_blocking if r.name in names]
    if clash:
        raise RulesError(f"{drules.path}: extra_blocking: name(s) {clash} already used in {settings.path}")
    return replace(settings, blocking=settings.blocking + drules.extra_blocking)


def self_model(model: Model, drules: DedupeRules) -> Model:
    """A copy of the model with the wanted-vs-wanted m of rules/dedupe.yaml level_m."""
    out = copy.deepcopy(model)
    for comp, level, m in drules.level_m:
        try:
            params = out.comparison(comp)
        except KeyError:
            raise RulesError(f"{drules.path}: level_m: unknown comparison '{comp}'") from None
        found = [lv for lv in params.levels if lv.id == level]
        if not found:
            raise RulesError(f"{drules.path}: level_m: comparison '{comp}' has no level '{level}'")
        found[0].m = m
        found[0].m_source = "rules/dedupe.yaml level_m"
    for comp, levels in drules.absorb_at:
        try:
            params = out.comparison(comp)
        except KeyError:
            raise RulesError(f"{drules.path}: absorb_at: unknown comparison '{comp}'") from None
        ids = [lv.id for lv in params.levels]
        bad = [lv for lv in levels if lv not in ids]
        if not params.absorbs or bad:
            raise RulesError(f"{drules.path}: absorb_at.{comp}: not an interaction comparison, or unknown level(s) {bad}")
        params.absorb_at = list(levels)
    return out


def check_against(drules: DedupeRules, settings: Settings) -> None:
    """Every comparison and level the dedupe rules name exists in rules/matching.yaml."""
    known = {c.name: c.level_ids() for c in settings.comparisons}
    for group in drules.count_once:
        bad = [g for g in group if g not in known]
        if bad:
            raise RulesError(f"{drules.path}: count_once: unknown comparison(s) {bad}")
    for c in drules.conditions:
        bad = [a for a in c.absorbs if a not in known]
        if bad:
            raise RulesError(f"{drules.path}: conditions.{c.name}.absorbs: unknown comparison(s) {bad}")
    for comp, when in drules.null_when:
        for name in [comp] + [o for o, _ in when]:
            if name not in known:
                raise RulesError(f"{drules.path}: null_when: unknown comparison '{name}'")
        for other, levels in when:
            bad = [lv for lv in levels if lv not in known[other] and lv != "null"]
            if bad:
                raise RulesError(f"{drules.path}: null_when: comparison '{other}' has no level(s) {bad}")
