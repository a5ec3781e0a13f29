"""`rules/matching.yaml`, validated into typed settings once, so a typo stops the run up front
with the file and key named, rather than deep inside a stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir

MATCHING_FILE = "matching.yaml"


@dataclass(frozen=True)
class Level:
    id: str
    m: float
    u: float
    text: str


@dataclass(frozen=True)
class Comparison:
    name: str
    kind: str
    levels: tuple[Level, ...]
    params: dict[str, Any] = field(default_factory=dict)
    # Term-frequency adjustment: level id -> the prepared column whose value frequency (among
    # register persons) replaces u at that level.
    tf: dict[str, str] = field(default_factory=dict)

    def level_ids(self) -> list[str]:
        return [lv.id for lv in self.levels]


@dataclass(frozen=True)
class BlockingRule:
    name: str
    left: str
    right: str
    filter: str | None = None
    description: str = ""
    year_window: int | None = None  # birth years within this many years, applied inside the key


@dataclass(frozen=True)
class Session:
    rule: str
    fixed: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    path: Path
    engine: dict[str, Any]
    pair_budget: int
    hot_keys: int
    blocking: tuple[BlockingRule, ...]
    comparisons: tuple[Comparison, ...]
    model: dict[str, Any]
    sessions: tuple[Session, ...]
    threshold: float
    floor_weight: float
    top_k: int
    floor_probability: float = 0.0
    flags: dict[str, Any] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def memory_limit(self) -> str:
        """DuckDB's memory limit for a job's connection (engine.memory_limit)."""
        return str(self.engine.get("memory_limit", "4GB"))

    def comparison(self, name: str) -> Comparison:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)


def _need(d: dict[str, Any], key: str, where: str, path: Path) -> Any:
    if key not in d:
        raise RulesError(f"{path}: {where}: missing key '{key}'")
    return d[key]


def _probability(value: Any, where: str, path: Path) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise RulesError(f"{path}: {where}: expected a number, got {value!r}") from None
    if not 0.0 < p < 1.0 + 1e-12:
        raise RulesError(f"{path}: {where}: probability {p} outside (0, 1]")
    return p


def _comparison(raw: dict[str, Any], path: Path) -> Comparison:
    name = _need(raw, "name", "comparison", path)
    where = f"comparisons.{name}"
    kind = _need(raw, "kind", where, path)
    levels = []
    for i, lv in enumerate(_need(raw, "levels", where, path)):
        lw = f"{where}.levels[{i}]"
        levels.append(
            Level(
                id=str(_need(lv, "id", lw, path)),
                m=_probability(_need(lv, "m", lw, path), f"{lw}.m", path),
                u=_probability(_need(lv, "u", lw, path), f"{lw}.u", path),
                text=str(lv.get("text", lv["id"])),
            )
        )
    if len(levels) < 2:
        raise RulesError(f"{path}: {where}: needs at least two levels")
    params = {k: v for k, v in raw.items() if k not in {"name", "kind", "levels", "tf"}}
    tf = raw.get("tf") or {}
    if not isinstance(tf, dict) or not all(isinstance(v, str) for v in tf.values()):
        raise RulesError(f"{path}: {where}.tf: expected a mapping of level id to column name")
    unknown = set(tf) - {lv.id for lv in levels}
    if unknown:
        raise RulesError(f"{path}: {where}.tf: unknown level(s) {sorted(unknown)}")
    return Comparison(name=name, kind=kind, levels=tuple(levels), params=params, tf=dict(tf))


_PAIRS = ("namesakes", "random", "shared")  # shared: register pairs sharing `key` (SQL over the prepared columns)


def _check_conditional_u(spec: Any, comparisons: tuple[Comparison, ...], path: Path) -> None:
    """model.conditional_u: each condition names a comparison, its levels and the comparisons
    to condition: a typo would silently leave the independence assumption in force."""
    if spec is None:
        return
    if not isinstance(spec, list):
        raise RulesError(f"{path}: model.conditional_u: must be a list of conditions (name, given, levels, comparisons, pairs)")
    by_name = {c.name: c for c in comparisons}
    seen: set[str] = set()
    for i, cond in enumerate(spec):
        where = f"{path}: model.conditional_u[{i}]"
        if not isinstance(cond, dict):
            raise RulesError(f"{where}: must be a mapping (name, given, levels, comparisons, pairs)")
        name = cond.get("name")
        if not name or name in seen:
            raise RulesError(f"{where}.name: missing or used twice ({name!r})")
        seen.add(name)
        given = cond.get("given")
        if given not in by_name:
            raise RulesError(f"{where}.given: unknown comparison {given!r} (known: {', '.join(by_name)})")
        bad = [lv for lv in cond.get("levels") or [] if lv not in by_name[given].level_ids()]
        if bad or not cond.get("levels"):
            raise RulesError(f"{where}.levels: {bad or 'none given'} (levels of {given}: {', '.join(by_name[given].level_ids())})")
        unknown = [c for c in cond.get("comparisons") or [] if c not in by_name or c == given]
        if unknown or not cond.get("comparisons"):
            raise RulesError(f"{where}.comparisons: unknown or missing {unknown} (known: {', '.join(by_name)})")
        if cond.get("pairs") not in _PAIRS:
            raise RulesError(f"{where}.pairs: {cond.get('pairs')!r} (one of: {', '.join(_PAIRS)})")
        if cond.get("pairs") == "shared" and not (isinstance(cond.get("key"), str) and cond["key"].strip()):
            raise RulesError(f"{where}.key: pairs: shared needs the key the register pairs share (SQL over the prepared columns)")


def load_settings(rules: str | Path | None = None) -> Settings:
    """Read and validate matching.yaml; comparison kinds and level ids are checked against the
    implementations in `linkage.comparisons`."""
    from linkage.comparisons import check_comparison

    path = rules_dir(rules) / MATCHING_FILE
    raw = load_yaml(MATCHING_FILE, rules)
    block = _need(raw, "blocking", "top level", path)
    rules_list = []
    for i, r in enumerate(_need(block, "rules", "blocking", path)):
        where = f"blocking.rules[{i}]"
        rules_list.append(
            BlockingRule(
                name=str(_need(r, "name", where, path)),
                left=str(_need(r, "left", where, path)),
                right=str(_need(r, "right", where, path)),
                filter=r.get("filter"),
                description=str(r.get("description", "")),
                year_window=None if r.get("year_window") is None else int(r["year_window"]),
            )
        )
    names = [r.name for r in rules_list]
    if len(set(names)) != len(names):
        raise RulesError(f"{path}: blocking rule names must be unique")
    comparisons = tuple(_comparison(c, path) for c in _need(raw, "comparisons", "top level", path))
    for c in comparisons:
        problem = check_comparison(c)
        if problem:
            raise RulesError(f"{path}: comparisons.{c.name}: {problem}")
    model = dict(raw.get("model", {}))
    comp_names = {c.name for c in comparisons}
    sessions = []
    for i, s in enumerate(model.get("sessions", [])):
        where = f"model.sessions[{i}]"
        rule = str(_need(s, "rule", where, path))
        if rule not in names:
            raise RulesError(f"{path}: {where}: unknown blocking rule '{rule}'")
        fixed = tuple(s.get("fixed", []))
        unknown = [f for f in fixed if f not in comp_names]
        if unknown:
            raise RulesError(f"{path}: {where}: unknown comparison(s) {unknown}")
        sessions.append(Session(rule=rule, fixed=fixed))
    _check_conditional_u(model.get("conditional_u"), comparisons, path)
    scoring = raw.get("scoring", {})
    return Settings(
        path=path,
        engine=dict(raw.get("engine", {})),
        pair_budget=int(block.get("pair_budget", 50_000_000)),
        hot_keys=int(block.get("hot_keys", 5)),
        blocking=tuple(rules_list),
        comparisons=comparisons,
        model=model,
        sessions=tuple(sessions),
        threshold=float(scoring.get("threshold", 0.5)),
        floor_weight=float(scoring.get("floor_weight", 0.0)),
        top_k=int(scoring.get("top_k", 10)),
        floor_probability=float(scoring.get("floor_probability", 0.0)),
        flags=_flags(raw.get("flags", {}), comparisons, path),
        explanation=dict(raw.get("explanation", {})),
    )


def _flags(raw: dict[str, Any], comparisons: tuple[Comparison, ...], path: Path) -> dict[str, Any]:
    by_name = {c.name: c for c in comparisons}
    for flag, spec in raw.items():
        comp = by_name.get(spec.get("comparison"))
        if comp is None:
            raise RulesError(f"{path}: flags.{flag}: unknown comparison {spec.get('comparison')!r}")
        unknown = set(spec.get("levels", [])) - set(comp.level_ids())
        if unknown:
            raise RulesError(f"{path}: flags.{flag}: level(s) {sorted(unknown)} not in {comp.name}")
        missing = set(spec.get("name_comparisons", [])) - set(by_name)
        if missing:
            raise RulesError(f"{path}: flags.{flag}: unknown comparison(s) {sorted(missing)}")
        _flag_keys(flag, spec, by_name, path)
    return dict(raw)


FLAG_KEYS = {"comparison", "levels", "name_comparisons", "or_levels", "judged_on", "unless_same_commune_2025",
             "unless_slip", "ward_known_for", "street_moves", "shows", "truth_scenarios"}


def _flag_keys(flag: str, spec: dict[str, Any], by_name: dict[str, Comparison], path: Path) -> None:
    """The keys of a flag (docs/matching.md "Current state"): a typo is an error, not a silent default."""
    where = f"{path}: flags.{flag}"
    unknown = set(spec) - FLAG_KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(FLAG_KEYS))})")
    if spec.get("judged_on", "current") != "current":
        raise RulesError(f"{where}.judged_on: only 'current' is known (omit the key to judge on all records)")
    for comp, levels in (spec.get("or_levels") or {}).items():
        if comp not in by_name:
            raise RulesError(f"{where}.or_levels: unknown comparison {comp!r}")
        bad = set(levels or []) - set(by_name[comp].level_ids())
        if bad:
            raise RulesError(f"{where}.or_levels.{comp}: level(s) {sorted(bad)} not in {comp}")
    for key in ("unless_same_commune_2025", "street_moves"):
        if not isinstance(spec.get(key, False), bool):
            raise RulesError(f"{where}.{key}: expected true or false")
    bad = set(spec.get("ward_known_for") or []) - set(by_name[spec["comparison"]].level_ids()) \
        if spec.get("comparison") in by_name else set()
    if bad:
        raise RulesError(f"{where}.ward_known_for: level(s) {sorted(bad)} not in {spec['comparison']}")
    slip = spec.get("unless_slip", 0)
    if isinstance(slip, bool) or not isinstance(slip, int) or not 0 <= slip <= 3:
        raise RulesError(f"{where}.unless_slip: expected a number of edits from 0 to 3")
    for key in ("shows",):
        if key in spec and not isinstance(spec[key], str):
            raise RulesError(f"{where}.{key}: expected a column name")
    if not isinstance(spec.get("truth_scenarios", []), list):
        raise RulesError(f"{where}.truth_scenarios: expected a list of truth labels")
