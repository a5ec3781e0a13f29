"""Where rules and reference tables live, how they are loaded, and their fingerprint.

Everything a steward or analyst may edit sits under `rules/`; code only reads it through here,
so a `--rules DIR` override reaches every stage.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from linkage.errors import RulesError

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
RULES_ENV = "LINKAGE_RULES"  # the rules directory when --rules is not given (an installed copy has no rules/ beside it)


def rules_dir(path: str | Path | None = None) -> Path:
    """The rules directory to use: the given one, or the project's."""
    if path is not None:
        d = Path(path)
    elif os.environ.get(RULES_ENV):
        d = Path(os.environ[RULES_ENV])
    else:
        d = DEFAULT_RULES_DIR
    if not d.is_dir():
        raise RulesError(
            f"rules directory not found: {d} (give --rules DIR or set {RULES_ENV}; "
            "the project's rules/ folder is the default in a source checkout)"
        )
    return d


def load_yaml(name: str, rules: str | Path | None = None) -> dict[str, Any]:
    """Load `rules/<name>` as a mapping; a syntax error names the file and line."""
    path = rules_dir(rules) / name
    if not path.is_file():
        raise RulesError(f"rules file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=64)
def _read_ref_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def read_ref_csv(relpath: str, rules: str | Path | None = None, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A reference table under `rules/` as strings (no NaN), checked for the columns the caller needs.

    Returns a copy so callers may modify it freely; the parse itself is cached.
    """
    path = rules_dir(rules) / relpath
    if not path.is_file():
        raise RulesError(f"reference table not found: {path}")
    df = _read_ref_csv(str(path))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RulesError(f"{path}: missing column(s) {', '.join(missing)}")
    return df.copy()


def read_ref_lines(relpath: str, rules: str | Path | None = None) -> list[str]:
    """A one-item-per-line reference list under `rules/` (blank lines and `#` comments skipped)."""
    path = rules_dir(rules) / relpath
    if not path.is_file():
        raise RulesError(f"reference list not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


# The project's saved model lives in the rules directory but is an output of training, not a
# rule: it is left out of the hash (a model records the hash of the rules it was trained with).
NOT_RULES = {"model.json"}
# Other rules packs kept under rules/ (e.g. rules/examples/febrl4) are not part of this pack.
NOT_RULES_DIRS = {"examples"}


def rules_hash(rules: str | Path | None = None) -> str:
    """SHA-256 over every file under the rules directory (path and content), so a model or run
    records exactly which rules produced it."""
    root = rules_dir(rules)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (
            p.is_file()
            and "__pycache__" not in rel.parts
            and p.name not in NOT_RULES
            and not (rel.parts and rel.parts[0] in NOT_RULES_DIRS)
        ):
            h.update(str(p.relative_to(root)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()
