"""Map a file's headers onto the input contract through `rules/sources.yaml`."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from linkage.errors import RulesError
from linkage.ingest.contract import COLUMNS, SOURCES
from linkage.rules import load_yaml, rules_dir

RULES_FILE = "sources.yaml"
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def header_key(header: str) -> str:
    """Compare headers without case, diacritics, spacing or punctuation: "Họ và tên" == "HO_VA_TEN"."""
    s = unicodedata.normalize("NFKD", str(header)).replace("đ", "d").replace("Đ", "D")
    s = "".join(c for c in s if not unicodedata.combining(c)).casefold()
    return _NOT_ALNUM.sub("", s)


@dataclass(frozen=True)
class SourceMapping:
    """For one source: header key -> (canonical column, priority; 0 = the canonical name itself)."""

    source: str
    keys: dict[str, tuple[str, int]]
    accepted: dict[str, tuple[str, ...]]  # canonical -> headers as written in the rules (for messages)


def load_mappings(rules: str | Path | None = None) -> dict[str, SourceMapping]:
    """Load and validate the mapping: unknown source or column, or one header listed for two
    columns, is a RulesError naming the file and key."""
    return _load(str(rules_dir(rules)))


@lru_cache(maxsize=8)
def _load(rules: str) -> dict[str, SourceMapping]:
    path = Path(rules) / RULES_FILE
    data = load_yaml(RULES_FILE, rules)
    for source in data:
        if source not in SOURCES:
            raise RulesError(f"{path}: unknown source '{source}' (known: {', '.join(SOURCES)})")
    return {s: _source_mapping(path, s, data.get(s) or {}) for s in SOURCES}


def _source_mapping(path: Path, source: str, spec: object) -> SourceMapping:
    if not isinstance(spec, dict):
        raise RulesError(f"{path}: {source}: expected a mapping of column -> list of headers")
    keys: dict[str, tuple[str, int]] = {header_key(c): (c, 0) for c in COLUMNS[source]}
    accepted: dict[str, tuple[str, ...]] = {}
    for column, headers in spec.items():
        where = f"{path}: {source}.{column}"
        if column not in COLUMNS[source]:
            raise RulesError(f"{where}: unknown column for {source} (known: {', '.join(COLUMNS[source])})")
        if isinstance(headers, str):
            headers = [headers]
        if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
            raise RulesError(f"{where}: expected a list of header names")
        for priority, header in enumerate(headers, start=1):
            key = header_key(header)
            if not key:
                raise RulesError(f"{where}: header {header!r} has no letters or digits")
            owner = keys.get(key)
            if owner and owner[0] != column:
                raise RulesError(f"{where}: header {header!r} is already mapped to {source}.{owner[0]}")
            if owner is None:
                keys[key] = (column, priority)
        accepted[column] = tuple(headers)
    return SourceMapping(source, keys, accepted)


@dataclass
class HeaderMatch:
    """Which file column feeds each canonical column, and what was left out and why."""

    columns: dict[str, int] = field(default_factory=dict)  # canonical -> position in the file
    mapped: dict[str, str] = field(default_factory=dict)  # canonical -> header as found (when renamed)
    ignored: list[str] = field(default_factory=list)  # headers not loaded
    notes: list[str] = field(default_factory=list)


def match_headers(headers: list[str], mapping: SourceMapping) -> HeaderMatch:
    """Assign headers to canonical columns; the best priority wins, then the leftmost."""
    best: dict[str, tuple[int, int]] = {}  # canonical -> (priority, position)
    for pos, header in enumerate(headers):
        hit = mapping.keys.get(header_key(header))
        if hit is None:
            continue
        column, priority = hit
        if column not in best or (priority, pos) < best[column]:
            best[column] = (priority, pos)
    out = HeaderMatch()
    used = {pos for _, pos in best.values()}
    for column in COLUMNS[mapping.source]:
        if column in best:
            pos = best[column][1]
            out.columns[column] = pos
            if headers[pos] != column:
                out.mapped[column] = headers[pos]
    for pos, header in enumerate(headers):
        if pos in used:
            continue
        out.ignored.append(header)
        hit = mapping.keys.get(header_key(header))
        if hit is not None:
            won = out.columns[hit[0]]
            out.notes.append(f"column {pos + 1} {header!r} also maps to {hit[0]}: column {won + 1} "
                             f"{headers[won]!r} was loaded, column {pos + 1} ignored")
    return out
