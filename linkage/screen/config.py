"""rules/screen.yaml: the desk's limits and alert levels, checked at load (a typo is a RulesError
naming the file and key, not a silent default)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir
from linkage.settings import Settings

CONFIG = "screen.yaml"


@dataclass(frozen=True)
class ScreenConfig:
    threshold: float
    max_records: int = 100
    max_body_bytes: int = 262_144
    reload_check_seconds: float = 2.0
    cli_chunk_records: int = 2000
    batch_records: int = 100
    alert_danger_levels: tuple[str, ...] = field(default=("đặc biệt nguy hiểm",))
    register_persons: int = 100_000_000
    prewarm_columns: tuple[str, ...] = ()
    reuse_stored_rows: bool = True
    path: str = ""


def _number(data: dict, key: str, default: float, path: Path, kind: type, low: float) -> float:
    value = data.get(key, default)
    if value is None:
        value = default
    try:
        got = kind(value)
    except (TypeError, ValueError):
        raise RulesError(f"{path}: {key}: expected a number, got {value!r}") from None
    if got < low:
        raise RulesError(f"{path}: {key}: must be at least {low}, got {value!r}")
    return got


def load_screen_config(settings: Settings, rules: Path | None = None) -> ScreenConfig:
    """screen.yaml in the rules directory, else the defaults (threshold = scoring.threshold)."""
    path = rules_dir(rules) / CONFIG
    data = load_yaml(CONFIG, rules) if path.is_file() else {}
    known = {"threshold", "max_records", "max_body_bytes", "reload_check_seconds", "cli_chunk_records",
             "alert_danger_levels", "batch_records", "register_persons", "prewarm_columns",
             "reuse_stored_rows"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RulesError(f"{path}: unknown key(s) {unknown} (known: {sorted(known)})")
    threshold = data.get("threshold")
    threshold = settings.threshold if threshold is None else _number(data, "threshold", 0, path, float, 0.0)
    if threshold > 1:
        raise RulesError(f"{path}: threshold: a probability between 0 and 1, got {threshold}")
    levels = data.get("alert_danger_levels", list(ScreenConfig.__dataclass_fields__["alert_danger_levels"].default))
    if not isinstance(levels, list) or not all(isinstance(v, str) for v in levels):
        raise RulesError(f"{path}: alert_danger_levels: expected a list of strings")
    prewarm = data.get("prewarm_columns") or []
    if not isinstance(prewarm, list) or not all(isinstance(v, str) for v in prewarm):
        raise RulesError(f"{path}: prewarm_columns: expected a list of column names")
    reuse = data.get("reuse_stored_rows", True)
    if not isinstance(reuse, bool):
        raise RulesError(f"{path}: reuse_stored_rows: expected true or false, got {reuse!r}")
    return ScreenConfig(
        threshold=float(threshold),
        max_records=int(_number(data, "max_records", 100, path, int, 1)),
        max_body_bytes=int(_number(data, "max_body_bytes", 262_144, path, int, 1024)),
        reload_check_seconds=float(_number(data, "reload_check_seconds", 2.0, path, float, 0.0)),
        cli_chunk_records=int(_number(data, "cli_chunk_records", 2000, path, int, 1)),
        batch_records=int(_number(data, "batch_records", 100, path, int, 1)),
        register_persons=int(_number(data, "register_persons", 100_000_000, path, int, 1)),
        alert_danger_levels=tuple(unicodedata.normalize("NFC", v).strip().lower() for v in levels),
        prewarm_columns=tuple(prewarm),
        reuse_stored_rows=reuse,
        path=str(path) if path.is_file() else "",
    )
