"""rules/review.yaml, validated once at load: the store and the web app read numbers from here,
never from constants in code, and a bad value is reported with the file and the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir

REVIEW_RULES = "review.yaml"


@dataclass(frozen=True)
class LoginRules:
    max_failures: int = 5
    window_minutes: int = 15
    slow_seconds: float = 2.0
    password_min_length: int = 10


@dataclass(frozen=True)
class ReviewSettings:
    lease_minutes: float = 15.0
    two_person_danger_levels: tuple[str, ...] = ("đặc biệt nguy hiểm",)
    requeue_weight_bits: float = 3.0
    requeue_when_id_agrees: bool = True
    session_hours: float = 12.0
    login: LoginRules = LoginRules()


def _number(raw: dict[str, Any], key: str, where: str, path: Path, *, integer: bool = False, allow_zero: bool = False) -> Any:
    if key not in raw:
        raise RulesError(f"{path}: missing key {where}{key}")
    value = raw[key]
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < 0 or (value == 0 and not allow_zero):
        kind = "a positive integer" if integer else "a positive number"
        raise RulesError(f"{path}: key {where}{key}: expected {kind}, got {value!r}")
    return value


def load_review_settings(rules: str | Path | None = None) -> ReviewSettings:
    """Load and check rules/review.yaml (every key required, so a typo never falls back silently)."""
    path = rules_dir(rules) / REVIEW_RULES
    raw = load_yaml(REVIEW_RULES, rules)
    known = {"version", "lease_minutes", "two_person_danger_levels", "requeue_weight_bits",
             "requeue_when_id_agrees", "session_hours", "login"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RulesError(f"{path}: unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(known))})")
    levels = raw.get("two_person_danger_levels")
    if not isinstance(levels, list) or not all(isinstance(x, str) and x.strip() for x in levels):
        raise RulesError(f"{path}: key two_person_danger_levels: expected a list of danger levels (text), got {levels!r}")
    if not isinstance(raw.get("requeue_when_id_agrees"), bool):
        raise RulesError(f"{path}: key requeue_when_id_agrees: expected true or false, got {raw.get('requeue_when_id_agrees')!r}")
    login = raw.get("login")
    if not isinstance(login, dict):
        raise RulesError(f"{path}: key login: expected a mapping with max_failures, window_minutes, slow_seconds, password_min_length")
    unknown = sorted(set(login) - {"max_failures", "window_minutes", "slow_seconds", "password_min_length"})
    if unknown:
        raise RulesError(f"{path}: unknown key(s) login.{', login.'.join(unknown)}")
    return ReviewSettings(
        lease_minutes=float(_number(raw, "lease_minutes", "", path)),
        two_person_danger_levels=tuple(x.strip() for x in levels),
        requeue_weight_bits=float(_number(raw, "requeue_weight_bits", "", path, allow_zero=True)),
        requeue_when_id_agrees=raw["requeue_when_id_agrees"],
        session_hours=float(_number(raw, "session_hours", "", path)),
        login=LoginRules(
            max_failures=int(_number(login, "max_failures", "login.", path, integer=True)),
            window_minutes=int(_number(login, "window_minutes", "login.", path, integer=True)),
            slow_seconds=float(_number(login, "slow_seconds", "login.", path, allow_zero=True)),
            password_min_length=int(_number(login, "password_min_length", "login.", path, integer=True)),
        ),
    )
