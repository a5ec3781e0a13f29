"""Small pure functions that damage Vietnamese text the way real data entry does.

Used on the (small) wanted list only, one string at a time; the randomness comes in as
arguments so each function is deterministic and testable.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from linkage.rules import read_ref_csv

TONES = {"\u0301": ("s", "1"), "\u0300": ("f", "2"), "\u0309": ("r", "3"), "\u0303": ("x", "4"), "\u0323": ("j", "5")}
MODS = {  # (base, combining mark) -> (telex, vni)
    ("a", "\u0302"): ("aa", "a6"), ("e", "\u0302"): ("ee", "e6"), ("o", "\u0302"): ("oo", "o6"),
    ("a", "\u0306"): ("aw", "a8"), ("o", "\u031b"): ("ow", "o7"), ("u", "\u031b"): ("uw", "u7"),
}


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def fold(s: str) -> str:
    """Without any Vietnamese mark: Nguyễn Đức -> Nguyen Duc."""
    d = unicodedata.normalize("NFD", s).replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in d if not unicodedata.combining(c))


def has_marks(s: str) -> bool:
    return fold(s) != s


@lru_cache(maxsize=1)
def _tone_pairs() -> tuple[dict[str, str], dict[str, str]]:
    t = read_ref_csv("ref/text/tone_placement_variants.csv", columns=("old_style_traditional", "new_style_modern"))
    old_to_new = dict(zip(t.old_style_traditional, t.new_style_modern))
    return old_to_new, {v: k for k, v in old_to_new.items()}


def tone_flip(s: str) -> str:
    """Move tone marks of open oa/oe/uy syllables to the other style: hòa <-> hoà, thúy <-> thuý."""
    o2n, n2o = _tone_pairs()
    words = s.split(" ")
    for i, w in enumerate(words):
        tail = w[-2:]
        if len(w) >= 2 and not (len(w) >= 3 and w[-3] in "qQ"):
            if tail in o2n:
                words[i] = w[:-2] + o2n[tail]
            elif tail in n2o:
                words[i] = w[:-2] + n2o[tail]
    return " ".join(words)


def _keys(word: str, vni: bool) -> str:
    """Raw keystrokes of one word typed with the input method switched off:
    Telex puts the tone key at the end (Nguyeenx), VNI right after the vowel (Nguye64n)."""
    out, tone = [], ""
    for ch in word:
        if ch in "đĐ":
            out.append(("D" if ch == "Đ" else "d") + ("9" if vni else "d"))
            continue
        d = unicodedata.normalize("NFD", ch)
        base, piece, t = d[0], d[0], ""
        for m in d[1:]:
            if m in TONES:
                t = TONES[m][1 if vni else 0]
            elif (base.lower(), m) in MODS:
                piece = base + MODS[(base.lower(), m)][1 if vni else 0][1:]
        if vni:
            piece += t
        elif t:
            tone = t
        out.append(piece)
    return "".join(out) + ("" if vni else tone)


def keystrokes(s: str, vni: bool, whole: bool, pick: float) -> str:
    """Telex (`vni` False) or VNI keystrokes for the whole string or for one marked word."""
    words = s.split(" ")
    marked = [i for i, w in enumerate(words) if has_marks(w)]
    if not marked:
        return s
    targets = marked if whole else [marked[min(int(pick * len(marked)), len(marked) - 1)]]
    for i in targets:
        words[i] = _keys(unicodedata.normalize("NFC", words[i]), vni)
    return " ".join(words)


def _letters(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if c.isalpha()]


def typo(s: str, kind: str, u1: float, u2: float) -> str:
    """One slip: drop / swap / double a letter, or a wrong vowel mark or tone ("mark")."""
    s = nfc(s)
    pos = _letters(s)
    if not pos:
        return s
    if kind == "mark":
        vow = [i for i in pos if fold(s[i]).lower() in "aeiouy" and s[i] != fold(s[i])]
        if vow:
            i = vow[min(int(u1 * len(vow)), len(vow) - 1)]
            d = unicodedata.normalize("NFD", s[i])
            tones = [m for m in d[1:] if m in TONES]
            rest = "".join(m for m in d[1:] if m not in TONES)
            if tones and u2 < 0.6:  # another tone (hỏi/ngã and sắc/nặng are classic confusions)
                choices = [t for t in TONES if t != tones[0]]
                new = d[0] + rest + choices[min(int(u2 / 0.6 * len(choices)), len(choices) - 1)]
            elif rest:  # drop the hat/horn/breve: ư -> u, ơ -> o, â -> a
                new = d[0] + "".join(tones)
            else:
                new = d[0] + rest
            out = s[:i] + nfc(new) + s[i + 1:]
            if out != s:
                return out
        kind = "drop"
    inner = pos[1:] if len(pos) > 1 else pos
    i = inner[min(int(u1 * len(inner)), len(inner) - 1)]
    if kind == "swap":
        j = i + 1 if i + 1 < len(s) and s[i + 1].isalpha() else i - 1
        if j >= 0 and s[j].isalpha() and s[j] != s[i]:
            a, b = sorted((i, j))
            return s[:a] + s[b] + s[a] + s[b + 1:]
        kind = "drop"
    if kind == "double":
        return s[:i + 1] + s[i] + s[i + 1:]
    out = s[:i] + s[i + 1:]
    return out if out.strip() else s


def case_spacing(s: str, kind: str, u: float) -> str:
    if kind == "upper":
        return s.upper()
    if kind == "lower":
        return s.lower()
    if kind == "apostrophe_space" and "'" in s:
        return s.replace("' ", "'") if "' " in s else s.replace("'", "' ")
    if kind == "edge_space":
        return ("  " + s) if u < 0.5 else (s + " ")
    spaces = [i for i, c in enumerate(s) if c == " "]
    if not spaces:
        return s + " "
    i = spaces[min(int(u * len(spaces)), len(spaces) - 1)]
    return s[:i] + "  " + s[i + 1:]
