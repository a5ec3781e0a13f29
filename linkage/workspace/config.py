"""rules/nightly.yaml (or --config FILE): drift limits and what makes an alert, validated at load."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from linkage.errors import RulesError
from linkage.rules import rules_dir

CONFIG = "nightly.yaml"


@dataclass
class NightlyConfig:
    path: str = ""
    drift_window: int = 7
    drift_share: float = 0.05
    drift_probability: float = 0.05
    danger_levels: list[str] = field(default_factory=lambda: ["đặc biệt nguy hiểm", "nguy hiểm"])
    exact_id_rules: list[str] = field(default_factory=lambda: ["personal_id", "cmnd"])
    # DuckDB's memory limit for a night that only screens changes (a first night or a rebuild
    # keeps matching.yaml's engine.memory_limit): a night touches little, so the buffer pool
    # need not hold the whole register.
    memory_limit: str = "1GB"


def _number(path: Path, data: dict, section: str, key: str, default: float) -> float:
    value = (data.get(section) or {}).get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise RulesError(f"{path}: {section}.{key} must be a non-negative number (got {value!r})")
    return float(value)


def load_config(config: Path | None, rules: Path | None) -> NightlyConfig:
    """The given file, else nightly.yaml in the rules directory, else the defaults."""
    path = Path(config) if config else rules_dir(rules) / CONFIG
    if not path.is_file():
        if config:
            raise RulesError(f"{path}: nightly config file not found")
        return NightlyConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    alerts = data.get("alerts") or {}
    levels = alerts.get("danger_levels", NightlyConfig().danger_levels)
    exact = alerts.get("exact_id_rules", NightlyConfig().exact_id_rules)
    for key, value in (("danger_levels", levels), ("exact_id_rules", exact)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RulesError(f"{path}: alerts.{key} must be a list of strings")
    return NightlyConfig(
        path=str(path),
        drift_window=int(_number(path, data, "drift", "window", 7)),
        drift_share=_number(path, data, "drift", "share_with_candidate", 0.05),
        drift_probability=_number(path, data, "drift", "mean_probability", 0.05),
        danger_levels=[unicodedata.normalize("NFC", v).strip().lower() for v in levels],
        exact_id_rules=list(exact),
        memory_limit=_memory(path, data),
    )


def _memory(path: Path, data: dict) -> str:
    value = (data.get("night") or {}).get("memory_limit", NightlyConfig().memory_limit)
    if not isinstance(value, str) or not re.fullmatch(r"\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value):
        raise RulesError(f"{path}: night.memory_limit must be a size such as \"1GB\" (got {value!r})")
    return value.strip()
