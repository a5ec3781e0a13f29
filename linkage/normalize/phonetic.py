"""A Vietnamese phonetic key for blocking: names that sound alike in some region get the same key.

The key is built on the ASCII fold (tones, vowel marks and đ already merged) and then applies the
ordered rewrite rules of rules/names/phonetic.yaml to each word: d/gi/r/v, s/x, ch/tr, l/n,
k/c/q, ph/f, ngh/ng, gh/g, i/y, final n/ng and c/t, minority prefixes H'/K' dropped, and a
leading Y/A/Ka prefix word dropped from a name. Each rule
there carries its justification; bench/bench_phonetic_blocks.py measures how much each enlarges
blocks. The key is for finding candidates only, never for scoring them as equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from linkage.errors import RulesError
from linkage.normalize.text import fold_ascii, rules_key
from linkage.rules import load_yaml


@dataclass(frozen=True)
class PhoneticRule:
    name: str
    pattern: re.Pattern[str]
    replace: str
    why: str


@lru_cache(maxsize=8)
def drop_leading_words(key: str) -> frozenset[str]:
    """Folded first words left out of a name's key (gender prefixes such as Y in "Y Bih Niê")."""
    words = load_yaml("names/phonetic.yaml", key).get("drop_leading_words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise RulesError(f"{Path(key) / 'names/phonetic.yaml'}: drop_leading_words must be a list of words")
    return frozenset(w.lower() for w in words)


@lru_cache(maxsize=8)
def _load(key: str) -> tuple[PhoneticRule, ...]:
    path = Path(key) / "names/phonetic.yaml"
    data = load_yaml("names/phonetic.yaml", key)
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise RulesError(f"{path}: expected a non-empty list under 'rules'")
    out = []
    for i, r in enumerate(rules, 1):
        if not isinstance(r, dict) or not {"name", "pattern", "replace", "why"} <= r.keys():
            raise RulesError(f"{path}: rule {i} needs name, pattern, replace and why")
        try:
            pat = re.compile(str(r["pattern"]))
        except re.error as exc:
            raise RulesError(f"{path}: rule {i} ({r['name']}): bad pattern: {exc}") from None
        out.append(PhoneticRule(str(r["name"]), pat, str(r["replace"] or ""), str(r["why"])))
    return tuple(out)


def phonetic_rules(rules: str | Path | None = None) -> tuple[PhoneticRule, ...]:
    """The ordered rewrite rules (for documentation and the block-size benchmark)."""
    return _load(rules_key(rules))


@lru_cache(maxsize=200_000)
def _phonetic_word(folded_word: str, key: str, skip: str = "") -> str:
    w = folded_word
    for rule in _load(key):
        if rule.name != skip:
            w = rule.pattern.sub(rule.replace, w)
    return w


def phonetic_words(folded: str, *, rules: str | Path | None = None, skip: str = "") -> str:
    """The key of an already ASCII-folded text (one key per word, space-joined); `skip` leaves one
    rule out (used by the benchmark to measure each rule)."""
    key = rules_key(rules)
    words = folded.split()
    if len(words) >= 2 and words[0] in drop_leading_words(key):
        words = words[1:]
    keys = (_phonetic_word(w, key, skip) for w in words)
    return " ".join(k for k in keys if k)


def phonetic_key(token_or_name: str, *, rules: str | Path | None = None) -> str:
    """Phonetic key of a word or a whole name: "Nguyễn Văn Trường" -> "nguien zan chuon"."""
    return phonetic_words(fold_ascii(token_or_name, rules=rules), rules=rules)
