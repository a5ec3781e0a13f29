"""Training warnings in plain words: the model file stores one terse line per event; the report
groups them by kind into one summary line and lists the detail under it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind -> pattern of the line linkage.train writes (see train.py); "what" names the comparison or level.
PATTERNS: dict[str, re.Pattern[str]] = {
    "m_below_u": re.compile(r"^(?P<what>[\w.]+): EM gave m=(?P<m>[\d.e+-]+) below u=(?P<u>[\d.e+-]+) on an agreeing level"),
    "no_pairs_level": re.compile(r"^(?P<what>[\w.]+): no training pair at this level"),
    "no_random_pair": re.compile(r"^(?P<what>[\w.]+): no random pair had both values"),
    "session_skipped": re.compile(r"^EM session '(?P<what>[^']+)': only (?P<n>\d+) pairs; skipped"),
    "no_em": re.compile(r"^(?P<what>[\w.]+): no EM session estimated m"),
}


@dataclass(frozen=True)
class Note:
    kind: str  # a key of PATTERNS, or "other" (shown as written)
    what: str
    m: float | None = None
    u: float | None = None
    n: int | None = None
    text: str = ""


def classify(line: str) -> Note:
    """One warning line as a Note; an unknown line keeps its text under "other"."""
    for kind, pat in PATTERNS.items():
        hit = pat.match(line)
        if hit:
            g = hit.groupdict()
            return Note(kind, g["what"], float(g["m"]) if g.get("m") else None,
                        float(g["u"]) if g.get("u") else None, int(g["n"]) if g.get("n") else None, line)
    return Note("other", "", text=line)


def group(lines: list[str]) -> dict[str, list[Note]]:
    """Notes by kind, kinds in a fixed order (the PATTERNS order, then other)."""
    notes = [classify(x) for x in lines]
    order = [*PATTERNS, "other"]
    return {k: [n for n in notes if n.kind == k] for k in order if any(n.kind == k for n in notes)}
