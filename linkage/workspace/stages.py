"""Which of the workspace's stored stages a rules change invalidates, from one hash per stage:

- `prepare`: everything normalisation reads (names, places, dates, fields, sources, text, ref) and
  whether rules use place text: a change re-normalises every stored record and rebuilds the
  candidate set;
- `candidates`: matching.yaml's blocking rules and comparisons: a change rebuilds the candidate
  set (blocking and comparison) from the stored prepared records;
- anything else (scoring thresholds, flags, explanation, strings, review, quality, this config)
  only needs rescoring, which every night does anyway (the desk's, dedupe's, relatives' and the
  audit's settings: not even that).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from linkage.rules import NOT_RULES, NOT_RULES_DIRS, rules_dir
from linkage.settings import Settings

# What the prepare stage stores changes with the code too (new prepared columns, such as a
# record's date for the current state): bump this when it does, so a workspace built by an older
# version prepares its stored records again instead of mixing old and new rows.
PREPARED_VERSION = 3  # 3: identifying marks (marks_keys, marks_text)

# Files under rules/ that normalisation never reads (the desk's, dedupe's, relatives' and the
# audit's settings among them: editing them must not re-normalise the register, and the desk
# reuses a stored row only while this hash is the night's).
NOT_PREPARE = {"matching.yaml", "quality.yaml", "review.yaml", "nightly.yaml", "screen.yaml", "dedupe.yaml",
               "relatives.yaml", "enrich.yaml"}
NOT_PREPARE_DIRS = {"strings", "examples"}


def _files_hash(root: Path, skip_names: set[str], skip_dirs: set[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (p.is_file() and "__pycache__" not in rel.parts and p.name not in skip_names | NOT_RULES
                and not (rel.parts and rel.parts[0] in skip_dirs | NOT_RULES_DIRS)):
            h.update(str(rel).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def stage_hashes(rules: Path | None, settings: Settings, place_text: bool) -> dict[str, str]:
    """One hash per stored stage (see the module's docstring)."""
    root = rules_dir(rules)
    prepare = _files_hash(root, NOT_PREPARE, NOT_PREPARE_DIRS) + f"|place_text={place_text}|v{PREPARED_VERSION}"
    data = yaml.safe_load(Path(settings.path).read_text(encoding="utf-8")) or {}
    matching = json.dumps({k: data.get(k) for k in ("blocking", "comparisons")}, sort_keys=True, default=str)
    return {"prepare": hashlib.sha256(prepare.encode()).hexdigest(),
            "candidates": hashlib.sha256((prepare + matching).encode()).hexdigest()}


def stages_to_redo(stored: dict[str, str] | None, now: dict[str, str]) -> list[str]:
    """The stored stages whose rules changed ('prepare' implies 'candidates')."""
    if not stored:
        return []
    return [s for s in ("prepare", "candidates") if stored.get(s) != now[s]]
