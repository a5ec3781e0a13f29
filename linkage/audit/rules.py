"""rules/quality.yaml: the data-quality rules, validated at load so a steward's typo names the rule
and the key instead of failing half-way through an audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from linkage.errors import RulesError
from linkage.ingest.contract import COLUMNS, SOURCES
from linkage.rules import load_yaml

RULES_FILE = "quality.yaml"
DIMENSIONS = ("dung", "du", "sach", "song")
DIMENSION_NAMES = {"dung": "đúng (correct)", "du": "đủ (complete)", "sach": "sạch (clean)", "song": "sống (current)"}
SEVERITIES = ("error", "warning", "info")
_RULE_KEYS = {"id", "dimension", "check", "field", "fields", "sources", "severity", "description", "safe_fix", "enabled",
              "params"}
_REQUIRED_KEYS = ("id", "dimension", "check", "fields", "severity", "description", "safe_fix")


@dataclass(frozen=True)
class Rule:
    id: str
    dimension: str
    check: str
    fields: tuple[str, ...]  # expanded, every contract column of some source
    sources: tuple[str, ...]
    severity: str
    description: str
    safe_fix: bool
    params: dict[str, Any] = field(default_factory=dict)

    def fields_for(self, source: str) -> tuple[str, ...]:
        """The rule's fields that the source's contract has."""
        if source not in self.sources:
            return ()
        return tuple(f for f in self.fields if f in COLUMNS[source])


@dataclass(frozen=True)
class QualityRules:
    rules: tuple[Rule, ...]
    field_groups: dict[str, tuple[str, ...]]
    required: dict[str, tuple[str, ...]]
    placeholders: frozenset[str]  # folded
    vocabularies: dict[str, dict[str, tuple[str, ...]]]  # name -> key -> folded spellings
    reference_date: date | None
    examples_per_rule: int
    path: Path

    def by_id(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def for_source(self, source: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if source in r.sources)

    def group(self, name: str) -> tuple[str, ...]:
        return self.field_groups.get(name, ())


def load_quality_rules(rules: str | Path | None = None, checks: dict[str, Any] | None = None) -> QualityRules:
    """Read and validate rules/quality.yaml. `checks` (name -> check) lets the loader refuse a rule
    whose check family does not exist."""
    from linkage.rules import rules_dir

    path = rules_dir(rules) / RULES_FILE
    data = load_yaml(RULES_FILE, rules)
    where = f"{path}"
    all_columns = {c for s in SOURCES for c in COLUMNS[s]}

    groups_raw = data.get("field_groups") or {}
    if not isinstance(groups_raw, dict):
        raise RulesError(f"{where}: field_groups must be a mapping")
    groups: dict[str, tuple[str, ...]] = {}
    for name, cols in groups_raw.items():
        groups[str(name)] = _columns(cols, all_columns, f"{where}: field_groups.{name}")

    required = {}
    req_raw = data.get("required") or {}
    if not isinstance(req_raw, dict):
        raise RulesError(f"{where}: required must be a mapping source -> fields")
    for source, cols in req_raw.items():
        if source not in SOURCES:
            raise RulesError(f"{where}: required.{source}: unknown source (known: {', '.join(SOURCES)})")
        required[source] = _columns(cols, set(COLUMNS[source]), f"{where}: required.{source}")

    placeholders = frozenset(_fold_list(data.get("placeholders") or [], f"{where}: placeholders"))
    vocabularies = {}
    for name, entries in (data.get("vocabularies") or {}).items():
        if not isinstance(entries, dict) or not entries:
            raise RulesError(f"{where}: vocabularies.{name} must map a key to its spellings")
        vocabularies[str(name)] = {str(k): tuple(_fold_list(v, f"{where}: vocabularies.{name}.{k}"))
                                   for k, v in entries.items()}

    ref = data.get("reference_date")
    if ref is not None and not isinstance(ref, date):
        try:
            ref = date.fromisoformat(str(ref))
        except ValueError:
            raise RulesError(f"{where}: reference_date must be null or YYYY-MM-DD, got {ref!r}") from None
    examples = data.get("examples_per_rule", 5)
    if not isinstance(examples, int) or examples < 0:
        raise RulesError(f"{where}: examples_per_rule must be a non-negative integer")

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{where}: 'rules' must be a non-empty list")
    parsed: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule = _rule(raw, i, where, groups, all_columns, checks, vocabularies)
        if rule.id in seen:
            raise RulesError(f"{where}: rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        if raw.get("enabled", True):
            parsed.append(rule)
    return QualityRules(tuple(parsed), groups, required, placeholders, vocabularies, ref, examples, path)


def _rule(raw: Any, i: int, where: str, groups: dict[str, tuple[str, ...]], all_columns: set[str],
          checks: dict[str, Any] | None, vocabularies: dict) -> Rule:
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: rules[{i}] must be a mapping")
    rid = raw.get("id", f"rules[{i}]")
    at = f"{where}: rule {rid}"
    if "field" in raw:  # one field: `field: gender` is `fields: [gender]`
        if "fields" in raw:
            raise RulesError(f"{at}: give either field or fields, not both")
        raw = {**{k: v for k, v in raw.items() if k != "field"}, "fields": [raw["field"]]}
    missing = [k for k in _REQUIRED_KEYS if k not in raw]
    if missing:
        raise RulesError(f"{at}: missing key(s) {', '.join(missing)}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RulesError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
    if raw["dimension"] not in DIMENSIONS:
        raise RulesError(f"{at}: dimension must be one of {', '.join(DIMENSIONS)}, got {raw['dimension']!r}")
    if raw["severity"] not in SEVERITIES:
        raise RulesError(f"{at}: severity must be one of {', '.join(SEVERITIES)}, got {raw['severity']!r}")
    if not isinstance(raw["safe_fix"], bool):
        raise RulesError(f"{at}: safe_fix must be true or false")
    if checks is not None and raw["check"] not in checks:
        raise RulesError(f"{at}: unknown check {raw['check']!r} (known: {', '.join(sorted(checks))})")
    fields: list[str] = []
    for f in raw["fields"] or []:
        if isinstance(f, str) and f.startswith("@"):
            if f[1:] not in groups:
                raise RulesError(f"{at}: unknown field group {f!r}")
            fields.extend(groups[f[1:]])
        else:
            fields.extend(_columns([f], all_columns, at))
    sources = raw.get("sources") or list(SOURCES)
    bad = [s for s in sources if s not in SOURCES]
    if bad:
        raise RulesError(f"{at}: unknown source(s) {', '.join(map(str, bad))}")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise RulesError(f"{at}: params must be a mapping")
    voc = params.get("vocabulary")
    if voc is not None and voc not in vocabularies:
        raise RulesError(f"{at}: unknown vocabulary {voc!r}")
    return Rule(str(rid), raw["dimension"], raw["check"], tuple(dict.fromkeys(fields)), tuple(sources),
                raw["severity"], str(raw["description"]), raw["safe_fix"], dict(params))


def _columns(cols: Any, allowed: set[str], at: str) -> tuple[str, ...]:
    if not isinstance(cols, list):
        raise RulesError(f"{at}: expected a list of column names")
    bad = [c for c in cols if c not in allowed]
    if bad:
        raise RulesError(f"{at}: unknown column(s) {', '.join(map(str, bad))}")
    return tuple(cols)


def _fold_list(values: Any, at: str) -> list[str]:
    from linkage.audit.values import fold_words

    if not isinstance(values, list):
        raise RulesError(f"{at}: expected a list")
    return fold_words([str(v) for v in values])
