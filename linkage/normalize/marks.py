"""Identifying marks (đặc điểm nhận dạng): free text on an ID card or a wanted notice, read into
marks a machine can compare.

"Sẹo chấm C 1cm dưới sau cánh mũi trái" becomes kind `seo`, landmark `canh_mui`, side `trai`,
directions `duoi+sau`, 1.0 cm, shape `chấm`. Two records then agree on a mark when they share
kind, landmark and side (the key), whatever the words, order or abbreviations. All vocabularies
live in rules/marks.yaml. Each DISTINCT text is read once (a register repeats few mark texts).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import RulesError
from linkage.rules import load_yaml, rules_dir

RULES_FILE = "marks.yaml"
SECTIONS = ("kinds", "shapes", "landmarks", "sides", "directions", "units_cm", "separators")


def fold(text: str) -> str:
    """Lower case without diacritics (đ -> d): how marks written without accents are matched."""
    t = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    return "".join(c for c in t if not unicodedata.combining(c))


@dataclass(frozen=True)
class Mark:
    kind: str
    landmark: str = ""
    side: str = ""
    directions: tuple[str, ...] = ()
    distance_cm: float | None = None
    shapes: tuple[str, ...] = ()

    @property
    def key(self) -> str | None:
        """What two records must share to show the same mark; None when the place is unknown."""
        return f"{self.kind}|{self.landmark}|{self.side or '?'}" if self.landmark else None

    @property
    def detail(self) -> str:
        dist = "" if self.distance_cm is None else f"{self.distance_cm:g}"
        return "|".join((self.kind, self.landmark, self.side, "+".join(self.directions), dist, "+".join(self.shapes)))


@dataclass(frozen=True)
class _Vocab:
    """The rules compiled for one writing mode (with diacritics, or folded)."""

    kinds: re.Pattern
    kind_of: dict[str, str]
    landmarks: re.Pattern
    landmark_of: dict[str, str]
    sides: re.Pattern
    side_of: dict[str, str]
    directions: re.Pattern
    direction_of: dict[str, str]
    shapes: re.Pattern
    distance: re.Pattern
    unit_cm: dict[str, float]
    half: str
    separators: re.Pattern


def _alternation(forms: list[str], period_at_end: bool = False) -> re.Pattern:
    """Whole-word alternatives, longest first (so "đuôi mắt" wins over "mắt"). With
    `period_at_end`, an abbreviation's period ("tr.") may be the full stop that ends the mark
    (a segment is read without it: "gò má tr." ends as "gò má tr")."""
    def one(f: str) -> str:
        if period_at_end and f.endswith(".") and len(f) > 1:
            return re.escape(f[:-1]) + r"(?:\.|$)"
        return re.escape(f)
    alts = "|".join(one(f) for f in sorted(set(forms), key=len, reverse=True))
    return re.compile(rf"(?<![\w.])(?:{alts})(?!\w)")


def _table(data: dict, section: str, path: Path, mode) -> dict[str, str]:
    table = data.get(section)
    if not isinstance(table, dict) or not table:
        raise RulesError(f"{path}: '{section}' must map each key to a list of written forms")
    out: dict[str, str] = {}
    for key, forms in table.items():
        if not isinstance(forms, list) or not all(isinstance(f, str) and f.strip() for f in forms):
            raise RulesError(f"{path}: {section}.{key}: expected a list of written forms")
        for f in forms:
            form = mode(f.strip())
            if out.get(form, key) != key:
                raise RulesError(f"{path}: {section}: form {f!r} belongs to both {out[form]} and {key}")
            out[form] = key
    return out


def _compile(data: dict, path: Path, mode) -> _Vocab:
    kinds = _table(data, "kinds", path, mode)
    landmarks = _table(data, "landmarks", path, mode)
    sides = _table(data, "sides", path, mode)
    directions = _table(data, "directions", path, mode)
    units = {mode(str(u)): float(v) for u, v in (data.get("units_cm") or {}).items()}
    if not units:
        raise RulesError(f"{path}: 'units_cm' must map each unit to its length in centimetres")
    unit_alt = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    half = mode("rưỡi")
    seps = [s.replace("\\n", "\n") for s in data.get("separators") or []]
    return _Vocab(
        kinds=_alternation(list(kinds)), kind_of=kinds,
        landmarks=_alternation(list(landmarks)), landmark_of=landmarks,
        sides=_alternation(list(sides), period_at_end=True), side_of=sides,
        directions=_alternation(list(directions)), direction_of=directions,
        shapes=_alternation([mode(s) for s in data.get("shapes") or []] or ["\x00"]),
        distance=re.compile(rf"(\d+(?:[.,]\d+)?)\s*({unit_alt})(?!\w)(\s*{re.escape(half)}(?!\w))?"),
        unit_cm=units, half=half,
        separators=re.compile("|".join(re.escape(s) for s in seps) or "\x00"),
    )


@lru_cache(maxsize=8)
def _vocabs(key: str) -> tuple[_Vocab, _Vocab]:
    path = Path(key) / RULES_FILE
    data = load_yaml(RULES_FILE, key)
    missing = [s for s in SECTIONS if s not in data]
    if missing:
        raise RulesError(f"{path}: missing section(s) {missing}")
    return _compile(data, path, lambda s: unicodedata.normalize("NFC", s.lower())), _compile(data, path, fold)


_COMMA = re.compile(r"(?<!\d),|,(?!\d)")  # a decimal comma ("1,5cm") stays
_PUNCT = re.compile(r"[:()\[\]\"'“”]")
_BLANKS = re.compile(r"[ \t\r\f\v\u00a0]+")


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFC", text).lower()
    t = _PUNCT.sub(" ", _COMMA.sub(" ", t))
    return _BLANKS.sub(" ", t).strip()


def _read_one(segment: str, prefix: str, v: _Vocab) -> Mark | None:
    """One mark from a segment that starts with a kind word; the text before the first kind of a
    piece ("Trán có sẹo ...") is where the place is looked for when the segment names none."""
    m = v.kinds.match(segment)
    if m is None:
        return None
    kind = v.kind_of[m.group(0)]
    body = segment[m.end():]
    dist = None
    d = v.distance.search(body)
    if d:
        dist = float(d.group(1).replace(",", ".")) * v.unit_cm[d.group(2)] + (0.5 * v.unit_cm[d.group(2)] if d.group(3) else 0)
        body = body[:d.start()] + " " + body[d.end():]
    where = body
    lm = v.landmarks.search(where)
    if lm is None and prefix:
        where = prefix
        lm = v.landmarks.search(where)
    landmark = v.landmark_of[lm.group(0)] if lm else ""
    rest = (where[:lm.start()] + " " + where[lm.end():]) if lm else where
    if where is prefix:
        rest = body + " " + rest
    sides = [v.side_of.get(s) or v.side_of[s + "."] for s in v.sides.findall(rest)]  # "tr" = "tr." at the end
    dirs = sorted({v.direction_of[s] for s in v.directions.findall(rest)})
    shapes = tuple(dict.fromkeys(v.shapes.findall(body)))
    return Mark(kind, landmark, sides[-1] if sides else "", tuple(dirs), dist, shapes)


def read_marks(text: str, rules: str | Path | None = None) -> list[Mark]:
    """Every mark in one text, in the order written; words that name no kind are ignored."""
    return _read_marks(text, str(rules_dir(rules)))


def _read_marks(text: str, key: str) -> list[Mark]:
    """read_marks with the rules folder resolved (once per column, not once per text)."""
    t = _clean(text)
    if not t:
        return []
    exact, folded = _vocabs(key)
    v = folded if t.isascii() else exact
    if v is folded:
        t = fold(t)
    marks: list[Mark] = []
    for piece in v.separators.split(t.replace("\n", " \n ") if "\n" in t else t):
        marks.extend(_read_piece(piece.strip(), key, v is folded))
    return marks


@lru_cache(maxsize=1 << 16)
def _read_piece(piece: str, key: str, folded: bool) -> tuple[Mark, ...]:
    """The marks of one piece of a text (between separators). Cached: a register's texts are
    mostly distinct, their pieces are not (at 1M, 244k distinct texts of the cards; 20k of them
    hold 10k distinct pieces)."""
    v = _vocabs(key)[1 if folded else 0]
    starts = [m.start() for m in v.kinds.finditer(piece)]
    prefix = piece[:starts[0]] if starts else ""
    found = (_read_one(piece[a:b].strip(" ."), prefix if a == starts[0] else "", v)
             for a, b in zip(starts, starts[1:] + [len(piece)]))
    return tuple(m for m in found if m is not None)


def normalize_marks(values: pd.Series, rules: str | Path | None = None) -> pd.DataFrame:
    """Index-aligned columns: `marks_keys` (kind|landmark|side per mark whose place is known; side
    "?" when not written), `marks_detail` (every mark, with directions, distance and shape, for a
    reviewer) and `marks_n` (marks read; 0 for a text in which no mark could be read)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    key = str(rules_dir(rules))
    read = [_read_marks(u, key) if isinstance(u, str) else [] for u in uniques] + [[]]
    keys = np.empty(len(read), dtype=object)
    detail = np.empty(len(read), dtype=object)
    keys[:] = [sorted({m.key for m in ms if m.key}) for ms in read]
    detail[:] = [[m.detail for m in ms] for ms in read]
    n = np.array([len(ms) for ms in read], dtype=np.int64)
    codes = np.where(codes < 0, len(read) - 1, codes)
    has_text = (values.astype("string").str.strip().fillna("") != "").to_numpy()
    count = pd.array(n[codes], dtype="Int32")
    count[~has_text] = pd.NA
    return pd.DataFrame({
        "marks_keys": pd.Series([list(x) for x in keys[codes]], index=values.index, dtype=object),
        "marks_detail": pd.Series([list(x) for x in detail[codes]], index=values.index, dtype=object),
        "marks_n": count,
    }, index=values.index)
