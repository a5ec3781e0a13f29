"""Which distinct text values carry which "sạch" defect, and what the safe fixes make of them.

The fixes themselves are the normalisers' (linkage.normalize): repair_legacy_text, nfc_clean
(confusables, invisible characters, NFC, spacing) and canonical_tones. Calling them on millions of
distinct addresses would cost minutes, so cheap Arrow tests pick the values they could change
(a superset), and only those go through Python; the flags are then decided on what the fix
really did. The order is the order of `linkage clean`: legacy encoding, then nfc_clean, then the
tone style.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.values import regex_flags, token_any
from linkage.normalize.legacy import repair_legacy_text
from linkage.normalize.text import canonical_tones, is_syllable, load_rules, nfc_clean, repair_keystrokes

# Characters Windows-1252 can hold: a value with any other character is real Unicode, never
# mojibake (repair_legacy_text leaves it alone).
_CP1252_EXTRA = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_NOT_CP1252 = "[^\\x{00}-\\x{ff}" + _CP1252_EXTRA + "]"
# Latin-1 symbols that TCVN3 / VNI bytes show up as when read as Windows-1252 (never in a name
# or an address written in Unicode).
_MOJIBAKE_SYMBOLS = "[¡¢£¤¥¦§¨©«¬\\x{AD}®¯±²³´¶·¸¹»¼½¾¿]"


def _cls(codepoints: list[int]) -> str:
    """An RE2 character class for the code points (as ranges)."""
    ranges: list[list[int]] = []
    for c in sorted(set(codepoints)):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{body}]"


@lru_cache(maxsize=1)
def _whitespace() -> list[int]:
    return [c for c in range(0x3001) if chr(c).isspace()]


@lru_cache(maxsize=1)
def _invisible() -> list[int]:
    """Control and format characters that are not whitespace: nfc_clean drops them."""
    return [c for c in range(0x110000)
            if unicodedata.category(chr(c)) in ("Cc", "Cf") and not chr(c).isspace()]


@lru_cache(maxsize=8)
def _patterns(rules_key: str | None) -> tuple[str, str]:
    """(anything nfc_clean might change besides NFC, the spacing test)."""
    ws = _whitespace()
    odd_ws = [c for c in ws if c != 0x20]
    confusables = list(load_rules(rules_key).confusables)
    W = _cls(ws)
    changeable = _cls(confusables + _invisible() + odd_ws)
    spacing = f"^{W}|{W}$|{W}{W}|{_cls(odd_ws)}"
    return changeable + "|" + spacing, spacing


@dataclass
class TextScan:
    """Per distinct value: the defect flags and the value after the safe fixes."""

    values: np.ndarray
    legacy: np.ndarray
    confusable: np.ndarray
    not_nfc: np.ndarray
    spacing: np.ndarray
    tone: np.ndarray
    fixed: np.ndarray  # after legacy repair, nfc_clean and (if asked) the tone style
    keystroke: np.ndarray | None = None
    keystroke_fix: np.ndarray | None = None


def scan_text(values: np.ndarray, *, tones: bool = False, keystrokes: bool = False,
              rules: str | Path | None = None) -> TextScan:
    """Scan distinct non-null values (object array)."""
    values = np.asarray(values, dtype=object)
    n = len(values)
    key = None if rules is None else str(rules)
    anything, spacing_re = _patterns(key)

    # 1. legacy encoding: only non-ASCII values made of Windows-1252 characters can be mojibake.
    # A value the repair cannot read unambiguously is still reported when it holds the symbols
    # legacy bytes turn into (left unchanged: no safe fix). A repair that only does what the
    # confusable map does (Ð -> Đ) is left to that step.
    v1 = values.copy()
    legacy = np.zeros(n, dtype=bool)
    frozen = np.zeros(n, dtype=bool)
    if n:
        arr = pa.array(values, pa.string())
        ascii_ = np.asarray(pc.string_is_ascii(arr).to_numpy(zero_copy_only=False), dtype=bool)
        cand = np.flatnonzero(~ascii_ & ~regex_flags(values, _NOT_CP1252))
        symbols = regex_flags(values[cand], _MOJIBAKE_SYMBOLS) if len(cand) else np.zeros(0, dtype=bool)
        for i, sym in zip(cand, symbols):
            repaired = repair_legacy_text(values[i])
            if repaired != values[i] and nfc_clean(repaired, rules=rules) == nfc_clean(values[i], rules=rules):
                continue
            v1[i] = repaired
            legacy[i] = repaired != values[i] or bool(sym)
    # mojibake the repair could not read: any further "fix" (dropping a soft hyphen that is
    # really a letter) would destroy what a specialist could still decode
    frozen = legacy & (v1 == values)

    # 2. nfc_clean (confusables, invisible characters, NFC, spacing) on the values it could change
    fixed = v1.copy()
    not_nfc = np.zeros(n, dtype=bool)
    spacing = np.zeros(n, dtype=bool)
    confusable = np.zeros(n, dtype=bool)
    if n:
        a1 = pa.array(v1, pa.string())
        nfc_diff = np.asarray(pc.not_equal(pc.utf8_normalize(a1, form="NFC"), a1).to_numpy(zero_copy_only=False),
                              dtype=bool)
        need = np.flatnonzero((nfc_diff | regex_flags(v1, anything) | (v1 != values)) & ~frozen)
        for i in need:
            v = v1[i]
            nfc = unicodedata.normalize("NFC", v)
            spaced = " ".join(nfc.split())
            clean = nfc_clean(v, rules=rules)
            not_nfc[i] = nfc != v
            spacing[i] = spaced != nfc
            confusable[i] = clean != spaced
            fixed[i] = clean

    # 3. tone style, word by word (canonical_tones handles each word on its own)
    tone = np.zeros(n, dtype=bool)
    if tones and n:
        def retoned(tokens: np.ndarray) -> np.ndarray:
            non_ascii = ~np.asarray(pc.string_is_ascii(pa.array(tokens, pa.string())).to_numpy(
                zero_copy_only=False), dtype=bool)
            out = np.zeros(len(tokens), dtype=bool)
            for i in np.flatnonzero(non_ascii):
                out[i] = canonical_tones(tokens[i], rules=rules) != tokens[i]
            return out

        cand = token_any(fixed, retoned) & ~frozen
        for i in np.flatnonzero(cand):
            t = canonical_tones(fixed[i], rules=rules)
            tone[i] = t != fixed[i]
            fixed[i] = t

    scan = TextScan(values, legacy, confusable, not_nfc, spacing, tone, fixed)
    if keystrokes:
        scan.keystroke, scan.keystroke_fix = _keystrokes(fixed, rules)
    return scan


def _keystrokes(values: np.ndarray, rules: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Telex/VNI residues: only a value with an ASCII word that is not a syllable can hold one."""
    n = len(values)
    flag = np.zeros(n, dtype=bool)
    fix = np.full(n, None, dtype=object)

    def odd_ascii(tokens: np.ndarray) -> np.ndarray:
        arr = pa.array(tokens, pa.string())
        ascii_ = np.asarray(pc.string_is_ascii(arr).to_numpy(zero_copy_only=False), dtype=bool)
        alpha = regex_flags(tokens, "[A-Za-z]")
        out = np.zeros(len(tokens), dtype=bool)
        for i in np.flatnonzero(ascii_ & alpha):
            word = "".join(c for c in tokens[i] if c.isalnum())
            out[i] = bool(word) and not is_syllable(word, rules=rules)
        return out

    for i in np.flatnonzero(token_any(values, odd_ascii)):
        r = repair_keystrokes(values[i], rules=rules)
        if r != values[i]:
            flag[i] = True
            fix[i] = r
    return flag, fix


def unrepairable_mojibake(value: str) -> bool:
    """Windows-1252 text with legacy-mojibake symbols that repair_legacy_text cannot read."""
    if value.isascii() or repair_legacy_text(value) != value:
        return False
    try:
        value.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return bool(regex_flags(np.array([value], dtype=object), _MOJIBAKE_SYMBOLS)[0])


def safe_fix(value: str, *, tones: bool, rules: str | Path | None = None) -> str:
    """The safe fixes on one value, written plainly: the reference the scan must agree with."""
    if unrepairable_mojibake(value):
        return value
    v = nfc_clean(repair_legacy_text(value), rules=rules)
    return canonical_tones(v, rules=rules) if tones else v
